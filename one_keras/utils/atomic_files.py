"""Files written beside their target and renamed over it.

Every file the tool writes goes through `replacing`: it is written to a
temporary in the target's folder and renamed over the target. A kill never
leaves half a file, and a symbolic link at the target is replaced, never
written through (a run's `log.csv` linked to a user's file leaves that
file alone).
"""

import contextlib
import os


@contextlib.contextmanager
def replacing(path, temporary=None):
    """Yields a temporary path beside `path`; renames it over `path` when
    the block ends without an error, and removes it otherwise.

    Whatever stands at the temporary's name first (a killed write's
    leftover, a link) is removed, so the write starts on a new file.

    Args:
        path: str. The file to write or replace.
        temporary: str or `None`. The temporary's path, in `path`'s
            folder; `None` is `path.tmp`. Writers that may run at once
            each pass their own.

    Yields:
        str. The temporary path to write (it does not exist).

    Example:
    ```python
    from one_keras.utils import atomic_files

    with atomic_files.replacing("runs/a/curves.png") as temporary:
        figure.savefig(temporary, format="png")
    ```
    """
    path = os.fspath(path)
    temporary = f"{path}.tmp" if temporary is None else os.fspath(temporary)
    remove(temporary)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        remove(temporary)


@contextlib.contextmanager
def open_replacing(path, mode="w", temporary=None, **open_kwargs):
    """Opens a new file that replaces `path` when the block ends (flushed
    and fsynced first); see `replacing`.

    Args:
        path: str. The file to write or replace.
        mode: str. `"w"` (text) or `"wb"`. Defaults to `"w"`.
        temporary: str or `None`. See `replacing`.
        **open_kwargs: passed to `open` (e.g. `newline=""`).

    Yields:
        The open file.
    """
    with replacing(path, temporary) as temporary:
        with open(temporary, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


def write_text(path, text, **open_kwargs):
    """Writes `text` to `path` through `open_replacing`.

    Args:
        path: str. The file to write or replace.
        text: str. Its whole content.
        **open_kwargs: passed to `open` (e.g. `newline=""`).
    """
    with open_replacing(path, "w", **open_kwargs) as handle:
        handle.write(text)


def remove(path):
    """Removes the file or link at `path`, if any."""
    try:
        os.remove(path)
    except FileNotFoundError:
        pass

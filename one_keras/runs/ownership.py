"""What a run directory owns: its manifest, and the folders a run may write
into.

A run marks its folder first: `one_keras_run.json` (the manifest,
`layout.MANIFEST_NAME`) says that the folder is a one_keras run and lists
every file and folder of the run's layout that the run wrote there, and
every export written into it (`RunDirectory.record_export_files`). The
tool trains into a folder only if it is absent, empty, or marked (`check`):
anything else is refused in one line, and so are `/`, a path inside another
run (its `backup/`, `tensorboard/`, any sub-folder but `workers/`) and a
folder that is a symbolic link. `--restart` and cleanups remove only what
the manifest lists (`owned_names`), and a listed folder only as far as it
holds what a run writes there.

A run of an older version has no manifest. Its folder is still its own when
its `config.json` holds a one_keras run's settings or its `report.json` a
finished run's report (`is_unmarked_run`); the next run there marks it,
listing the layout's files and folders then present.
"""

import os
import re

from one_keras.runs import layout as run_layout
from one_keras.runs import lock as run_lock
from one_keras.utils.json_files import read_json
from one_keras.utils.json_files import write_json


FORMAT = 1
# Left in a folder by a start that was killed before it marked the folder:
# the lock (and its temporaries), which do not make it anyone's.
_LOCK_FILES = re.compile(r"^(run\.lock|run\.lock\.\d+\.tmp|"
                         r"\.run\.lock\.guard)$")
# Settings every `config.json` of a one_keras run holds, whatever its
# version.
_RUN_SETTINGS = {"method", "dataset", "epochs", "output_dir", "seed"}


def manifest_path(folder):
    """The manifest's path in `folder`."""
    return os.path.join(folder, run_layout.MANIFEST_NAME)


def read_manifest(folder):
    """The manifest of `folder`, or `None` when it has none (or it is not
    one).

    Returns:
        A dict with `files`, a sorted list of names.
    """
    manifest = read_json(manifest_path(folder))
    if manifest is None or manifest.get("one_keras_run") != FORMAT or \
            not isinstance(manifest.get("files"), list):
        return None
    return manifest


def is_marked(folder):
    """Whether `folder` holds a run's manifest."""
    return read_manifest(folder) is not None


def is_unmarked_run(folder):
    """Whether `folder` holds a run of an older version (no manifest): its
    `config.json` holds a run's settings, or its `report.json` a finished
    run's report."""
    config = read_json(os.path.join(folder, run_layout.CONFIG_NAME))
    if config is not None and _RUN_SETTINGS <= config.keys():
        return True
    report = read_json(os.path.join(folder, run_layout.REPORT_NAME))
    return report is not None and {"config", "target_accuracy"} <= \
        report.keys()


def is_run(folder):
    """Whether `folder` is a one_keras run: marked, or of an older
    version."""
    return is_marked(folder) or is_unmarked_run(folder)


def mark(folder):
    """Marks `folder` as a run (nothing when it is marked): the manifest
    lists the layout's names present (those of a run of an older version).

    Args:
        folder: str. An existing folder that `check` accepted.
    """
    with run_lock.exclusive(folder):
        _mark(folder)


def _mark(folder):
    if is_marked(folder):
        return
    present = [name for name in _layout_names() + tuple(_deployables(
        folder)) if os.path.lexists(os.path.join(folder, name))]
    _write(folder, present)


def record(folder, names):
    """Adds `names` to the manifest of `folder` (marking it if need be),
    before the run writes them: a kill after a write never leaves a file
    that the manifest does not list.

    A training run and the exports into it may record at once: each
    reads, merges and replaces the manifest under the folder's exclusive
    lock (`one_keras.runs.lock.exclusive`), so no name is lost.

    Args:
        folder: str. The run's folder.
        names: iterable of str. File or folder names in it.
    """
    with run_lock.exclusive(folder):
        _mark(folder)
        listed = read_manifest(folder)["files"]
        names = [name for name in names if name not in listed]
        if names:
            _write(folder, listed + names)


def forget(folder, names):
    """Removes `names` (gone from `folder`) from its manifest.

    Args:
        folder: str. A marked run's folder.
        names: iterable of str.
    """
    names = set(names)
    with run_lock.exclusive(folder):
        listed = read_manifest(folder)["files"]
        if names & set(listed):
            _write(folder, [name for name in listed if name not in names])


def owned_names(folder):
    """The names the manifest of `folder` lists; for a run of an older
    version, the layout's names present."""
    manifest = read_manifest(folder)
    if manifest is not None:
        return [name for name in manifest["files"] if isinstance(name, str)
                and os.path.basename(name) == name and name not in
                ("", ".", "..")]
    if is_unmarked_run(folder):
        return [name for name in _layout_names() + tuple(_deployables(
            folder)) if os.path.lexists(os.path.join(folder, name))]
    return []


def unmark_if_unused(folder):
    """Removes the manifest of `folder` when it lists nothing and nothing
    else is there (a start that failed before it wrote a file).

    Returns:
        bool. Whether the folder is now as the run found it (empty).
    """
    manifest = read_manifest(folder)
    if manifest is None or manifest["files"]:
        return False
    others = [name for name in os.listdir(folder)
              if name != run_layout.MANIFEST_NAME
              and not _LOCK_FILES.match(name)]
    if others:
        return False
    os.remove(manifest_path(folder))
    return True


def check(path, name="output_dir"):
    """Raises unless a run may write into the folder `path`.

    It may when `path` is absent or empty, or is a one_keras run (marked,
    or of an older version), and it is not `/`, a symbolic link, or inside
    another run (but for that run's `workers/`).

    Args:
        path: str. The folder.
        name: str. The flag, for the message.

    Raises:
        ValueError: in one line naming the fix.
    """
    path = os.fspath(path)
    absolute = os.path.abspath(path)
    instead = f"Pass a new or empty --{name}."
    if absolute == os.path.abspath(os.sep):
        raise ValueError(f"`{name}` must not be the root folder /: a run "
                         f"writes its own folder. {instead} Received: "
                         f"{name}={path}")
    if os.path.islink(absolute.rstrip(os.sep)):
        raise ValueError(
            f"`{name}` must not be a symbolic link ({path} -> "
            f"{os.readlink(absolute)}): a run never writes through a link. "
            f"Pass the folder itself (--{name}={os.path.realpath(path)}). "
            f"Received: {name}={path}")
    outer = _enclosing_run(absolute)
    if outer:
        raise ValueError(
            f"`{name}` must not be inside another run: {path} is under the "
            f"run in {outer}, whose files it would mix with. {instead} "
            f"Received: {name}={path}")
    if not os.path.lexists(absolute):
        return
    if not os.path.isdir(absolute):
        raise ValueError(f"`{name}` must be a folder; {path} is a file. "
                         f"{instead} Received: {name}={path}")
    if is_run(absolute):
        _check_links(absolute, path, name)
        return
    # Under `multi_worker` a worker may write `workers/` before the chief
    # marks the folder.
    foreign = sorted(entry for entry in os.listdir(absolute)
                     if not _LOCK_FILES.match(entry)
                     and entry != run_layout.WORKERS_NAME)
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3
                                          else "")
        raise ValueError(
            f"`{name}` holds files that no one_keras run wrote ({shown}), "
            f"which a run would write over: it trains only into a new or "
            f"empty folder, or a run's own (marked by "
            f"{run_layout.MANIFEST_NAME}). {instead} Received: "
            f"{name}={path}")


def _check_links(folder, path, name):
    """Refuses a run whose own files or folders are symbolic links."""
    for entry in _layout_names() + (run_layout.MANIFEST_NAME,):
        target = os.path.join(folder, entry)
        if os.path.islink(target):
            raise ValueError(
                f"`{name}` holds {entry}, a symbolic link (-> "
                f"{os.readlink(target)}); a run never writes through a "
                f"link. Remove the link ({target}) or pass another "
                f"--{name}. Received: {name}={path}")


def _enclosing_run(path):
    """The run folder above `path` (not `path` itself), or `""`; a path
    under a run's `workers/` is that run's worker, not inside it."""
    parts = path.rstrip(os.sep).split(os.sep)
    for depth in range(len(parts) - 1, 0, -1):
        folder = os.sep.join(parts[:depth]) or os.sep
        inside = parts[depth]
        if os.path.isdir(folder) and (
                is_run(folder) or _is_run_folder(folder, inside)):
            if inside == run_layout.WORKERS_NAME and is_run(folder):
                return ""
            return folder
    return ""


def _is_run_folder(folder, inside):
    """Whether `inside` is one of a run's own folders in `folder` (its
    `backup/` or `tensorboard/`, by the run's other files)."""
    if inside not in (run_layout.BACKUP_NAME, run_layout.TENSORBOARD_NAME):
        return False
    others = [name for name in run_layout.RUN_FILES
              if os.path.lexists(os.path.join(folder, name))]
    return bool(others)


def _layout_names():
    """The files and folders a run writes, but its lock, its manifest and
    an export's report (an export lists it with its artifact; an older
    version's exports, unlisted, keep theirs)."""
    kept = (run_layout.LOCK_NAME, run_layout.MANIFEST_NAME,
            run_layout.EXPORT_REPORT_NAME)
    return tuple(name for name in run_layout.RUN_FILES if name not in kept
                 ) + (run_layout.BACKUP_NAME, run_layout.TENSORBOARD_NAME)


def _deployables(folder):
    """The deployables' files that the report in `folder` names."""
    report = read_json(os.path.join(folder, run_layout.REPORT_NAME)) or {}
    names = report.get("deployables", ())
    return [run_layout.deployable_file(name) for name in
            (names if isinstance(names, (list, dict)) else ())
            if isinstance(name, str) and os.path.basename(name) == name
            and name not in ("", ".", "..")]


def _write(folder, names):
    write_json(manifest_path(folder), {"one_keras_run": FORMAT,
                                       "files": sorted(set(names))})

"""Where a tool may write: `check_output_path` keeps every tool's output
off the files of a training run (`one_keras.runs.layout.RUN_FILES` in a run
directory, anything under its `RUN_FOLDERS`) and off files the tool did
not write. It touches nothing and imports no Keras.
"""

import os

from one_keras.runs import layout as run_layout


def check_output_path(path, replaceable, what, name="output", hint=""):
    """Raises unless `path` may take a tool's output; nothing is touched.

    `path` must be new, or hold what this tool wrote before (`replaceable`),
    and never be a file a training run writes: one of `layout.RUN_FILES` in
    a run directory (a folder holding `run.lock` or two of `RUN_FILES` and
    `RUN_FOLDERS`), or anything under its `RUN_FOLDERS` (`backup/`,
    `tensorboard/`, `workers/`).

    Args:
        path: str. The output path.
        replaceable: callable. `replaceable(path)` is true for an existing
            file (or folder) that this tool wrote and may replace.
        what: str. What the tool writes, for the message (e.g.
            `"tflite artifact"`).
        name: str. The flag or argument, quoted in the message.
        hint: str. Where to write instead, added to the message.

    Raises:
        ValueError: `path` is a run's file, or something the tool did not
            write, in one line naming the fix.
    """
    path = os.path.abspath(os.fspath(path))
    instead = f"Pass another --{name}{f' ({hint})' if hint else ''}."
    run_file = _run_file_of(path)
    if run_file:
        raise ValueError(
            f"`{name}` must not be a file a training run writes; {path!r} "
            f"is {run_file}, and is left alone. {instead} Received: "
            f"{name}={path}")
    if not os.path.lexists(path) or replaceable(path):
        return
    kind = "a directory" if os.path.isdir(path) else "a file"
    raise ValueError(
        f"`{name}` must be a new path or an existing {what} to replace; "
        f"{path!r} is {kind} that is not one, and is left alone. {instead} "
        f"Received: {name}={path}")


def _run_file_of(path):
    """What `path` is in a training run (e.g. "log.csv of the training run
    in /runs/a"), or `""`."""
    parts = path.split(os.sep)
    for depth in range(len(parts) - 1, 0, -1):
        folder, child = os.sep.join(parts[:depth]) or os.sep, parts[depth]
        is_last = depth == len(parts) - 1
        if (child in run_layout.RUN_FOLDERS or (
                is_last and child in run_layout.RUN_FILES)) and \
                _is_run_directory(folder, path):
            where = child if is_last else f"under {child}/"
            return f"{where} of the training run in {folder}"
    return ""


def _is_run_directory(folder, path):
    """Whether `folder` is a training run's: it holds `run.lock` or its
    manifest, or two of
    `RUN_FILES` and `RUN_FOLDERS` (one alone, e.g. a `config.json`, may be
    anyone's). `path` itself does not count."""
    found = [name for name in run_layout.RUN_FILES + run_layout.RUN_FOLDERS
             if os.path.join(folder, name) != path
             and os.path.lexists(os.path.join(folder, name))]
    return (run_layout.LOCK_NAME in found or run_layout.MANIFEST_NAME in
            found or len(found) >= 2)

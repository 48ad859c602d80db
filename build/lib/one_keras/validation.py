"""Argument checks that raise a `ValueError` naming the argument and the fix."""

import math
import os
import zipfile

import numpy as np

from one_keras.run_layout import LOCK_NAME
from one_keras.run_layout import RUN_FILES
from one_keras.run_layout import RUN_FOLDERS


def check_int_at_least(name, value, minimum):
    """Raises unless `value` is an integer >= `minimum`.

    Args:
        name: str. The argument's name, quoted in the message.
        value: The value to check.
        minimum: int. The smallest allowed value.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. "
                         f"Received: {name}={value!r}")


def check_finite(name, value):
    """Raises if `value` is a number that is NaN or infinite.

    An infinite temperature, learning rate or weight decay makes every loss
    NaN, which no other setting can fix.

    Args:
        name: str. The argument's name, quoted in the message.
        value: The value to check; non-numbers and `None` pass.
    """
    if isinstance(value, (int, float, np.number)) and \
            not isinstance(value, bool) and not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number (NaN and "
                         f"infinity make the loss NaN). "
                         f"Received: {name}={value!r}")


def check_positive(name, value):
    """Raises unless `value` is a finite number > 0.

    Args:
        name: str. The argument's name, quoted in the message.
        value: The value to check.
    """
    check_finite(name, value)
    if isinstance(value, bool) or not isinstance(
            value, (int, float, np.number)) or not value > 0:
        raise ValueError(f"`{name}` must be a number > 0. "
                         f"Received: {name}={value!r}")


def check_non_negative(name, value):
    """Raises unless `value` is a finite number >= 0.

    Args:
        name: str. The argument's name, quoted in the message.
        value: The value to check.
    """
    check_finite(name, value)
    if isinstance(value, bool) or not isinstance(
            value, (int, float, np.number)) or not value >= 0:
        raise ValueError(f"`{name}` must be a number >= 0. "
                         f"Received: {name}={value!r}")


def check_choice(name, value, choices):
    """Raises unless `value` is one of `choices`.

    Args:
        name: str. The argument's name, quoted in the message.
        value: The value to check.
        choices: sequence. The allowed values.
    """
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"`{name}` must be one of {allowed}. "
                         f"Received: {name}={value!r}")


def check_labels(labels, num_classes, name="y"):
    """Raises unless every label is an integer class index in range.

    Args:
        labels: array-like. Integer class labels, one per sample.
        num_classes: int. Number of classes; labels lie in
            `[0, num_classes)`.
        name: str. The argument's name, quoted in the message.
    """
    labels = np.asarray(labels)
    if labels.size == 0:
        return
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.equal(np.mod(labels, 1), 0)):
            raise ValueError(
                f"`{name}` must hold integer class labels in [0, "
                f"{num_classes - 1}] (not one-hot, not probabilities). "
                f"Received: dtype={labels.dtype}, shape={labels.shape}")
    low, high = labels.min(), labels.max()
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"`{name}` must hold class labels in [0, {num_classes - 1}] "
            f"for a model with {num_classes} classes. Received labels in "
            f"[{low}, {high}]")


def check_keras_file(path, name="model"):
    """Raises unless `path` is a whole `.keras` archive (a zip file).

    Keras reports a truncated or corrupt `.keras` file as "File not found";
    this names the real fault.

    Args:
        path: str. An existing file.
        name: str. The argument's name, quoted in the message.
    """
    if str(path).endswith(".keras") and not zipfile.is_zipfile(path):
        raise ValueError(
            f"`{name}` could not be read: {path!r} is not a whole `.keras` "
            "file (truncated or corrupt, not a zip archive). Use an intact "
            "copy, e.g. the run's checkpoint.keras, or train again.")


def check_output_path(path, replaceable, what, name="output", hint=""):
    """Raises unless `path` may take a tool's output; nothing is touched.

    `path` must be new, or hold what this tool wrote before (`replaceable`),
    and never be a file a training run writes: one of `RUN_FILES` in a run
    directory (a folder holding `run.lock` or two of `RUN_FILES` and
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
        if (child in RUN_FOLDERS or (is_last and child in RUN_FILES)) and \
                _is_run_directory(folder, path):
            where = child if is_last else f"under {child}/"
            return f"{where} of the training run in {folder}"
    return ""


def _is_run_directory(folder, path):
    """Whether `folder` is a training run's: it holds `run.lock`, or two of
    `RUN_FILES` and `RUN_FOLDERS` (one alone, e.g. a `config.json`, may be
    anyone's). `path` itself does not count."""
    found = [name for name in RUN_FILES + RUN_FOLDERS
             if os.path.join(folder, name) != path
             and os.path.lexists(os.path.join(folder, name))]
    return LOCK_NAME in found or len(found) >= 2

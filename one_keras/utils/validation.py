"""Argument checks that raise a `ValueError` naming the argument and the fix."""

import math
import zipfile

import numpy as np


def received(name, value):
    """The end of a refusal: `Received: name=value (of type T)`.

    Args:
        name: str. The argument's name.
        value: The value received.

    Returns:
        str.
    """
    return f"Received: {name}={value!r} (of type {type(value).__name__})"


def is_int(value):
    """Whether `value` is an integer (a Python or NumPy one), not a bool."""
    return isinstance(value, (int, np.integer)) and \
        not isinstance(value, (bool, np.bool_))


def is_number(value):
    """Whether `value` is a real number (int or float), not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and \
        not isinstance(value, (bool, np.bool_))


def check_int_at_least(name, value, minimum):
    """Raises unless `value` is an integer >= `minimum`.

    Args:
        name: str. The argument's name, quoted in the message.
        value: The value to check.
        minimum: int. The smallest allowed value.
    """
    if not is_int(value) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. "
                         f"{received(name, value)}")


def check_int(name, value):
    """Raises unless `value` is an integer (a bool is not one).

    Args:
        name: str. The argument's name, quoted in the message.
        value: The value to check.
    """
    if not is_int(value):
        raise ValueError(f"`{name}` must be an int. {received(name, value)}")


def check_bool(name, value, allow_none=False):
    """Raises unless `value` is `True` or `False` (a string such as
    `"False"` is not a bool: it would be truthy).

    Args:
        name: str. The argument's name, quoted in the message.
        value: The value to check.
        allow_none: bool. Whether `None` (left to a default) passes.
    """
    if value is None and allow_none:
        return
    if not isinstance(value, (bool, np.bool_)):
        what = "True, False or None" if allow_none else "True or False"
        raise ValueError(f"`{name}` must be a bool ({what}). "
                         f"{received(name, value)}")


def check_str(name, value, allow_empty=True):
    """Raises unless `value` is a string (non-empty unless `allow_empty`).

    Args:
        name: str. The argument's name, quoted in the message.
        value: The value to check.
        allow_empty: bool. Whether `""` passes.
    """
    if not isinstance(value, str):
        raise ValueError(f"`{name}` must be a str. {received(name, value)}")
    if not allow_empty and not value:
        raise ValueError(f"`{name}` must be a non-empty str. "
                         f"{received(name, value)}")


def check_number(name, value):
    """Raises unless `value` is a finite real number (int or float).

    Args:
        name: str. The argument's name, quoted in the message.
        value: The value to check.
    """
    if not is_number(value):
        raise ValueError(f"`{name}` must be a number (int or float). "
                         f"{received(name, value)}")
    check_finite(name, value)


def check_finite(name, value):
    """Raises if `value` is a number that is NaN or infinite.

    An infinite temperature, learning rate or weight decay makes every loss
    NaN, which no other setting can fix.

    Args:
        name: str. The argument's name, quoted in the message.
        value: The value to check; non-numbers and `None` pass.
    """
    if is_number(value) and not math.isfinite(value):
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
    if not is_number(value) or not value > 0:
        raise ValueError(f"`{name}` must be a number > 0. "
                         f"{received(name, value)}")


def check_non_negative(name, value):
    """Raises unless `value` is a finite number >= 0.

    Args:
        name: str. The argument's name, quoted in the message.
        value: The value to check.
    """
    check_finite(name, value)
    if not is_number(value) or not value >= 0:
        raise ValueError(f"`{name}` must be a number >= 0. "
                         f"{received(name, value)}")


def check_choice(name, value, choices):
    """Raises unless `value` is one of `choices`.

    Args:
        name: str. The argument's name, quoted in the message.
        value: The value to check.
        choices: sequence. The allowed values.
    """
    # `True == 1`: a bool is one only of choices that are bools.
    is_bool = isinstance(value, (bool, np.bool_))
    if not any(value == choice and is_bool == isinstance(choice, bool)
               for choice in choices if _comparable(value, choice)):
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"`{name}` must be one of {allowed}. "
                         f"{received(name, value)}")


def _comparable(value, choice):
    """Whether `value == choice` is a plain bool (not an array's)."""
    try:
        return isinstance(value == choice, (bool, np.bool_))
    except Exception:  # noqa: BLE001 - any comparison failure: not equal.
        return False


def label_shape_message(shape, name="y"):
    """The one-line refusal of labels that are not one per sample (one-hot
    or probabilities).

    Args:
        shape: tuple. The labels' shape (`None` for unknown dimensions).
        name: str. The argument's name.

    Returns:
        str.
    """
    shape = tuple(None if d is None else int(d) for d in shape)
    return (f"`{name}` must hold one integer class label per sample, of "
            f"shape (batch,) (one-hot or probability labels are not taken: "
            f"pass np.argmax({name}, axis=-1)). Received: {name} of shape "
            f"{shape}")


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
    if any(d != 1 for d in labels.shape[1:]):
        raise ValueError(label_shape_message(labels.shape, name))
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

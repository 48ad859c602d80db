"""Loading and saving `.keras` files safely.

`load_keras_file` loads a whole file, not compiled, with safe mode on and
a one-line error for a missing, truncated or unknown file; `save_keras`
replaces a file atomically, after checking the disk has room. A run
directory (`one_keras.runs.RunDirectory`) saves its models through it.
"""

import os
import re

from one_keras.runs import layout as run_layout
# Light to import: Keras loads on the first save or load.
from one_keras.utils import atomic_files


def load_keras_file(path):
    """Loads a whole `.keras` file, not compiled, with safe mode on.

    Args:
        path: str. The file (e.g. `RunDirectory.saved_model_path`'s).

    Returns:
        The `keras.Model`.

    Raises:
        ValueError: naming `model`: the file is missing, truncated, or not a
            Keras model.
    """
    import keras

    # Registers one_keras' generic layers (older deployed files hold its
    # fused BatchNormalization). A run's training model (`model.keras`)
    # also needs its method's classes, which
    # `one_keras.methods.saved_models.load_model` registers before it calls
    # this (this module sits below the methods).
    import one_keras.models.layers  # noqa: F401
    from one_keras.utils import validation

    if not os.path.isfile(path):
        raise ValueError(
            "`model` must be a `.keras` file or a training output directory "
            f"holding `{run_layout.MODEL_NAME}` or `{run_layout.TARGET_NAME}`"
            f". Received: model={path!r} (not found)")
    validation.check_keras_file(path)
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds on a bad file.
        raise ValueError(_unreadable_model(path, error)) from error


def _unreadable_model(path, error):
    """The one-line refusal of a `.keras` file Keras could not load."""
    unknown = re.search(r"Could not locate class '([^']+)'", str(error))
    if unknown:  # Its message goes on with the model's whole config.
        return (f"`model` holds the class {unknown.group(1)!r}, which no "
                "imported module registers: load a training model with "
                "`one_keras.methods.saved_models.load_model` (it imports "
                "`one_keras.methods`, which registers the methods' "
                f"classes). Received: model={path!r}")
    first = str(error).splitlines()[0] if str(error) else ""
    if len(first) > 300:
        first = first[:300] + "..."
    return ("`model` could not be read as a Keras model; pass a `.keras` "
            "file or the run directory a training run wrote. Received: "
            f"model={path!r} ({type(error).__name__}: {first})")


def save_keras(model, path):
    """Saves a `.keras` file atomically: a crash never leaves half a file.

    The temporary is `<name>.partial.keras`, which the next run deletes if
    a kill left it behind.

    Args:
        model: `keras.Model`.
        path: str. The `.keras` file to write or replace.

    Raises:
        OSError: the disk lacks the room (checked first) or the save failed;
            `path` is then as it was.
    """
    from one_keras.runs import backup as backup_lib
    temporary = f"{os.path.splitext(path)[0]}.partial.keras"
    backup_lib.check_free_space(os.path.dirname(path) or ".",
                                backup_lib.state_bytes(model))
    with atomic_files.replacing(path, temporary) as temporary:
        model.save(temporary)

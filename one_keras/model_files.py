"""Loading a saved model: a `.keras` file, or the one a training run saved.

Evaluation takes a run's training model, else its deployed target; export
takes its training model only (`run_files`). A training model's classes
are registered by importing `one_keras.methods` first (deployed files hold
stock Keras layers and need nothing).
"""

import os

import keras

from one_keras import validation
from one_keras.run_layout import MODEL_NAME
from one_keras.run_layout import TARGET_NAME


def load_model(path, run_files=(MODEL_NAME, TARGET_NAME)):
    """Loads a `.keras` file, or the first of `run_files` in a run directory.

    Args:
        path: str. A `.keras` file, or a training output directory.
        run_files: tuple of str. The files of a run directory that may be
            loaded, the preferred first. Defaults to `("model.keras",
            "target.keras")`: the training model, else the deployed target.

    Returns:
        The loaded `keras.Model`, not compiled.

    Raises:
        ValueError: naming `model`: there is no such file, or it is not a
            whole Keras model.
    """
    # Registers one_keras' generic layers (older deployed files hold its
    # fused BatchNormalization). A run's training model (`model.keras`)
    # also needs its method's classes: the caller imports
    # `one_keras.methods` (this module sits below them: KD loads its
    # teacher through it).
    import one_keras.layers  # noqa: F401

    path = os.fspath(path)
    holding = " or ".join(f"`{name}`" for name in run_files)
    if os.path.isdir(path):
        found = [os.path.join(path, name) for name in run_files
                 if os.path.isfile(os.path.join(path, name))]
        if not found:
            raise ValueError(
                "`model` must be a `.keras` file or a training output "
                f"directory holding {holding}. Received: model={path!r} "
                "(none found; train one with `python -m one_keras.train`)")
        path = found[0]
    if not os.path.isfile(path):
        raise ValueError(
            "`model` must be a `.keras` file or a training output directory "
            f"holding {holding}. Received: model={path!r} (not found)")
    validation.check_keras_file(path)
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds on a bad file.
        raise ValueError(
            "`model` could not be read as a Keras model; pass the "
            f"{holding} a training run wrote. Received: model={path!r} "
            f"({type(error).__name__}: {str(error).splitlines()[0]})"
        ) from error

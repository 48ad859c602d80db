"""Loading a saved model: a `.keras` file, or the one a training run saved.

Which file of a run directory is loaded is the run's to say
(`one_keras.runs.RunDirectory.saved_model_path`): its training model, else
its deployed target; export takes the training model only
(`training_only`). A training model's classes are registered by importing
`one_keras.methods` first (deployed files hold stock Keras layers and need
nothing).
"""

import os

from one_keras.runs import directory


def load_model(path, training_only=False):
    """Loads a `.keras` file, or the model a training run saved.

    Args:
        path: str. A `.keras` file, or a training output directory.
        training_only: bool. In a run directory, only its training model
            (`model.keras`) will do; else its deployed target
            (`target.keras`) is taken when the training model is missing.

    Returns:
        The loaded `keras.Model`, not compiled.

    Raises:
        ValueError: naming `model`: there is no such file, or it is not a
            whole Keras model.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        return directory.RunDirectory(path).load_model(training_only)
    return directory.load_keras_file(path)

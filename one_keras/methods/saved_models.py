"""`load_model`: the one loader of a saved model, a `.keras` file or the
one a training run saved, with every class one_keras saves registered
first.

Which file of a run directory is loaded is the run's to say
(`one_keras.runs.RunDirectory.saved_model_path`): its training model, else
its deployed target; export takes the training model only
(`training_only`). The file is read by
`one_keras.runs.keras_files.load_keras_file` (not compiled, safe mode on).
Deployed files hold stock Keras layers and need nothing; a training model
needs its method's classes, which importing `one_keras.methods` registers.
"""

import os

from one_keras import methods  # noqa: F401  (registers their classes)
from one_keras.runs import RunDirectory
from one_keras.runs.keras_files import load_keras_file


def load_model(path, training_only=False):
    """Loads a `.keras` file, or the model a training run saved.

    Args:
        path: str or `os.PathLike`. A `.keras` file, or a training output
            directory.
        training_only: bool. In a run directory, only its training model
            (`model.keras`) will do; else its deployed target
            (`target.keras`) is taken when the training model is missing.

    Returns:
        The loaded `keras.Model`, not compiled.

    Raises:
        ValueError: naming `model`: there is no such file, or it is not a
            whole Keras model.

    Example:

    ```python
    from one_keras.methods import saved_models
    model = saved_models.load_model("runs/one")  # model.keras, else target
    ```
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        path = RunDirectory(path).saved_model_path(training_only)
    return load_keras_file(path)

"""Loading a saved model: a `.keras` file, or the one a training run saved,
with every class one_keras saves registered first.

Which file of a run directory is loaded is the run's to say
(`one_keras.runs.RunDirectory.saved_model_path`): its training model, else
its deployed target; export takes the training model only
(`training_only`). Deployed files hold stock Keras layers and need nothing;
a training model needs its method's classes, which importing
`one_keras.methods` registers.
"""

from one_keras import methods  # noqa: F401  (registers their classes)
from one_keras import runs


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
    return runs.load_model(path, training_only)

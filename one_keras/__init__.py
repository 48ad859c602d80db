"""one_keras: ONE (On-the-Fly Native Ensemble) knowledge distillation.

The names below are imported on first use, so that `import one_keras` (and
the command line tools' `--help`) does not import Keras and TensorFlow.
Importing `one_keras.methods` registers every one_keras class for `.keras`
loading (`one_keras.methods.saved_models.load_model` does it); after
`import one_keras` it happens once Keras is imported too, in either order
(`one_keras.utils.keras_registration`), so that
`keras.saving.load_model("runs/x/model.keras")` reads a run's training
model.
"""

from one_keras.utils import lazy_names
from one_keras.utils.version import __version__


# Public name -> the module that defines it (a submodule is its own).
_LAZY = {
    "ONEModel": "one_keras.methods.one",
    "build_one_network": "one_keras.methods.one",
    "from_backbone": "one_keras.methods.one",
    "losses": "one_keras.methods.losses",
    "methods": "one_keras.methods",
    "models": "one_keras.models",
}

__all__ = ["ONEModel", "build_one_network", "from_backbone", "losses",
           "methods", "models"]

__getattr__, __dir__ = lazy_names.attach(__name__, _LAZY)
# Last: it may import one_keras.methods, which needs the names above.
from one_keras.utils import keras_registration  # noqa: E402,F401

"""one_keras: ONE (On-the-Fly Native Ensemble) knowledge distillation."""

from one_keras import losses
from one_keras import methods
from one_keras import models
from one_keras.methods.one import ONEModel
from one_keras.methods.one import build_one_network
from one_keras.methods.one import from_backbone

__version__ = "0.1.0"

__all__ = ["ONEModel", "build_one_network", "from_backbone", "losses",
           "methods", "models"]

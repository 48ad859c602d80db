"""ONE, the paper's method, as a method like the others.

Its network (`one_network`), training model (`one_model.ONEModel`),
`from_backbone`, loss (`loss`), gate layer (`layers.UniformGate`), KL
ramp-up (`callbacks.KLRampUp`) and its `Method` (`method.METHOD`) live here;
nothing outside `one_keras/methods/` imports them (the package
`one_keras/__init__.py` re-exports the public names).
"""

from one_keras.methods.one.callbacks import KLRampUp
from one_keras.methods.one.from_backbone import from_backbone
from one_keras.methods.one.layers import UniformGate
from one_keras.methods.one.method import METHOD
from one_keras.methods.one.method import ONEOptions
from one_keras.methods.one.method import build_one_model
from one_keras.methods.one.method import build_one_resnet
from one_keras.methods.one.one_model import ONEModel
from one_keras.methods.one.one_network import build_one_network

__all__ = ["KLRampUp", "METHOD", "ONEModel", "ONEOptions", "UniformGate",
           "build_one_model", "build_one_network", "build_one_resnet",
           "from_backbone"]

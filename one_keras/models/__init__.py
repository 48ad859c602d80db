"""The backbones of the paper (architecture only) and their plain networks.

ONE's split of a backbone into branches is a training method:
`one_keras.methods.one.build_one_model`.
"""

from one_keras.models.registry import Backbone
from one_keras.models.registry import BackboneParts
from one_keras.models.registry import architecture_arguments
from one_keras.models.registry import architecture_options
from one_keras.models.registry import backbone_parts
from one_keras.models.registry import build_plain_network
from one_keras.models.registry import check_architecture
from one_keras.models.registry import model_names

__all__ = ["Backbone", "BackboneParts", "architecture_arguments",
           "architecture_options",
           "backbone_parts", "build_plain_network", "check_architecture",
           "model_names"]

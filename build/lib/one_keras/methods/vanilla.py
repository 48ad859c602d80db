"""The vanilla network: ONE with a single branch (paper Table 1, "Baseline").

With one branch the ONE loss is the plain cross-entropy and there is no
gate to train, so `build_one_model(num_branches=1)` is exactly the plain
network trained the plain way; `target_model()` is what is deployed.
"""

import dataclasses

from one_keras.methods.method import Method
from one_keras.methods.one import build_one_model


def build_vanilla_model(model_name, num_classes, input_shape=None,
                        **kwargs):
    """Builds the plain network, trainable with `fit`.

    Args:
        model_name: str. A name of `one_keras.models.model_names()`.
        num_classes: int. Number of classes.
        input_shape: tuple or `None`. Image shape.
        **kwargs: architecture and `ONEModel` arguments of `build_one_model`.

    Returns:
        A `one_keras.ONEModel` with one branch.
    """
    return build_one_model(model_name, num_classes, num_branches=1,
                           input_shape=input_shape, **kwargs)


@dataclasses.dataclass(frozen=True)
class VanillaOptions:
    """The plain network has no options of its own."""


def build(options, request):
    """The plain network's training model for a `BuildRequest`."""
    return build_vanilla_model(request.model_name, request.num_classes,
                               input_shape=request.input_shape,
                               sync_bn=request.sync_bn,
                               **request.model_arguments,
                               **request.architecture)


METHOD = Method(name="vanilla", summary="the plain network (Table 1's "
                "baseline)", options=VanillaOptions, build=build)

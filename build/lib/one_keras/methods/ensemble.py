"""`EnsembleModel`: N independent networks trained together (paper Table 4).

The "2-Net" and "3-Net" ensembles of the paper: `N` networks with their own
initialisation, each trained with its own cross-entropy on the same batches,
with no interaction. At test time the ensemble averages the members' class
**probabilities** (the output `ensemble_logits` is the log of that mean).
"""

import dataclasses

import keras

from one_keras.methods.method import Method
from one_keras.methods.method import option
from one_keras.methods.peers import PeersModel
from one_keras.methods.peers import build_peers
from one_keras.methods.peers import member_cross_entropy


@keras.saving.register_keras_serializable(package="one_keras")
class EnsembleModel(PeersModel):
    """Independent networks trained side by side; deployed averaged.

    The loss is the sum of the members' cross-entropies (so each member's
    gradient is that of training it alone) plus coupled weight decay. It
    reports `loss`, `ce`, `member_{i}_accuracy` and `ensemble_accuracy`.

    Args:
        network: `keras.Model`. From `one_keras.methods.peers.build_peers`.
        weight_decay: float. Coupled L2 weight decay. Defaults to `1e-4`.
        normalization: dict or `None`. Recorded for export.

    Example:
    ```python
    network = one_keras.methods.peers.build_peers(
        "resnet", num_classes=100, num_members=3, depth=32)
    model = one_keras.methods.EnsembleModel(network)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    model.fit(images, labels, epochs=300)
    deployed = model.deployed_model()  # averages the 3 networks
    ```
    """

    def member_losses(self, y, member_logits):
        return {"ce": member_cross_entropy(y, member_logits)}

    def deployed_model(self, name=None):
        """The averaged ensemble: images -> log of the mean probability."""
        return self.ensemble_model(name=name)


@dataclasses.dataclass(frozen=True)
class EnsembleOptions:
    """The independent ensemble's options."""

    num_peers: int = option(2, "Number of networks.",
                            lower_bound=1)


def build(options, request):
    """The ensemble's training model: `num_peers` fresh plain networks."""
    network = build_peers(request.model_name, request.num_classes,
                          options.num_peers, input_shape=request.input_shape,
                          name="ensemble", sync_bn=request.sync_bn,
                          **request.architecture)
    return EnsembleModel(network, **request.model_arguments)


METHOD = Method(name="ensemble", summary="independent networks, their "
                "probabilities averaged (Table 4's 2-Net, 3-Net)",
                options=EnsembleOptions, build=build)

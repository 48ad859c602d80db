"""`DMLModel`: deep mutual learning (Zhang et al., CVPR 2018; paper Table 3).

Peers train together; each minimises its cross-entropy plus the mean, over
the other peers `j`, of `T^2 * KL(p_j || p_i)` with `p = softmax(z / T)` and
the peers' targets `p_j` stopped. All peers update in the same step (the
simultaneous variant; the paper of DML alternates peer updates).

Paper: https://arxiv.org/abs/1706.00384
"""

import dataclasses

import keras
from keras import ops

from one_keras.methods import losses
from one_keras.methods.method import Method
from one_keras.methods.method import Options
from one_keras.methods.method import option
from one_keras.methods.method_model import WEIGHT_DECAY
from one_keras.methods.peers import PeersModel
from one_keras.methods.peers import build_peers
from one_keras.methods.peers import member_cross_entropy
from one_keras.utils import validation


# The DML paper has no temperature: T = 1.
DML_TEMPERATURE = 1.0


def dml_kl(member_logits, temperature=DML_TEMPERATURE):
    """`sum_i mean_{j != i} T^2 KL(softmax(z_j / T) || softmax(z_i / T))`.

    Targets `z_j` are stopped, so each term trains peer `i` only.

    Args:
        member_logits: `(batch, peers, classes)`, at least 2 peers.
        temperature: float. The temperature `T`. Defaults to `1.0`.

    Returns:
        The per-sample mutual-learning term, `(batch,)`.
    """
    num_peers = member_logits.shape[1]
    # distillation_kl(z_j, all peers) = T^2 sum_i KL(p_j || p_i); the i = j
    # term is 0 in value and gradient (the target is stopped).
    total = sum(losses.distillation_kl(member_logits[:, j], member_logits,
                                       temperature)
                for j in range(num_peers))
    return total / (num_peers - 1)


@keras.saving.register_keras_serializable(package="one_keras")
class DMLModel(PeersModel):
    """Deep mutual learning of `K >= 2` peers; peer 0 is deployed.

    The loss is `sum_i [CE(z_i, y) + mean_{j != i} T^2 KL(p_j || p_i)]`
    plus coupled weight decay. It reports `loss`, `ce`, `kl`,
    `member_{i}_accuracy` and `ensemble_accuracy`.

    Args:
        network: `keras.Model`. From `one_keras.methods.peers.build_peers`
            with at least 2 members.
        temperature: float. Temperature `T` > 0 of the KL terms (1 in the
            DML paper). Defaults to `1.0`.
        weight_decay: float. Coupled L2 weight decay. Defaults to `1e-4`.
        normalization: dict or `None`. Recorded for export.

    Example:
    ```python
    network = one_keras.methods.peers.build_peers(
        "resnet", num_classes=100, num_members=2, depth=32)
    model = one_keras.methods.DMLModel(network)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    model.fit(images, labels, epochs=300)
    deployed = model.deployed_model()  # peer 0, a plain ResNet-32
    ```
    """

    member_noun = "peer"
    deploys_every_member = True  # `peer_1`, ... beside `target`.

    def __init__(self, network, temperature=DML_TEMPERATURE,
                 weight_decay=WEIGHT_DECAY,
                 normalization=None, **kwargs):
        validation.check_positive("temperature", temperature)
        super().__init__(network, weight_decay=weight_decay,
                         normalization=normalization, **kwargs)
        if self.num_members < 2:
            raise ValueError(
                "`network` must have at least 2 peers for mutual learning. "
                f"Received: num_members={self.num_members}")
        self.temperature = float(temperature)
        self.kl_tracker = keras.metrics.Mean(name="kl")

    def member_losses(self, y, member_logits):
        return {"ce": member_cross_entropy(y, member_logits),
                "kl": dml_kl(ops.cast(member_logits, "float32"),
                             self.temperature)}

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


@dataclasses.dataclass(frozen=True)
class DMLOptions(Options):
    """Deep mutual learning's options."""

    num_peers: int = option(2, "Number of networks.",
                            lower_bound=2)
    temperature: float = option(DML_TEMPERATURE,
                                "Distillation temperature T.",
                                greater_than=0.0)


def build(options, request):
    """DML's training model: `num_peers` fresh plain networks."""
    network = build_peers(request.model_name, request.num_classes,
                          options.num_peers, input_shape=request.input_shape,
                          name="dml", sync_bn=request.sync_bn,
                          **request.architecture)
    return DMLModel(network, temperature=options.temperature,
                    **request.model_arguments)


METHOD = Method(name="dml", summary="deep mutual learning of peers "
                "(Table 3)", options=DMLOptions, build=build)

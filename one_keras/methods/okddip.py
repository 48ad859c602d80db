"""OKDDip: online knowledge distillation with diverse peers.

Chen, Mei, Wang, Feng and Chen, AAAI 2020 (arXiv:1912.00350). `m`
auxiliary peers and one group leader are branches (a backbone's last stage
and classifier each) on a shared trunk, as in the authors' code. Peer `a`
distils from its own aggregate of the peers' logits, `t_a = sum_b
alpha_ab z_b`, whose weights `alpha_a = softmax_b(q_a . k_b)` come from
query and key projections of the peers' pooled features (first level); the
leader distils from the peers' mean logits (second level):

    L = sum_a CE(z_a, y) + CE(z_l, y)
        + w * T^2 * [sum_a KL(softmax(t_a / T) || softmax(z_a / T))
                     + KL(softmax(mean_a z_a / T) || softmax(z_l / T))]

The gradient flows through the targets (the projections learn only
through them). The leader (trunk and leader branch) is the deployed
`target`; `ensemble` is the peers' mean logits, the ensemble the authors'
code scores. docs/family/okddip.md gives the details.
"""

import dataclasses

import keras
from keras import ops

from one_keras.methods.method import Method
from one_keras.methods.method import Options
from one_keras.methods.method import option
from one_keras.methods.method_model import MethodModel
from one_keras.methods.method_model import WEIGHT_DECAY
from one_keras.methods.method_model import sparse_ce
from one_keras.methods.method_model import weighted_mean
from one_keras.methods.one.callbacks import KL_RAMPUP_RECIPES
from one_keras.methods.one.callbacks import add_kl_ramp
from one_keras.methods.one.callbacks import kl_rampup_callbacks
from one_keras.methods.one.callbacks import kl_rampup_option
from one_keras.methods.one.callbacks import with_kl_rampup
from one_keras.methods.one.one_model import branch_accuracy_fields
from one_keras.models import backbone_parts
from one_keras.models.common import synchronized_batch_norm
from one_keras.models.initializers import dense_initializers
from one_keras.utils import validation


# The paper's CIFAR setting (and the authors' code defaults): 3 peers and a
# leader (`--num_branches 4`), T = 3, projections to 1/8 of the features.
NUM_PEERS = 3
OKDDIP_TEMPERATURE = 3.0
PROJECTION_FACTOR = 8
OUTPUT_KEYS = ("peer_logits", "leader_logits", "attention", "peer_targets",
               "ensemble_logits")


def okddip_loss_terms(y_true, peer_logits, peer_targets, leader_logits,
                      temperature=OKDDIP_TEMPERATURE, target_gradient=True):
    """The three parts of the OKDDip loss, per sample.

    Args:
        y_true: Integer labels, `(batch,)` or `(batch, 1)`.
        peer_logits: `(batch, peers, classes)`.
        peer_targets: `(batch, peers, classes)`: each peer's attention-
            weighted aggregate of the peers' logits.
        leader_logits: `(batch, classes)`.
        temperature: float. Temperature `T` > 0. Defaults to `3.0`.
        target_gradient: bool. `True` lets the gradient flow into the
            targets (the paper and the authors' code; the projections learn
            through them alone); `False` stops them. Defaults to `True`.

    Returns:
        A `(ce, peer_kl, leader_kl)` triple of `(batch,)` tensors: `ce`,
        the peers' and the leader's cross-entropies summed; `peer_kl =
        sum_a T^2 KL(softmax(t_a / T) || softmax(z_a / T))`; `leader_kl =
        T^2 KL(softmax(mean_a z_a / T) || softmax(z_l / T))`.
    """
    validation.check_positive("temperature", temperature)
    peers = ops.cast(peer_logits, "float32")
    targets = ops.cast(peer_targets, "float32")
    leader = ops.cast(leader_logits, "float32")
    num_peers = peers.shape[1]
    ce = sparse_ce(y_true, leader) + sum(
        sparse_ce(y_true, peers[:, a]) for a in range(num_peers))
    mean = ops.mean(peers, axis=1)
    if not target_gradient:
        targets, mean = ops.stop_gradient(targets), ops.stop_gradient(mean)
    peer_kl = _kl(targets, peers, temperature, axis=(1, 2))
    leader_kl = _kl(mean, leader, temperature, axis=1)
    return ce, peer_kl, leader_kl


def _kl(target_logits, logits, temperature, axis):
    """`T^2 KL(softmax(target / T) || softmax(logits / T))`, summed over
    `axis`."""
    log_q = ops.log_softmax(target_logits / temperature, axis=-1)
    log_p = ops.log_softmax(logits / temperature, axis=-1)
    return temperature ** 2 * ops.sum(ops.exp(log_q) * (log_q - log_p),
                                      axis=axis)


def build_okddip_network(model_name, num_classes, num_peers=NUM_PEERS,
                         projection_factor=PROJECTION_FACTOR,
                         input_shape=None, name=None, **architecture):
    """A backbone's trunk with `num_peers` peer branches, a leader branch
    and the peers' attention.

    Every branch is a copy of the backbone's last stage and classifier;
    peer `i`'s layers are prefixed `peer{i}_`, the leader's `leader_`. One
    `query` and one `key` projection (bias-free Dense layers, shared by the
    peers, `features // projection_factor` units) read each peer's pooled
    features (the input of its classifier).

    Args:
        model_name: str. A name of `one_keras.models.model_names()`.
        num_classes: int. Number of classes.
        num_peers: int. Auxiliary peers `m`, >= 2. Defaults to `3`.
        projection_factor: int. The projections have `features //
            projection_factor` units. Defaults to `8`.
        input_shape: tuple or `None`. Image shape.
        name: str or `None`. The network's name (default: `model_name`).
        **architecture: the backbone's architecture arguments.

    Returns:
        A functional `keras.Model`: images -> `peer_logits` `(batch, peers,
        classes)`, `leader_logits` `(batch, classes)`, `attention` `(batch,
        peers, peers)` (row `a`: peer `a`'s weights), `peer_targets`
        `(batch, peers, classes)` and `ensemble_logits` (the peers' mean
        logits).
    """
    validation.check_int_at_least("num_peers", num_peers, 2)
    validation.check_int_at_least("projection_factor", projection_factor, 1)
    parts = backbone_parts(model_name, num_classes, input_shape,
                           **architecture)
    inputs = keras.Input(shape=parts.input_shape, name="images")
    trunk = parts.build_trunk(inputs)
    peers = [_branch(parts, trunk, f"peer{i}_") for i in range(num_peers)]
    leader = _branch(parts, trunk, "leader_")
    features = [_classifier_input(logits) for logits in peers]
    width = features[0].shape[-1]
    units = width // projection_factor
    if units < 1:
        raise ValueError(
            f"`projection_factor` must be at most the peers' feature width "
            f"({width}) so that the projections have a unit. Received: "
            f"projection_factor={projection_factor}")
    kernel, _ = dense_initializers(width)
    projections = {}
    for role in ("query", "key"):
        dense = keras.layers.Dense(units, use_bias=False,
                                   kernel_initializer=kernel, name=role)
        projections[role] = _stack([dense(f) for f in features],
                                   f"{role}_stack")
    energy = keras.layers.Dot(axes=(2, 2), name="attention_energy")(
        [projections["query"], projections["key"]])
    attention = keras.layers.Softmax(axis=-1, name="attention",
                                     dtype="float32")(energy)
    peer_logits = _stack(peers, "peer_logits")
    targets = keras.layers.Dot(axes=(2, 1), name="peer_targets",
                               dtype="float32")([attention, peer_logits])
    ensemble = keras.layers.Average(name="ensemble_logits")(peers)
    outputs = {"peer_logits": peer_logits, "leader_logits": leader,
               "attention": attention, "peer_targets": targets,
               "ensemble_logits": ensemble}
    return keras.Model(inputs, outputs, name=name or model_name)


def _branch(parts, trunk, prefix):
    """One fresh branch on `trunk`; its classifier must be
    `f"{prefix}logits"`."""
    logits = parts.build_branch(trunk, prefix)
    producer = logits._keras_history.operation
    if producer.name != f"{prefix}logits":
        raise ValueError(f"The last layer of a branch must be named "
                         f"`{prefix}logits`. Received: name={producer.name}")
    return logits


def _classifier_input(logits):
    """The features a branch's classifier reads (its pooled features)."""
    features = logits._keras_history.operation.input
    if len(features.shape) != 2:
        raise ValueError("OKDDip's projections need pooled features "
                         "(batch, channels) before each peer's classifier. "
                         f"Received: shape={features.shape}")
    return features


def _stack(tensors, name):
    """`(batch, n)` tensors -> `(batch, len(tensors), n)`."""
    width = tensors[0].shape[-1]
    expanded = [keras.layers.Reshape((1, width), name=f"{name}_{i}_expand")(t)
                for i, t in enumerate(tensors)]
    return keras.layers.Concatenate(axis=1, name=name)(expanded)


@keras.saving.register_keras_serializable(package="one_keras")
class OKDDipModel(MethodModel):
    """OKDDip: attention-aggregated peers and a group leader.

    The loss is `ce + w * (kl + leader_kl)` of `okddip_loss_terms` (`w`:
    the KL ramp-up weight, 1 unless `kl_rampup_epochs`) plus coupled weight
    decay. It reports `loss`, `ce`, `kl` (the peers'), `leader_kl`,
    `peer_{i}_accuracy`, `leader_accuracy` and `ensemble_accuracy`.

    Paper: https://arxiv.org/abs/1912.00350

    Args:
        network: `keras.Model`. From `build_okddip_network`.
        temperature: float. Temperature `T` > 0. Defaults to `3.0`.
        target_gradient: bool. Whether the gradient flows into the targets.
            Defaults to `True`.
        kl_rampup_epochs: int. Epochs of the KL weight's sigmoid ramp-up
            (0: off). Defaults to `0`.
        weight_decay: float. Coupled L2 weight decay. Defaults to `1e-4`.
        normalization: dict or `None`. Recorded for export.

    Example:
    ```python
    model = one_keras.methods.build_method_model(
        "okddip", num_classes=100, depth=32, num_peers=3)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    model.fit(images, labels, epochs=300)
    leader = model.target_model()  # a plain ResNet-32
    ```
    """

    def __init__(self, network, temperature=OKDDIP_TEMPERATURE,
                 target_gradient=True, kl_rampup_epochs=0,
                 weight_decay=WEIGHT_DECAY, normalization=None, **kwargs):
        _check_network(network)
        validation.check_positive("temperature", temperature)
        validation.check_bool("target_gradient", target_gradient)
        validation.check_int_at_least("kl_rampup_epochs", kl_rampup_epochs, 0)
        super().__init__(weight_decay=weight_decay,
                         normalization=normalization, **kwargs)
        self.network = network
        self.temperature = float(temperature)
        self.target_gradient = bool(target_gradient)
        self.kl_rampup_epochs = int(kl_rampup_epochs)
        shape = network.output["peer_logits"].shape
        self.num_peers, self.num_classes = shape[1], shape[2]
        self.kl_ramp = add_kl_ramp(self, self.kl_rampup_epochs)
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.leader_kl_tracker = keras.metrics.Mean(name="leader_kl")
        self.peer_accuracies = [
            keras.metrics.SparseCategoricalAccuracy(name=f"peer_{i}_accuracy")
            for i in range(self.num_peers)]
        self.leader_accuracy = keras.metrics.SparseCategoricalAccuracy(
            name="leader_accuracy")
        self.ensemble_accuracy = keras.metrics.SparseCategoricalAccuracy(
            name="ensemble_accuracy")
        self.built = True

    def call(self, images, training=None):
        return self.network(images, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        y = self.check_label_range(y)
        ce, kl, leader_kl = okddip_loss_terms(
            y, y_pred["peer_logits"], y_pred["peer_targets"],
            y_pred["leader_logits"], self.temperature, self.target_gradient)
        ce = weighted_mean(ce, sample_weight)
        kl = weighted_mean(kl, sample_weight)
        leader_kl = weighted_mean(leader_kl, sample_weight)
        self.ce_tracker.update_state(ce)
        self.kl_tracker.update_state(kl)
        self.leader_kl_tracker.update_state(leader_kl)
        ramp = ops.cast(self.kl_ramp, "float32")
        return self.finish_loss(ce + ramp * (kl + leader_kl))

    def update_metrics(self, x, y, y_pred, sample_weight=None):
        peers = y_pred["peer_logits"]
        for index, metric in enumerate(self.peer_accuracies):
            metric.update_state(y, peers[:, index], sample_weight)
        self.leader_accuracy.update_state(y, y_pred["leader_logits"],
                                          sample_weight)
        self.ensemble_accuracy.update_state(y, y_pred["ensemble_logits"],
                                            sample_weight)
        if self._compile_metrics is not None:
            self._compile_metrics.update_state(
                y, y_pred["leader_logits"], sample_weight)
        return self.get_metrics_result()

    def fit(self, x=None, y=None, *args, callbacks=None, **kwargs):
        return super().fit(
            x, y, *args,
            callbacks=with_kl_rampup(callbacks, self.kl_rampup_epochs),
            **kwargs)

    def target_model(self, name=None):
        """The group leader: the trunk and the leader branch (images ->
        logits), the backbone's plain architecture."""
        return keras.Model(self.network.input,
                           self.network.get_layer("leader_logits").output,
                           name=name or f"{self.network.name}_leader")

    def ensemble_model(self, name=None):
        """The peers' mean logits (images -> logits), stock Keras layers."""
        return keras.Model(self.network.input,
                           self.network.get_layer("ensemble_logits").output,
                           name=name or f"{self.network.name}_ensemble")

    def deployable_cores(self):
        """`target` (the leader) and `ensemble` (the peers' mean logits)."""
        return {"target": self.target_model(),
                "ensemble": self.ensemble_model()}

    def describe_deployables(self):
        return {"target": "the group leader",
                "ensemble": f"{self.num_peers} peers' mean logits"}

    def report_metrics(self):
        return {"target": "leader_accuracy", "ensemble": "ensemble_accuracy"}

    def report_fields(self, results):
        """The common fields and every peer's accuracy, under ONE's keys
        (the peers are the branches; the leader is `target`):
        `branch_accuracy` (list), `branch_accuracy_mean`,
        `branch_accuracy_std`."""
        fields = super().report_fields(results)
        fields.update(branch_accuracy_fields(
            results, [f"peer_{i}_accuracy" for i in range(self.num_peers)]))
        return fields

    def get_config(self):
        return {**super().get_config(),
                "network": keras.saving.serialize_keras_object(self.network),
                "temperature": self.temperature,
                "target_gradient": self.target_gradient,
                "kl_rampup_epochs": self.kl_rampup_epochs}

    @classmethod
    def from_config(cls, config):
        network = keras.saving.deserialize_keras_object(config["network"])
        return cls(**{**config, "network": network})


def _check_network(network):
    outputs = getattr(network, "output", None)
    if not isinstance(network, keras.Model) or not isinstance(outputs, dict) \
            or set(outputs) != set(OUTPUT_KEYS):
        raise ValueError(
            "`network` must be a functional model from "
            "`one_keras.methods.okddip.build_okddip_network` with the "
            f"outputs {list(OUTPUT_KEYS)}. Received: network={network!r}")


@dataclasses.dataclass(frozen=True)
class OKDDipOptions(Options):
    """OKDDip's options (the paper's defaults)."""

    num_peers: int = option(NUM_PEERS, "Number of networks.", lower_bound=2)
    temperature: float = option(
        OKDDIP_TEMPERATURE, "Distillation temperature T.", greater_than=0.0)
    projection_factor: int = option(
        PROJECTION_FACTOR, "OKDDip: the query and key projections have "
        "1/projection_factor of the peers' feature width.", lower_bound=1)
    target_gradient: bool = option(
        True, "CL-ILR, OKDDip: let the gradient flow into the peers' "
        "targets (CL-ILR: the authors' code; OKDDip: the paper and code).")
    kl_rampup_epochs: int = kl_rampup_option()


def build(options, request):
    """OKDDip's training model for `options` and a `BuildRequest`."""
    with synchronized_batch_norm(request.sync_bn):
        network = build_okddip_network(
            request.model_name, request.num_classes,
            num_peers=options.num_peers,
            projection_factor=options.projection_factor,
            input_shape=request.input_shape, name="okddip",
            **request.architecture)
    return OKDDipModel(network, temperature=options.temperature,
                       target_gradient=options.target_gradient,
                       kl_rampup_epochs=options.kl_rampup_epochs or 0,
                       **request.model_arguments)


METHOD = Method(
    name="okddip", summary="OKDDip: attention-aggregated peers and a group "
    "leader on one trunk (Chen et al. 2020)",
    options=OKDDipOptions, build=build, callbacks=kl_rampup_callbacks,
    recipes=KL_RAMPUP_RECIPES)

"""K networks side by side: the shared body of DML and N-net ensembles.

`build_peer_network` puts `K` plain networks (each a sub-model named
`member{i}`) on one input and returns a functional model with the outputs
`member_logits` `(batch, K, classes)` and `ensemble_logits` `(batch,
classes)`, the log of the members' mean class probability. `PeersModel`
trains it and reports `member_{i}_accuracy` and `ensemble_accuracy`; the
DML and ensemble models only change its loss.
"""

import keras
from keras import ops

from one_keras.methods.method_model import MethodModel
from one_keras.methods.method_model import WEIGHT_DECAY
from one_keras.methods.method_model import sparse_ce
from one_keras.methods.method_model import weighted_mean
from one_keras.models import build_plain_network
from one_keras.models import deployment
from one_keras.utils import validation


OUTPUT_KEYS = ("member_logits", "ensemble_logits")


@keras.saving.register_keras_serializable(package="one_keras")
class ProbabilityAverage(keras.layers.Layer):
    """Averages class probabilities over members, returned as logits.

    Maps member logits `(batch, members, classes)` to
    `log(mean_k softmax(z_k))` `(batch, classes)`: log-probabilities, which
    are valid logits (their softmax is the mean probability), so the
    ensemble plugs into the same losses and metrics as one network.
    """

    def call(self, member_logits):
        log_p = ops.log_softmax(ops.cast(member_logits, "float32"), axis=-1)
        count = ops.cast(ops.shape(member_logits)[1], "float32")
        return ops.logsumexp(log_p, axis=1) - ops.log(count)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def build_peer_network(members, name="peers"):
    """Puts plain networks side by side on one input.

    Args:
        members: list of `keras.Model`. Networks mapping the same images to
            logits of the same classes; each gets wrapped as a layer of the
            new model, so their names must differ.
        name: str. The model's name. Defaults to `"peers"`.

    Returns:
        A functional `keras.Model` mapping images to a dict:
        `member_logits` `(batch, members, classes)` and `ensemble_logits`
        `(batch, classes)` (log of the mean member probability).
    """
    if not members:
        raise ValueError("`members` must hold at least one network. "
                         f"Received: members={members!r}")
    inputs = keras.Input(shape=members[0].input.shape[1:], name="images")
    num_classes = members[0].output.shape[-1]
    expanded = []
    for index, member in enumerate(members):
        if member.output.shape[-1] != num_classes:
            raise ValueError(
                "Every member must have the same number of classes. "
                f"Received: {member.output.shape[-1]} for member {index}, "
                f"{num_classes} for member 0.")
        logits = member(inputs)
        expanded.append(keras.layers.Reshape(
            (1, num_classes), name=f"member{index}_expand")(logits))
    if len(expanded) == 1:
        stacked = keras.layers.Identity(name="member_logits")(expanded[0])
    else:
        stacked = keras.layers.Concatenate(axis=1, name="member_logits")(
            expanded)
    ensemble = ProbabilityAverage(name="ensemble_logits")(stacked)
    return keras.Model(inputs, {"member_logits": stacked,
                                "ensemble_logits": ensemble}, name=name)


def build_peers(model_name, num_classes, num_members, input_shape=None,
                name="peers", **architecture):
    """`num_members` freshly initialised plain networks side by side.

    Args:
        model_name: str. A name of `one_keras.models.model_names()`.
        num_classes: int. Number of classes.
        num_members: int. Number of networks, >= 1.
        input_shape: tuple or `None`. Image shape.
        name: str. The model's name. Defaults to `"peers"`.
        **architecture: architecture arguments of the backbone (see
            `one_keras.models.backbone_parts`).

    Returns:
        A network from `build_peer_network`; member `i` is named
        `f"member{i}"`.
    """
    validation.check_int_at_least("num_members", num_members, 1)
    members = [build_plain_network(model_name, num_classes, input_shape,
                                   network_name=f"member{i}", **architecture)
               for i in range(num_members)]
    return build_peer_network(members, name=name)


class PeersModel(MethodModel):
    """Trains `K` networks side by side (base of DML and N-net ensembles).

    Subclasses define `member_losses(y, member_logits)`, returning a dict
    of per-sample loss terms; their sum is the loss.

    Args:
        network: `keras.Model`. A network from `build_peer_network`.
        weight_decay, normalization: see `MethodModel`.
    """

    def __init__(self, network, weight_decay=WEIGHT_DECAY, normalization=None,
                 **kwargs):
        _check_peer_network(network)
        super().__init__(weight_decay=weight_decay,
                         normalization=normalization, **kwargs)
        self.network = network
        shape = network.output["member_logits"].shape
        self.num_members, self.num_classes = shape[1], shape[2]
        self.member_accuracies = [
            keras.metrics.SparseCategoricalAccuracy(
                name=f"member_{i}_accuracy") for i in range(self.num_members)]
        self.ensemble_accuracy = keras.metrics.SparseCategoricalAccuracy(
            name="ensemble_accuracy")
        self.built = True

    def call(self, images, training=None):
        return self.network(images, training=training)

    def member_losses(self, y, member_logits):
        raise NotImplementedError

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        y = self.check_label_range(y)
        terms = self.member_losses(y, y_pred["member_logits"])
        loss = ops.zeros((), "float32")
        for key, values in terms.items():
            value = weighted_mean(values, sample_weight)
            getattr(self, f"{key}_tracker").update_state(value)
            loss = loss + value
        return self.finish_loss(loss)

    def update_metrics(self, x, y, y_pred, sample_weight=None):
        member_logits = y_pred["member_logits"]
        for index, metric in enumerate(self.member_accuracies):
            metric.update_state(y, member_logits[:, index], sample_weight)
        self.ensemble_accuracy.update_state(y, y_pred["ensemble_logits"],
                                            sample_weight)
        if self._compile_metrics is not None:
            self._compile_metrics.update_state(
                y, y_pred["ensemble_logits"], sample_weight)
        return self.get_metrics_result()

    def member_model(self, index):
        """Member `index`: a plain network (images -> logits)."""
        return self.network.get_layer(f"member{index}")

    def target_model(self, name=None):
        """Member 0, a plain network (images -> logits)."""
        return self.member_model(0)

    def ensemble_model(self, name=None):
        """All members averaged: images -> log of the mean probability, in
        stock Keras layers (`deployment.average_probabilities`)."""
        inputs = self.network.input
        members = [self.member_model(i)(inputs)
                   for i in range(self.num_members)]
        return keras.Model(inputs,
                           deployment.average_probabilities(members),
                           name=name or f"{self.network.name}_ensemble")

    # What a member is called in the report's text, and whether each member
    # past the first is deployable too, as `peer_{i}` (DML, KDCL).
    member_noun = "member"
    deploys_every_member = False

    def deployable_cores(self):
        """`target` (member 0), with 2 or more members `ensemble` (their
        probabilities averaged), and with `deploys_every_member` every other
        member, `peer_{i}`."""
        cores = {"target": self.target_model()}
        if self.num_members > 1:
            cores["ensemble"] = self.ensemble_model()
        cores.update({f"peer_{i}": self.member_model(i)
                      for i in self._other_members()})
        return cores

    def describe_deployables(self):
        noun = self.member_noun
        described = {"target": f"{noun} 0"}
        if self.num_members > 1:
            described["ensemble"] = f"{self.num_members} {noun}s averaged"
        described.update({f"peer_{i}": f"{noun} {i}"
                          for i in self._other_members()})
        return described

    def report_metrics(self):
        metrics = {"target": "member_0_accuracy"}
        if self.num_members > 1:
            metrics["ensemble"] = "ensemble_accuracy"
        metrics.update({f"peer_{i}": f"member_{i}_accuracy"
                        for i in self._other_members()})
        return metrics

    def _other_members(self):
        """The members deployed as `peer_{i}`: none unless
        `deploys_every_member`."""
        return range(1, self.num_members) if self.deploys_every_member \
            else range(0)

    def get_config(self):
        return {**super().get_config(),
                "network": keras.saving.serialize_keras_object(self.network)}

    @classmethod
    def from_config(cls, config):
        network = keras.saving.deserialize_keras_object(config["network"])
        return cls(**{**config, "network": network})


def member_cross_entropy(y, member_logits):
    """Per-sample sum over members of each member's cross-entropy."""
    num_members = member_logits.shape[1]
    return sum(sparse_ce(y, member_logits[:, i]) for i in range(num_members))


def _check_peer_network(network):
    outputs = getattr(network, "output", None)
    if not isinstance(network, keras.Model) or not isinstance(outputs, dict) \
            or set(outputs) != set(OUTPUT_KEYS):
        raise ValueError(
            "`network` must be a functional model from "
            "`one_keras.methods.peers.build_peer_network` with the outputs "
            f"{list(OUTPUT_KEYS)}. Received: network={network!r}")


__all__ = ["PeersModel", "ProbabilityAverage", "build_peer_network",
           "build_peers", "member_cross_entropy"]

"""Snapshot ensembles (Huang et al., ICLR 2017; paper Table 4).

One network trains with a cyclic cosine learning rate that restarts `M`
times; at the end of each cycle its weights are kept as a snapshot, and the
deployed model averages the snapshots' class probabilities. Training costs
as much as one network; testing costs `M` networks.

Paper: https://arxiv.org/abs/1704.00109
"""

import dataclasses
import os

import keras
from keras import ops

from one_keras.methods.kd import check_logits_model
from one_keras.methods.method import Method
from one_keras.methods.method import Options
from one_keras.methods.method import option
from one_keras.methods.method_model import MethodModel
from one_keras.methods.method_model import WEIGHT_DECAY
from one_keras.methods.method_model import sparse_ce
from one_keras.methods.method_model import weighted_mean
from one_keras.methods.peers import build_peers
from one_keras.models import deployment
from one_keras.utils import validation


def cyclic_cosine_decay(initial_learning_rate, total_steps, cycles):
    """Cosine annealing restarted `cycles` times (snapshot ensembles, Eq. 2).

    `lr(t) = initial_learning_rate / 2 * (1 + cos(pi * r))`, where `r` in
    [0, 1) is the position of step `t` in its cycle of
    `total_steps / cycles` steps: it starts each cycle at
    `initial_learning_rate` and falls towards 0 at the cycle's end. This is
    Keras' `CosineDecayRestarts` with cycles of equal length and height.

    Args:
        initial_learning_rate: float. The rate at the start of each cycle.
        total_steps: int. Optimizer steps of the whole run.
        cycles: int. Number of cycles `M` (snapshots), >= 1.

    Returns:
        A `keras.optimizers.schedules.CosineDecayRestarts`.
    """
    validation.check_positive("initial_learning_rate", initial_learning_rate)
    validation.check_int_at_least("total_steps", total_steps, 1)
    validation.check_int_at_least("cycles", cycles, 1)
    if cycles > total_steps:
        raise ValueError(
            "`cycles` must be <= `total_steps`. Received: "
            f"cycles={cycles}, total_steps={total_steps}")
    return keras.optimizers.schedules.CosineDecayRestarts(
        float(initial_learning_rate), total_steps / cycles, t_mul=1.0,
        m_mul=1.0)


@keras.saving.register_keras_serializable(package="one_keras")
class CyclicCosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The registered name of the schedule of earlier versions: an older
    `.keras` file's optimizer config names it, and `from_config` loads it
    as `cyclic_cosine_decay` (the same rates). Not for new code."""

    @classmethod
    def from_config(cls, config):
        return cyclic_cosine_decay(**config)


class SnapshotCallback(keras.callbacks.Callback):
    """Takes a snapshot of a `SnapshotModel` at the end of each cycle.

    With `M` snapshots over `E` epochs, a snapshot is taken after each epoch
    `e` (1-based) where `floor(e * M / E)` increases: after every `E / M`
    epochs when `M` divides `E`, matching a `cyclic_cosine_decay` over the same
    run. `SnapshotModel.fit` adds it by itself.

    Args:
        epochs: int. Epochs of the run.
        directory: str or `None`. If given, each snapshot's weights are also
            written to `directory/snapshot_{k}.weights.h5`. Defaults to
            `None`.
    """

    def __init__(self, epochs, directory=None):
        super().__init__()
        validation.check_int_at_least("epochs", epochs, 1)
        self.epochs = epochs
        self.directory = directory

    def on_train_begin(self, logs=None):
        if self.model.num_snapshots > self.epochs:
            raise ValueError(
                f"A snapshot is taken at most once an epoch, so "
                f"{self.model.num_snapshots} snapshots need at least as many "
                "epochs: raise `epochs` or build the model with fewer "
                f"`num_snapshots`. Received: epochs={self.epochs}, "
                f"num_snapshots={self.model.num_snapshots}")

    def on_epoch_end(self, epoch, logs=None):
        slots = self.model.num_snapshots
        if (epoch + 1) * slots // self.epochs > epoch * slots // self.epochs:
            index = self.model.take_snapshot()
            if self.directory:
                os.makedirs(self.directory, exist_ok=True)
                self.model.network.save_weights(os.path.join(
                    self.directory, f"snapshot_{index}.weights.h5"))


@keras.saving.register_keras_serializable(package="one_keras")
class SnapshotModel(MethodModel):
    """A network trained in cycles, and the ensemble of its snapshots.

    `network` trains with cross-entropy plus coupled weight decay; at each
    cycle end `take_snapshot` copies its weights (BN statistics included)
    into the next of `num_snapshots` frozen copies, kept in `snapshots` (a
    `build_peer_network` of plain networks) and saved with the model. Train
    it with a `cyclic_cosine_decay` of `num_snapshots` cycles over the run.
    It reports `loss`, `ce`, `accuracy` (the current network) and
    `ensemble_accuracy` (the snapshots taken so far; the current network
    before the first).

    Args:
        network: `keras.Model`. A plain network, images -> logits.
        snapshots: `keras.Model`. A `build_peer_network` of `num_snapshots`
            networks with `network`'s architecture.
        weight_decay: float. Coupled L2 weight decay. Defaults to `1e-4`.
        normalization: dict or `None`. Recorded for export.

    Example:
    ```python
    model = one_keras.methods.build_method_model(
        "snapshot", num_classes=100, input_shape=(32, 32, 3),
        num_snapshots=5, depth=32)
    schedule = one_keras.methods.snapshot.cyclic_cosine_decay(
        0.1, total_steps=steps_per_epoch * 300, cycles=5)
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9))
    model.fit(train, epochs=300)  # takes a snapshot every 60 epochs
    deployed = model.deployed_model()  # averages the 5 snapshots
    ```
    """

    def __init__(self, network, snapshots, weight_decay=WEIGHT_DECAY,
                 normalization=None, **kwargs):
        check_logits_model("network", network)
        outputs = getattr(snapshots, "output", None)
        if not isinstance(outputs, dict) or "member_logits" not in outputs:
            raise ValueError(
                "`snapshots` must be a network from `build_peer_network`. "
                f"Received: snapshots={snapshots!r}")
        super().__init__(weight_decay=weight_decay,
                         normalization=normalization, **kwargs)
        snapshots.trainable = False
        self.network = network
        self.snapshots = snapshots
        self.num_snapshots = outputs["member_logits"].shape[1]
        self.num_classes = network.output.shape[-1]
        self._check_same_weights(self.snapshots.get_layer("member0"))
        self.snapshots_taken = self.add_weight(
            shape=(), dtype="int32", trainable=False, name="snapshots_taken",
            initializer="zeros")
        self.accuracy = keras.metrics.SparseCategoricalAccuracy(
            name="accuracy")
        self.ensemble_accuracy = keras.metrics.SparseCategoricalAccuracy(
            name="ensemble_accuracy")
        self.built = True

    def _check_same_weights(self, member):
        shapes = [tuple(w.shape) for w in self.network.weights]
        member_shapes = [tuple(w.shape) for w in member.weights]
        if shapes != member_shapes:
            raise ValueError(
                "`snapshots` members must have `network`'s weights, in the "
                "same order. Received: different weight shapes.")

    def call(self, images, training=None):
        logits = self.network(images, training=training)
        if training:  # The snapshots are not needed to train: skip them.
            return {"logits": logits}
        return {"logits": logits,
                "ensemble_logits": self._ensemble_logits(images, logits)}

    def _ensemble_logits(self, images, logits):
        """Log of the mean probability of the snapshots taken so far."""
        member_logits = self.snapshots(images, training=False)[
            "member_logits"]
        log_p = ops.log_softmax(ops.cast(member_logits, "float32"), axis=-1)
        taken = ops.cast(self.snapshots_taken, "int32")
        mask = ops.arange(self.num_snapshots) < taken
        masked = ops.where(ops.reshape(mask, (1, -1, 1)), log_p,
                           ops.full_like(log_p, -1e30))
        count = ops.cast(ops.maximum(taken, 1), "float32")
        ensemble = ops.logsumexp(masked, axis=1) - ops.log(count)
        return ops.where(taken > 0, ensemble, ops.cast(logits, "float32"))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        y = self.check_label_range(y)
        ce = weighted_mean(sparse_ce(y, y_pred["logits"]), sample_weight)
        self.ce_tracker.update_state(ce)
        return self.finish_loss(ce)

    def update_metrics(self, x, y, y_pred, sample_weight=None):
        self.accuracy.update_state(y, y_pred["logits"], sample_weight)
        if self._compile_metrics is not None:
            self._compile_metrics.update_state(y, y_pred["logits"],
                                               sample_weight)
        logs = self.get_metrics_result()
        if "ensemble_logits" not in y_pred:  # Training: no ensemble.
            logs.pop("ensemble_accuracy")
            return logs
        self.ensemble_accuracy.update_state(y, y_pred["ensemble_logits"],
                                            sample_weight)
        logs["ensemble_accuracy"] = self.ensemble_accuracy.result()
        return logs

    def take_snapshot(self):
        """Copies the network's weights into the next snapshot slot.

        Returns:
            The index of the slot written.
        """
        index = int(ops.convert_to_numpy(self.snapshots_taken))
        if index >= self.num_snapshots:
            raise ValueError(
                f"All {self.num_snapshots} snapshots are taken; train with "
                "as many cycles as `num_snapshots`. Received: another "
                "snapshot.")
        member = self.snapshots.get_layer(f"member{index}")
        for source, target in zip(self.network.weights, member.weights):
            # A copy, not the array itself: JAX's `assign` would make both
            # variables hold one buffer, which the next jitted train step
            # donates twice ("Attempt to donate the same buffer twice").
            target.assign(ops.convert_to_numpy(source))
        self.snapshots_taken.assign(index + 1)
        return index

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto",
            callbacks=None, **kwargs):
        callbacks = list(callbacks or [])
        if not any(isinstance(c, SnapshotCallback) for c in callbacks):
            callbacks.append(SnapshotCallback(epochs))
        return super().fit(x, y, batch_size=batch_size, epochs=epochs,
                           verbose=verbose, callbacks=callbacks, **kwargs)

    # Table 4 compares the snapshot ensemble.
    default_deployable = "ensemble"

    def target_model(self, name=None):
        """The network being trained (its latest weights: after `fit`, the
        last snapshot)."""
        return self.network

    def ensemble_model(self, name=None):
        """The snapshots taken so far, averaged (images -> log of the mean
        probability), in stock Keras layers."""
        taken = int(ops.convert_to_numpy(self.snapshots_taken))
        if taken == 0:
            raise ValueError(
                "No snapshot is taken yet: train with `fit` first. "
                "Received: snapshots_taken=0")
        inputs = keras.Input(shape=self.network.input.shape[1:],
                             name="images")
        members = [self.snapshots.get_layer(f"member{i}")(inputs)
                   for i in range(taken)]
        return keras.Model(inputs,
                           deployment.average_probabilities(members),
                           name=name or "snapshot_ensemble")

    def deployable_cores(self):
        """`target` (the last snapshot: the trained network) and
        `ensemble` (the snapshots taken, averaged)."""
        return {"target": self.target_model(),
                "ensemble": self.ensemble_model()}

    def describe_deployables(self):
        taken = int(ops.convert_to_numpy(self.snapshots_taken))
        return {"target": "last snapshot",
                "ensemble": (f"{taken} snapshots averaged" if taken > 1
                             else "1 snapshot")}

    def report_metrics(self):
        return {"target": "accuracy", "ensemble": "ensemble_accuracy"}

    def get_config(self):
        return {**super().get_config(),
                "network": keras.saving.serialize_keras_object(self.network),
                "snapshots": keras.saving.serialize_keras_object(
                    self.snapshots)}

    @classmethod
    def from_config(cls, config):
        network = keras.saving.deserialize_keras_object(config["network"])
        snapshots = keras.saving.deserialize_keras_object(config["snapshots"])
        return cls(**{**config, "network": network, "snapshots": snapshots})


@dataclasses.dataclass(frozen=True)
class SnapshotOptions(Options):
    """The snapshot ensemble's options."""

    num_snapshots: int = option(5, "Snapshots (cosine "
                                "cycles).", lower_bound=1)


def check(options, epochs):
    """A snapshot is taken at an epoch's end: at most one per epoch."""
    if options.num_snapshots > epochs:
        raise ValueError(
            "`num_snapshots` must be <= `epochs` for method 'snapshot' "
            "(a snapshot is taken at an epoch's end): lower "
            "--num_snapshots or raise --epochs. Received: "
            f"num_snapshots={options.num_snapshots}, epochs={epochs}")


def build(options, request):
    """The snapshot ensemble's training model: a network and its
    `num_snapshots` frozen copies."""
    snapshots = build_peers(request.model_name, request.num_classes,
                            options.num_snapshots,
                            input_shape=request.input_shape,
                            name="snapshots", sync_bn=request.sync_bn,
                            **request.architecture)
    return SnapshotModel(request.plain_network("network"), snapshots,
                         **request.model_arguments)


def callbacks(options, epochs):
    """Takes the snapshots at the cycles' ends."""
    return [SnapshotCallback(epochs)]


def schedule(options, lr, total_steps):
    """Cosine annealing restarted once per snapshot."""
    return cyclic_cosine_decay(lr, total_steps, options.num_snapshots)


METHOD = Method(name="snapshot", summary="snapshot ensemble of one network "
                "trained in cosine cycles (Table 4)",
                options=SnapshotOptions, build=build, callbacks=callbacks,
                schedule=schedule, check=check)

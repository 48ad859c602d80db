"""`ONEModel`: trains a ONE network with the ONE loss through `fit`."""

import keras
import numpy as np
from keras import ops

from one_keras.methods.method_model import MethodModel
from one_keras.methods.method_model import WEIGHT_DECAY
from one_keras.methods.method_model import weighted_mean
from one_keras.methods.one import loss as losses
from one_keras.methods.one.callbacks import add_kl_ramp
from one_keras.methods.one.callbacks import with_kl_rampup
from one_keras.methods.one.layers import UniformGate
from one_keras.utils import validation


OUTPUT_KEYS = ("branch_logits", "gate", "teacher_logits")


@keras.saving.register_keras_serializable(package="one_keras")
class ONEModel(MethodModel):
    """A ONE network with its loss, metrics and deployment models.

    `train_step` minimises the ONE loss (paper Eq. 6) plus coupled L2 weight
    decay and reports `loss`, `ce`, `kl`, `branch_{i}_accuracy` and
    `teacher_accuracy` (and `*_top5_accuracy` when there are more than 10
    classes). Metrics given to `compile` score the teacher logits. It trains
    through Keras' own step on every backend (TensorFlow, JAX, torch), under
    `tf.distribute` strategies, `keras.distribution.DataParallel` (JAX) and
    mixed precision.

    Paper: https://arxiv.org/abs/1806.04606

    Args:
        network: `keras.Model`. A functional network from
            `one_keras.build_one_network`, with outputs `branch_logits`,
            `gate` and `teacher_logits`.
        temperature: float. Distillation temperature `T` > 0. Defaults to
            `3.0`.
        kl_weight: float. Weight of the distillation term, >= 0 (0 is the
            "without online distillation" ablation). Defaults to `1.0`.
        kl_rampup_epochs: int. Epochs over which the KL weight ramps up as
            `exp(-5 (1 - e / R)^2)` (the authors' code uses 80); 0 turns it
            off. Defaults to `0`.
        weight_decay: float. Coupled L2 weight decay on all trainable weights,
            as PyTorch SGD's `weight_decay`: `(wd / 2) * sum(w^2)` is added to
            the loss. Defaults to `1e-4`.
        normalization: dict or `None`. The input normalisation the network was
            trained with, `{"mean": [...], "std": [...]}` per channel, applied
            to pixels scaled to [0, 1]. Recorded for export. Defaults to
            `None`.

    Example:
    ```python
    model = one_keras.methods.one.build_one_resnet(depth=32, num_classes=10)
    model.compile(optimizer="sgd")
    model.fit(images, labels, epochs=10, validation_data=(x_val, y_val))
    target = model.target_model()
    ```
    """

    def __init__(self, network, temperature=losses.ONE_TEMPERATURE,
                 kl_weight=1.0, kl_rampup_epochs=0,
                 weight_decay=WEIGHT_DECAY, normalization=None, **kwargs):
        _check_network(network)
        validation.check_positive("temperature", temperature)
        validation.check_non_negative("kl_weight", kl_weight)
        validation.check_int_at_least("kl_rampup_epochs", kl_rampup_epochs, 0)
        _check_normalization(normalization, network.input.shape[-1])
        super().__init__(weight_decay=weight_decay,
                         normalization=normalization, **kwargs)
        self.network = network
        self.temperature = float(temperature)
        self.kl_weight = float(kl_weight)
        self.kl_rampup_epochs = int(kl_rampup_epochs)
        branch_shape = network.output["branch_logits"].shape
        self.num_branches, self.num_classes = branch_shape[1], branch_shape[2]
        self.kl_ramp = add_kl_ramp(self, self.kl_rampup_epochs)
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self._accuracy_metrics = self._build_accuracy_metrics()
        self.built = True

    def _build_accuracy_metrics(self):
        """One accuracy (and top-5 beyond 10 classes) per branch and teacher."""
        names = [f"branch_{i}" for i in range(self.num_branches)] + ["teacher"]
        metrics = [keras.metrics.SparseCategoricalAccuracy(
            name=f"{n}_accuracy") for n in names]
        if self.num_classes > 10:
            metrics += [keras.metrics.SparseTopKCategoricalAccuracy(
                k=5, name=f"{n}_top5_accuracy") for n in names]
        return metrics

    def call(self, images, training=None):
        return self.network(images, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        y = self.check_label_range(y)
        ce, kl = losses.one_loss_terms(
            y, y_pred["branch_logits"], y_pred["teacher_logits"],
            self.temperature, reduce=False)
        ce = weighted_mean(ce, sample_weight)
        kl = weighted_mean(kl, sample_weight)
        self.ce_tracker.update_state(ce)
        self.kl_tracker.update_state(kl)
        return self.finish_loss(
            ce + self.kl_weight * ops.cast(self.kl_ramp, "float32") * kl)

    def update_metrics(self, x, y, y_pred, sample_weight=None):
        branch_logits = y_pred["branch_logits"]
        teacher_logits = y_pred["teacher_logits"]
        num_heads = self.num_branches + 1
        for index, metric in enumerate(self._accuracy_metrics):
            head = index % num_heads
            logits = (teacher_logits if head == self.num_branches
                      else branch_logits[:, head])
            metric.update_state(y, logits, sample_weight)
        if self._compile_metrics is not None:
            self._compile_metrics.update_state(y, teacher_logits,
                                               sample_weight)
        return self.get_metrics_result()

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto",
            callbacks=None, **kwargs):
        return super().fit(
            x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
            callbacks=with_kl_rampup(callbacks, self.kl_rampup_epochs),
            **kwargs)

    def target_model(self, name=None):
        """The deployable target network: the trunk and branch 0.

        Returns:
            A functional `keras.Model` sharing this model's weights, mapping
            images to branch 0's logits. It has the vanilla network's
            architecture and parameter count.
        """
        return keras.Model(
            self.network.input,
            self.network.get_layer("branch0_logits").output,
            name=name or f"{self.network.name}_target")

    def ensemble_model(self, name=None):
        """The ONE-E ensemble: trunk, every branch and the gate.

        Returns:
            A functional `keras.Model` sharing this model's weights, mapping
            images to the teacher's class probabilities.
        """
        probabilities = keras.layers.Softmax(
            name="teacher_probabilities", dtype="float32")(
                self.network.get_layer("teacher_logits").output)
        return keras.Model(self.network.input, probabilities,
                           name=name or f"{self.network.name}_ensemble")

    def deployable_cores(self):
        """`target` (trunk and branch 0) and, with more than one branch,
        `ensemble` (ONE-E: every branch and the gate), both images ->
        logits, in stock Keras layers (the average gate is the mean of the
        branch logits)."""
        cores = {"target": self.target_model()}
        if self.num_branches < 2:
            return cores
        if isinstance(self.network.get_layer("gate"), UniformGate):
            branches = [self.network.get_layer(f"branch{i}_logits").output
                        for i in range(self.num_branches)]
            teacher = keras.layers.Average(name="teacher_logits_mean")(
                branches)
        else:
            teacher = self.network.get_layer("teacher_logits").output
        cores["ensemble"] = keras.Model(
            self.network.input, teacher,
            name=f"{self.network.name}_ensemble")
        return cores

    def describe_deployables(self):
        if self.num_branches < 2:
            return {"target": "the network"}
        return {"target": "branch 0", "ensemble": "ONE-E"}

    def report_metrics(self):
        metrics = {"target": "branch_0_accuracy"}
        if self.num_branches > 1:
            metrics["ensemble"] = "teacher_accuracy"
        return metrics

    def report_fields(self, results):
        """The common fields and every branch's accuracy: `branch_accuracy`
        (list), `branch_accuracy_mean`, `branch_accuracy_std`."""
        fields = super().report_fields(results)
        if self.num_branches > 1:
            fields.update(branch_accuracy_fields(
                results, [f"branch_{i}_accuracy"
                          for i in range(self.num_branches)]))
        return fields

    def get_config(self):
        return {
            **super().get_config(),
            "network": keras.saving.serialize_keras_object(self.network),
            "temperature": self.temperature,
            "kl_weight": self.kl_weight,
            "kl_rampup_epochs": self.kl_rampup_epochs,
        }

    @classmethod
    def from_config(cls, config):
        network = keras.saving.deserialize_keras_object(config["network"])
        return cls(**{**config, "network": network})


def branch_accuracy_fields(results, metric_names):
    """A report's fields of every branch's accuracy (ONE's, and those of
    the methods that report their peers as ONE's branches).

    Args:
        results: dict. `evaluate` results.
        metric_names: list of str. Each branch's accuracy metric, in order.

    Returns:
        A dict: `branch_accuracy` (list), `branch_accuracy_mean`,
        `branch_accuracy_std`.
    """
    accuracies = [float(results[name]) for name in metric_names]
    return {"branch_accuracy": accuracies,
            "branch_accuracy_mean": float(np.mean(accuracies)),
            "branch_accuracy_std": float(np.std(accuracies))}


def _check_network(network):
    """Raises unless `network` is a functional ONE network."""
    outputs = getattr(network, "output", None)
    if not isinstance(network, keras.Model) or not isinstance(outputs, dict) \
            or set(outputs) != set(OUTPUT_KEYS):
        raise ValueError(
            "`network` must be a functional model from "
            "`one_keras.build_one_network` with the outputs "
            f"{list(OUTPUT_KEYS)}. Received: network={network!r}")


def _check_normalization(normalization, channels):
    """Raises unless `normalization` is `None` or per-channel mean and std."""
    if normalization is None:
        return
    if not isinstance(normalization, dict) or \
            set(normalization) != {"mean", "std"}:
        raise ValueError(
            "`normalization` must be None or a dict with the keys 'mean' and "
            f"'std'. Received: normalization={normalization!r}")
    for key in ("mean", "std"):
        values = normalization[key]
        if len(values) not in (1, channels):
            raise ValueError(
                f"`normalization['{key}']` must have 1 or {channels} values, "
                f"one per input channel. Received: {values!r}")
    if min(normalization["std"]) <= 0:
        raise ValueError("`normalization['std']` must be > 0. Received: "
                         f"{normalization['std']!r}")

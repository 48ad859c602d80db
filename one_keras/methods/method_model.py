"""`MethodModel`: the loss and metrics of `ONEModel` and every baseline.

ONE and the baselines (KD, DML, independent ensembles, snapshot ensembles)
train alike, through Keras' own `train_step` on every backend: a subclass
defines `compute_loss` (through `finish_loss`, which adds coupled L2 weight
decay, PyTorch SGD's `weight_decay` (docs/method.md section 3), and
regularizer losses) and `update_metrics` (which `compute_metrics` feeds
float32 outputs), and the models it deploys.
"""

import keras
import numpy as np
from keras import ops

from one_keras.models import deployment
from one_keras.utils import backends
from one_keras.utils import validation


# Starts the message of the label check (see `backends.check_label_range`).
LABEL_RANGE_ERROR = backends.LABEL_RANGE_ERROR
# Coupled L2 weight decay of the paper's CIFAR recipe.
WEIGHT_DECAY = 1e-4


class MethodModel(keras.Model):
    """Base of the training models of every method (not used on its own).

    It logs `loss` (Keras' own tracker: the total, weight decay included)
    and `ce`; a subclass adds its trackers and accuracies as attributes,
    which Keras tracks and resets every epoch.

    Args:
        weight_decay: float. Coupled L2 weight decay on all trainable
            weights: `(weight_decay / 2) * sum(w^2)` is added to the loss.
            Defaults to `1e-4`.
        normalization: dict or `None`. The input normalisation the network
            was trained with, recorded for export. Defaults to `None`.
    """

    def __init__(self, weight_decay=WEIGHT_DECAY, normalization=None,
                 **kwargs):
        validation.check_non_negative("weight_decay", weight_decay)
        super().__init__(**kwargs)
        self.weight_decay = float(weight_decay)
        self.normalization = normalization
        self.ce_tracker = keras.metrics.Mean(name="ce")

    def _track_variables(self):
        """(torch backend only: Keras' `TorchLayer` calls it.) Registers
        every variable as a torch parameter under a key of its own.

        Keras keys them by `variable.path`, which is not unique here: the
        members of DML, ensembles and snapshots (and a KD teacher) repeat
        their layer names, so `stem_conv/kernel` was registered once,
        `zero_grad` skipped the other members' weights and their gradients
        summed over steps.
        """
        import torch

        self._torch_params = torch.nn.ParameterDict({
            f"{index}:{variable.path}".replace(".", "_"): variable.value
            for index, variable in enumerate(self.variables)})

    def weight_decay_loss(self):
        """`(weight_decay / 2) * sum(w^2)` over all trainable weights."""
        if not self.weight_decay or not self.trainable_variables:
            return ops.zeros((), "float32")
        squares = [ops.sum(ops.square(ops.cast(v, "float32")))
                   for v in self.trainable_variables]
        return 0.5 * self.weight_decay * ops.sum(ops.stack(squares))

    def finish_loss(self, loss):
        """Adds weight decay and regularizer losses and divides the total
        by the number of replicas whose gradients are summed (TensorFlow
        strategies; Keras' `loss` tracker multiplies it back)."""
        loss = loss + self.weight_decay_loss()
        for extra in self.losses:
            loss = loss + ops.cast(ops.sum(extra), "float32")
        return loss / backends.replicas_in_sync()

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Keras' metrics hook: `update_metrics` of `y_pred` cast to float32
        (`float32_outputs`), so that no method scores mixed-precision
        logits; a method overrides `update_metrics`."""
        return self.update_metrics(x, y, float32_outputs(y_pred),
                                   sample_weight)

    def update_metrics(self, x, y, y_pred, sample_weight=None):
        """Updates the metrics with the model's outputs (in float32).

        Defaults to Keras' own: the metrics given to `compile` score
        `y_pred`.

        Args:
            x: The inputs.
            y: The labels.
            y_pred: The model's outputs, floating tensors in float32.
            sample_weight: The sample weights, or `None`.

        Returns:
            A dict: metric name -> value (`get_metrics_result()`).
        """
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def check_label_range(self, y):
        """`y`, after checking that every label is a class index (see
        `one_keras.utils.backends.check_label_range`)."""
        return backends.check_label_range(y, getattr(self, "num_classes",
                                                     None))

    # The deployable a paper's table compares (`deployed_model`, a report's
    # `deployed`): `"target"`, or `"ensemble"` for the ensemble methods.
    default_deployable = "target"

    def deployable_cores(self):
        """The models this method deploys, by name, on normalised images.

        Every method has `target` (its small deployable); a method with an
        ensemble adds `ensemble`; a method may add more (DML's `peer_1`).

        Returns:
            A dict: name -> functional `keras.Model` sharing this model's
            weights, mapping normalised images to logits `(batch,
            classes)` (an ensemble's: the log of its mean probability).
        """
        return {"target": self.target_model()}

    def describe_deployables(self):
        """What each deployable is, in a few words, for the report.

        Returns:
            A dict: name -> str (e.g. `{"target": "branch 0", "ensemble":
            "ONE-E"}`), the keys of `deployable_cores`.
        """
        return {"target": "the network"}

    def report_metrics(self):
        """The `evaluate` result that scores each deployable.

        Returns:
            A dict: deployable name -> metric name (its top-1 accuracy;
            the same name with `_top5_` for top-5, where logged). A
            deployable left out is scored by running it on the test data
            (`one_keras.reports.run_report.accuracy_fields`). Defaults to none.
        """
        return {}

    def report_fields(self, results):
        """Turns `evaluate` results into the report's accuracy fields.

        Args:
            results: dict. `self.evaluate(..., return_dict=True)`.

        Returns:
            A dict: `deployables` (`describe_deployables`), `deployed`
            (`default_deployable`), `{name}_accuracy` for every deployable
            (and `{name}_top5_accuracy` where `evaluate` logs it) and
            `metrics` (every result).
        """
        fields = {"deployables": self.describe_deployables(),
                  "deployed": self.default_deployable}
        for name, metric in self.report_metrics().items():
            fields[f"{name}_accuracy"] = float(results[metric])
            top5 = metric.replace("_accuracy", "_top5_accuracy")
            if top5 != metric and top5 in results:
                fields[f"{name}_top5_accuracy"] = float(results[top5])
        fields["metrics"] = {key: float(value)
                             for key, value in results.items()}
        return fields

    def deployables(self, include_preprocessing=True):
        """Every deployable, as a run writes it and export serves it.

        Args:
            include_preprocessing: bool. `True`: each takes raw 0-255
                pixels and applies `normalization` itself (a stock
                `Rescaling` layer); `False`: normalised images. Defaults
                to `True`.

        Returns:
            A dict: name -> functional `keras.Model` sharing this model's
            weights, images -> logits.
        """
        cores = self.deployable_cores()
        if not include_preprocessing:
            return cores
        return {name: deployment.with_preprocessing(core, self.normalization,
                                                    name=name)
                for name, core in cores.items()}

    def target_model(self, name=None):
        """The single network this method trains towards (trunk and branch 0
        for ONE, the student for KD, peer 0 for DML...).

        Returns:
            A functional `keras.Model` sharing this model's weights, mapping
            images to logits.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must define `target_model`.")

    def deployed_model(self, name=None):
        """The deployable a paper's table compares (`default_deployable`):
        the target, or the ensemble of an ensemble method.

        Returns:
            A functional `keras.Model` mapping normalised images to logits.
        """
        return self.deployable_cores()[self.default_deployable]

    def training_networks(self):
        """The networks one training step runs forward (for the training
        cost): the network being trained; a method adds what else runs
        (KD's teacher).

        Returns:
            A list of `keras.Model`.
        """
        return [self.network]

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None,
                *args, **kwargs):
        """Keras' `compile`, without `loss` or `loss_weights`: the method
        defines its loss (`compute_loss`), which one given here would not
        replace."""
        for name, value in (("loss", loss), ("loss_weights", loss_weights)):
            if value is not None:
                raise ValueError(
                    f"`{name}` must not be given to "
                    f"{type(self).__name__}.compile: the method defines its "
                    f"own loss (`compute_loss`, e.g. ONE's cross-entropy of "
                    f"every branch and the teacher plus the distillation "
                    f"term), which it would not replace. Compile with an "
                    f"optimizer only. Received: {name}={value!r}")
        super().compile(optimizer, None, None, *args, **kwargs)

    def compile_from_config(self, config):
        """Compiles a loaded model as it was saved (Keras skips a custom
        `compile` otherwise, and the loaded model would not be compiled)."""
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        # Labels given as arrays are checked here: a jitted JAX step cannot.
        self.check_array_labels(y, "y")
        if isinstance(validation_data, (tuple, list)) and \
                len(validation_data) >= 2:
            self.check_array_labels(validation_data[1], "validation_data")
        self.build_optimizer()
        with backends.readable_label_errors():
            return super().fit(x, y, *args, validation_data=validation_data,
                               **kwargs)

    def build_optimizer(self):
        """Creates the optimizer's variables, in the model's strategy, if
        they do not exist yet; a training loop calls it before it traces
        its step.

        Without it, on TensorFlow Keras creates them inside the first trace
        of the training step, and TensorFlow then traces the step a second
        time (a function may create variables only on its first trace):
        building them first halves the start-up of every `fit`.
        """
        if (self.built and self.optimizer is not None
                and not self.optimizer.built):
            if backends.is_tensorflow():
                with self.distribute_strategy.scope():
                    self.optimizer.build(self.trainable_variables)
            else:
                self.optimizer.build(self.trainable_variables)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self.check_array_labels(y, "y")
        with backends.readable_label_errors():
            return super().evaluate(x, y, *args, **kwargs)

    def check_array_labels(self, labels, name):
        """Checks labels given as arrays or tensors (not datasets) against
        `num_classes` before any step runs: a jitted JAX step cannot.

        Args:
            labels: array, tensor, list or anything else (then unchecked).
            name: str. The argument's name, for the error.
        """
        num_classes = getattr(self, "num_classes", None)
        if num_classes is None or labels is None:
            return
        if isinstance(labels, (np.ndarray, list)) or ops.is_tensor(labels):
            validation.check_labels(
                np.asarray(ops.convert_to_numpy(labels)), num_classes, name)

    def get_config(self):
        config = super().get_config()
        config.update({"weight_decay": self.weight_decay,
                       "normalization": self.normalization})
        return config


def deployed_model(model):
    """What a user deploys or distils from: a method model's default
    deployable (normalised images -> logits, see
    `MethodModel.deployed_model`); a deployed `.keras` without its
    normalisation (`deployment.core_of`); any other model as it is."""
    if hasattr(model, "deployable_cores"):
        return model.deployed_model()
    return deployment.core_of(model)


def weighted_mean(values, sample_weight):
    """Batch mean of per-sample `values`, weighted by `sample_weight`.

    In a replica of a strategy with `k > 1` replicas it is the sum over the
    replica's slice divided by the global batch size, times `k`:
    `finish_loss` divides by `k` and the replicas' gradients are summed,
    which gives the global batch's mean also when a last, partial batch is
    split unevenly (a plain per-replica mean would weigh every replica
    alike).
    """
    values = ops.cast(values, "float32")
    if sample_weight is not None:
        values = values * ops.reshape(ops.cast(sample_weight, "float32"),
                                      (-1,))
    return backends.global_batch_mean(values)


def float32_outputs(y_pred):
    """`y_pred` with its floating tensors cast to float32, for the metrics.

    Under a mixed policy (`mixed_bfloat16`, `mixed_float16`) the logits come
    out in the compute dtype, which some metrics' kernels refuse (TensorFlow's
    `InTopKV2` of a top-5 accuracy takes float32 only);
    `MethodModel.compute_metrics` scores these instead.

    Args:
        y_pred: a tensor or a dict of tensors (the model's outputs).

    Returns:
        The same structure, floating tensors in float32.
    """
    def cast(value):
        if keras.backend.is_float_dtype(value.dtype):
            return ops.cast(value, "float32")
        return value

    return keras.tree.map_structure(cast, y_pred)


def sparse_ce(y_true, logits):
    """Per-sample cross-entropy of integer labels and logits, in float32."""
    labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
    return keras.losses.sparse_categorical_crossentropy(
        labels, ops.cast(logits, "float32"), from_logits=True)

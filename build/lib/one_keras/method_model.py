"""`MethodModel`: the loss and metrics of `ONEModel` and every baseline.

ONE and the baselines (KD, DML, independent ensembles, snapshot ensembles)
train alike, through Keras' own `train_step` on every backend: a subclass
defines `compute_loss` (through `finish_loss`, which adds coupled L2 weight
decay, PyTorch SGD's `weight_decay` (docs/method.md section 3), and
regularizer losses) and `compute_metrics`, and the models it deploys.
"""

import keras
import numpy as np
from keras import ops

from one_keras import backends
from one_keras import validation

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

    def check_label_range(self, y):
        """`y`, after checking that every label is a class index (see
        `one_keras.backends.check_label_range`)."""
        return backends.check_label_range(y, getattr(self, "num_classes",
                                                     None))

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
        """What the method deploys; the target unless the method deploys an
        ensemble (DML's peer 0, the snapshot ensemble...).

        Returns:
            A functional `keras.Model` mapping images to logits (or
            log-probabilities).
        """
        return self.target_model(name=name)

    def training_networks(self):
        """The networks one training step runs forward (for the training
        cost): the network being trained; a method adds what else runs
        (KD's teacher).

        Returns:
            A list of `keras.Model`.
        """
        return [self.network]

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


def sparse_ce(y_true, logits):
    """Per-sample cross-entropy of integer labels and logits, in float32."""
    labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
    return keras.losses.sparse_categorical_crossentropy(
        labels, ops.cast(logits, "float32"), from_logits=True)

"""`MethodModel`: the training step of `ONEModel` and every baseline.

ONE and the baselines (KD, DML, independent ensembles, snapshot ensembles)
train alike: the step is the stock Keras step, the loss adds
coupled L2 weight decay (PyTorch SGD's `weight_decay`, docs/method.md section
3) and regularizer losses, and is divided by the number of replicas. A
subclass defines `compute_loss` (through `finish_loss`) and
`compute_metrics`.
"""

import contextlib

import keras
import tensorflow as tf
from keras import ops

from one_keras import callbacks as callbacks_lib
from one_keras import validation

# Starts the message of the in-graph label check (see `check_label_range`).
LABEL_RANGE_ERROR = "`y` must hold class labels in [0, num_classes - 1]"


class MethodModel(keras.Model):
    """Base of the baselines' training models (not used on its own).

    Args:
        weight_decay: float. Coupled L2 weight decay on all trainable
            weights: `(weight_decay / 2) * sum(w^2)` is added to the loss.
            Defaults to `1e-4`.
        normalization: dict or `None`. The input normalisation the network
            was trained with, recorded for export. Defaults to `None`.
    """

    def __init__(self, weight_decay=1e-4, normalization=None, **kwargs):
        validation.check_non_negative("weight_decay", weight_decay)
        super().__init__(**kwargs)
        self.weight_decay = float(weight_decay)
        self.normalization = normalization
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.ce_tracker = keras.metrics.Mean(name="ce")

    def loss_trackers(self):
        """The `Mean` trackers reported before the accuracies."""
        return [self.loss_tracker, self.ce_tracker]

    def accuracy_metrics(self):
        """The accuracy metrics, in report order."""
        return []

    @property
    def metrics(self):
        metrics = self.loss_trackers() + list(self.accuracy_metrics())
        if self.compiled and self._compile_metrics is not None:
            metrics.append(self._compile_metrics)
        return metrics

    def weight_decay_loss(self):
        """`(weight_decay / 2) * sum(w^2)` over all trainable weights."""
        if not self.weight_decay or not self.trainable_variables:
            return ops.zeros((), "float32")
        squares = [ops.sum(ops.square(ops.cast(v, "float32")))
                   for v in self.trainable_variables]
        return 0.5 * self.weight_decay * ops.sum(ops.stack(squares))

    def finish_loss(self, loss):
        """Adds weight decay and regularizer losses, tracks the total and
        divides it by the number of replicas (gradients are summed over
        them)."""
        loss = loss + self.weight_decay_loss()
        for extra in self.losses:
            loss = loss + ops.cast(ops.sum(extra), "float32")
        self.loss_tracker.update_state(loss)
        return loss / tf.distribute.get_strategy().num_replicas_in_sync

    def check_label_range(self, y):
        """`y`, after an in-graph check that every label is a class index.

        Out-of-range labels would otherwise end `fit`/`evaluate` with a long
        `InvalidArgumentError` from the loss; `fit` and `evaluate` turn this
        check's failure into a one-line `ValueError`. (XLA drops asserts.)

        Args:
            y: tensor or `None`. Integer class labels.

        Returns:
            `y`.
        """
        num_classes = getattr(self, "num_classes", None)
        if y is None or num_classes is None:
            return y
        labels = ops.cast(ops.reshape(y, (-1,)), "int64")
        message = (f"{LABEL_RANGE_ERROR} for a model with {num_classes} "
                   f"classes, i.e. [0, {num_classes - 1}], as integers (not "
                   "one-hot); a batch holds a label outside that range.")
        checks = [tf.debugging.assert_non_negative(labels, message=message),
                  tf.debugging.assert_less(
                      labels, tf.constant(num_classes, "int64"),
                      message=message)]
        with tf.control_dependencies(checks):
            return tf.identity(y)

    def fit(self, *args, callbacks=None, **kwargs):
        # A plain TerminateOnNaN becomes one that says what to try: fit
        # then ends with a `FloatingPointError` (at once with
        # `raise_error=True`, else after the graceful stop).
        callbacks = list(callbacks or [])
        guards = []
        for index, callback in enumerate(callbacks):
            if type(callback) is keras.callbacks.TerminateOnNaN:
                callbacks[index] = callbacks_lib.TerminateOnNaNWithAdvice(
                    raise_error=callback.raise_error)
                guards.append(callbacks[index])
        self.build_optimizer()
        with _readable_label_errors():
            history = super().fit(*args, callbacks=callbacks, **kwargs)
        for guard in guards:
            if guard.bad_batch is not None:
                raise FloatingPointError(guard.advice(
                    callbacks_lib.current_learning_rate(self)))
        return history

    def build_optimizer(self):
        """Creates the optimizer's variables, in the model's strategy, if
        they do not exist yet; a training loop calls it before it traces
        its step.

        Without a strategy, Keras creates them inside the first trace of
        the training step, and TensorFlow then traces the step a second
        time (a function may create variables only on its first trace):
        building them first halves the start-up of every `fit`.
        """
        if (self.built and self.optimizer is not None
                and not self.optimizer.built):
            with self.distribute_strategy.scope():
                self.optimizer.build(self.trainable_variables)

    def evaluate(self, *args, **kwargs):
        with _readable_label_errors():
            return super().evaluate(*args, **kwargs)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y = self.check_label_range(y)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight)
            scaled_loss = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        self.optimizer.apply(gradients, variables)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y = self.check_label_range(y)
        y_pred = self(x, training=False)
        self.compute_loss(x, y, y_pred, sample_weight, training=False)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "weight_decay": self.weight_decay,
                "normalization": self.normalization}


@contextlib.contextmanager
def _readable_label_errors():
    """Turns the failed label check into a one-line `ValueError`."""
    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        lines = [line.strip() for line in error.message.splitlines()
                 if LABEL_RANGE_ERROR in line]
        if not lines:
            raise
        message = lines[0][lines[0].index(LABEL_RANGE_ERROR):]
        raise ValueError(message) from None


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
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return ops.mean(values)
    count = ops.cast(ops.size(values), "float32")
    global_count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
    return ops.sum(values) * context.num_replicas_in_sync / global_count


def sparse_ce(y_true, logits):
    """Per-sample cross-entropy of integer labels and logits, in float32."""
    labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
    return keras.losses.sparse_categorical_crossentropy(
        labels, ops.cast(logits, "float32"), from_logits=True)

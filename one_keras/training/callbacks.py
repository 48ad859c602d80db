"""Callbacks that training runs need beside Keras' own."""

import keras
import numpy as np


class TerminateOnNaNWithAdvice(keras.callbacks.TerminateOnNaN):
    """`TerminateOnNaN` that remembers where the loss stopped being finite.

    It also stops when an epoch ends with NaN or infinite weights (a finite
    last loss can precede them). Put it before the callbacks that save, and
    let them skip the epoch when `triggered`: no saved state is then ever
    non-finite. `one_keras.training.experiment.run` turns it into an error
    that says what to try (`advice`); in a script, pass it to `fit` with
    `raise_error=True` to get that error at the bad batch.

    Args:
        raise_error: bool. As in Keras: raise at the bad batch (here a
            `FloatingPointError` with `advice`) instead of stopping
            gracefully. Defaults to `False`.
    """

    def __init__(self, raise_error=False):
        super().__init__(raise_error=raise_error)
        self.bad_batch = None
        self.bad_weights = False
        self.epoch = 0

    def advice(self, lr):
        """The one-line error: where the loss stopped, and what to try.

        Args:
            lr: float. The learning rate the run used.

        Returns:
            str.
        """
        return (
            f"The loss or weights became NaN or infinite at {self.where()}; "
            f"training stopped. Try a lower --lr (now {lr:g}), turn off "
            "--mixed_precision, or check the data (labels in range, finite "
            "normalised images).")

    @property
    def triggered(self):
        """Whether training stopped on a non-finite loss or weights."""
        return self.bad_batch is not None or self.bad_weights

    def where(self):
        """Where it stopped, e.g. `"epoch 2, batch 5"`."""
        batch = ("its end (NaN or infinite weights)" if self.bad_weights
                 else f"batch {self.bad_batch + 1}")
        return f"epoch {self.epoch + 1}, {batch}"

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        if self.raise_error:
            loss = (logs or {}).get("loss")
            if loss is not None and not np.isfinite(loss):
                self.bad_batch = batch
                raise FloatingPointError(
                    self.advice(current_learning_rate(self.model)))
            return
        stopped = self.model.stop_training
        super().on_batch_end(batch, logs)
        if self.model.stop_training and not stopped:
            self.bad_batch = batch

    def on_epoch_end(self, epoch, logs=None):
        if self.triggered:
            return
        if not all(np.all(np.isfinite(keras.ops.convert_to_numpy(w)))
                   for w in self.model.weights):
            self.bad_weights = True
            self.model.stop_training = True


def current_learning_rate(model):
    """The learning rate `model`'s optimizer uses now, as a float."""
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


class AtomicCheckpoint(keras.callbacks.Callback):
    """Saves the whole model to one `.keras` file after every epoch, atomically.

    Args:
        save: callable. `save(model)` writes the file (atomically).
        should_save: callable or `None`. The epoch is skipped when
            `should_save()` is false (e.g. the loss stopped being finite).
    """

    def __init__(self, save, should_save=None):
        super().__init__()
        self.save = save
        self.should_save = should_save

    def on_epoch_end(self, epoch, logs=None):
        if self.should_save is None or self.should_save():
            self.save(self.model)

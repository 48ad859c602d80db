"""Callbacks that ONE training needs beside Keras' own."""

import keras

from one_keras import losses


class KLRampUp(keras.callbacks.Callback):
    """Sets the KL ramp-up weight of a `ONEModel` at the start of each epoch.

    `ONEModel.fit` adds it by itself when `kl_rampup_epochs > 0`.

    Args:
        rampup_epochs: int. Epochs until the weight reaches 1.
    """

    def __init__(self, rampup_epochs):
        super().__init__()
        self.rampup_epochs = rampup_epochs

    def on_epoch_begin(self, epoch, logs=None):
        self.model.kl_ramp.assign(
            losses.kl_rampup_weight(epoch, self.rampup_epochs))


class TerminateOnNaNWithAdvice(keras.callbacks.TerminateOnNaN):
    """`TerminateOnNaN` that remembers where the loss stopped being finite.

    `one_keras.training.run` turns it into an error that says what to try.
    """

    def __init__(self):
        super().__init__()
        self.bad_batch = None
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        stopped = self.model.stop_training
        super().on_batch_end(batch, logs)
        if self.model.stop_training and not stopped:
            self.bad_batch = batch


class AtomicCheckpoint(keras.callbacks.Callback):
    """Saves the whole model to one `.keras` file after every epoch, atomically.

    Args:
        save: callable. `save(model)` writes the file (atomically).
    """

    def __init__(self, save):
        super().__init__()
        self.save = save

    def on_epoch_end(self, epoch, logs=None):
        self.save(self.model)

"""The callbacks of ONE training."""

import keras

from one_keras.methods.one import loss as losses


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

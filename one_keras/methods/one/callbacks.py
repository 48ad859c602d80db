"""ONE's KL ramp-up: the callback, and the weight, option, recipes and
`Method.callbacks` of every method that ramps its KL weight up as ONE's
authors' code does (ONE, CL-ILR, OKDDip; PCL's weight and callback)."""

import keras

from one_keras.methods.method import option
from one_keras.methods.one import loss as losses

# The authors' code ramps the KL weight up over 80 epochs (`--length`); the
# paper does not (REFERENCE.md section 3).
CODE_KL_RAMPUP_EPOCHS = 80
# The `kl_rampup_epochs` each recipe gives (a `Method`'s `recipes`).
KL_RAMPUP_RECIPES = {"paper": {"kl_rampup_epochs": 0},
                     "code": {"kl_rampup_epochs": CODE_KL_RAMPUP_EPOCHS}}


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


def add_kl_ramp(model, rampup_epochs):
    """Adds to `model` the weight `kl_ramp` that `KLRampUp` sets.

    Args:
        model: `keras.Model`. The training model.
        rampup_epochs: int. Epochs of the ramp-up (0: off).

    Returns:
        The non-trainable scalar variable, at its epoch-0 value.
    """
    return model.add_weight(
        shape=(), trainable=False, name="kl_ramp",
        initializer=keras.initializers.Constant(
            losses.kl_rampup_weight(0, rampup_epochs)))


def with_kl_rampup(callbacks, rampup_epochs):
    """A model's `fit` callbacks, with a `KLRampUp` when the ramp is on.

    Args:
        callbacks: list or `None`. The callbacks given to `fit`.
        rampup_epochs: int. Epochs of the ramp-up (0: off).

    Returns:
        A new list: `callbacks`, and `KLRampUp(rampup_epochs)` unless the
        ramp is off or they hold one.
    """
    callbacks = list(callbacks or [])
    if rampup_epochs and not any(isinstance(c, KLRampUp)
                                 for c in callbacks):
        callbacks.append(KLRampUp(rampup_epochs))
    return callbacks


def kl_rampup_option():
    """The `kl_rampup_epochs` field of a method's options dataclass.

    Returns:
        A `dataclasses.field` (default: the recipe's).
    """
    return option(
        None, "Epochs of KL weight ramp-up (0: off; default: the recipe's, "
        "paper 0, code 80).", lower_bound=0)


def kl_rampup_callbacks(options, epochs):
    """The KL ramp-up (weight 1 from the start when it is off): the
    `Method.callbacks` of a method with `kl_rampup_epochs`."""
    return [KLRampUp(options.kl_rampup_epochs or 0)]

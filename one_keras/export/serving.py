"""Builds the serving model: raw pixels in, `probabilities` and `logits` out.

The model served is one of the deployables its method declares
(`MethodModel.deployables`): `single` is `target` (ONE's trunk and branch
0, the plain network, the KD student, DML's peer 0...), `ensemble` is
`ensemble` where the method has one (ONE-E, the peers' or the snapshots'
average). A deployed `<name>.keras` (a plain Keras model) serves as
`single`.
"""

import keras

from one_keras.models import deployment
from one_keras.utils import validation


MODES = ("single", "ensemble")
# The deployable each mode serves.
MODE_DEPLOYABLES = {"single": "target", "ensemble": "ensemble"}
INPUT_NAME = "images"
OUTPUT_NAMES = ("probabilities", "logits")


def available_modes(model):
    """The export modes `model` has.

    Args:
        model: a method model or a plain Keras model (one deployable).

    Returns:
        A tuple of mode names, in `MODES` order.
    """
    if not hasattr(model, "deployable_cores"):
        return ("single",)
    names = model.describe_deployables()
    return tuple(mode for mode in MODES if MODE_DEPLOYABLES[mode] in names)


def check_exportable(model, mode, method=None):
    """Raises a `ValueError` unless `model` can be exported in `mode`.

    Args:
        model: A method model (a run's `model.keras`) or a plain Keras model
            mapping images to logits (a deployed `<name>.keras`).
        mode: str. `"single"` or `"ensemble"`.
        method: str or `None`. The method that trained `model` (its run's
            `config.json` says), where known, for the message.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(
            "`model` must be a Keras model: a run's `model.keras` or a "
            f"deployed `.keras`. Received: model={type(model).__name__}")
    validation.check_choice("mode", mode, MODES)
    modes = available_modes(model)
    if mode not in modes:
        if hasattr(model, "deployable_cores"):
            whose = (f"a {method} run's model" if method else
                     f"this {type(model).__name__}")
            what = (f"{whose} deploys only "
                    f"{', '.join(model.describe_deployables())}, no "
                    f"`{MODE_DEPLOYABLES[mode]}`")
        else:
            what = "a deployed `.keras` holds one model"
        raise ValueError(
            f"`mode` must be one of the modes this model has "
            f"({', '.join(repr(m) for m in modes)}): {what}. Received: "
            f"mode={mode!r}")


def serving_core(model, mode):
    """The deployable `mode` serves, on normalised images, and its
    normalisation.

    Returns:
        `(core, normalization)`: a `keras.Model` (normalised images ->
        logits) and the dict it was trained with, or `None` (unknown: the
        model is served as it is).
    """
    if hasattr(model, "deployable_cores"):
        return (model.deployable_cores()[MODE_DEPLOYABLES[mode]],
                model.normalization)
    if deployment.takes_raw_pixels(model):
        return deployment.core_of(model), deployment.normalization_of(model)
    return model, None


def build_serving_model(model, mode="single", include_preprocessing=True):
    """Builds the model that gets exported, sharing `model`'s weights.

    Args:
        model: A trained method model, or a deployed `<name>.keras` model.
        mode: str. `"single"`: the method's `target` deployable.
            `"ensemble"`: its `ensemble`. Defaults to `"single"`.
        include_preprocessing: bool. If `True` the model takes raw 0-255
            pixels and applies the training normalisation itself (a
            `Rescaling` layer without weights); if `False` it takes
            normalised pixels. Defaults to `True`.

    Returns:
        A functional `keras.Model` with the input `images` (float32, dynamic
        batch) and a dict of outputs `probabilities` and `logits`, both
        float32 `(batch, num_classes)`.

    Example:
    ```python
    serving = one_keras.export.build_serving_model(model, mode="single")
    serving(raw_pixels)["probabilities"]
    ```
    """
    check_exportable(model, mode)
    core, normalization = serving_core(model, mode)
    images = keras.Input(shape=core.input.shape[1:], name=INPUT_NAME,
                         dtype="float32")
    x = images
    if include_preprocessing and normalization is not None:
        x = normalization_layer(normalization)(x)
    logits = keras.layers.Activation(
        "linear", dtype="float32", name="logits")(core(x))
    probabilities = keras.layers.Softmax(
        dtype="float32", name="probabilities")(logits)
    return keras.Model(images,
                       {"probabilities": probabilities, "logits": logits},
                       name=f"{core.name}_{mode}_serving")


def serving_normalization(model, mode="single"):
    """The normalisation a model served without preprocessing expects
    (`None`: none, or unknown)."""
    return serving_core(model, mode)[1]


# `normalization_layer` lives with the deployables; kept here for callers.
normalization_layer = deployment.normalization_layer

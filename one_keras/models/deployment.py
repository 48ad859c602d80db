"""How a deployable is made from what a method model declares.

A method model (`one_keras.methods.method_model.MethodModel`) declares its
deployables by name (`deployable_cores()`: `target` always, `ensemble`
where it has one, more where it likes); this module turns one into what a
run writes as `<name>.keras` and export serves:

- `with_preprocessing`: raw 0-255 pixels in (the run's normalisation inside
  as a stock `keras.layers.Rescaling` named `normalize`), logits out;
- `stock_copy`: a float32 copy holding only stock Keras layers (a
  `FusedBatchNormalization` becomes a `BatchNormalization` with the same
  weights), which `keras.saving.load_model` reads with `safe_mode` on in a
  process that never imports one_keras;
- `average_probabilities`: the log of the members' mean class probability,
  made of stock layers only (what an ensemble deploys).
"""

import math

import keras
import numpy as np


__all__ = ["NORMALIZE_NAME", "average_probabilities", "core_of",
           "float32_config", "normalization_layer", "normalization_of",
           "stock_copy",
           "takes_raw_pixels", "with_preprocessing"]

# The name of the `Rescaling` layer that normalises raw pixels.
NORMALIZE_NAME = "normalize"
# Keras classes of one_keras that have a stock twin with the same weights.
_STOCK_TWINS = {"FusedBatchNormalization": "BatchNormalization"}


def normalization_layer(normalization):
    """A `Rescaling` layer computing `(raw / 255 - mean) / std` per channel.

    Args:
        normalization: dict. `{"mean": [...], "std": [...]}` per channel,
            for pixels scaled to [0, 1].

    Returns:
        A `keras.layers.Rescaling` named `normalize` (it has no weights).
    """
    mean = np.asarray(normalization["mean"], dtype="float64")
    std = np.asarray(normalization["std"], dtype="float64")
    return keras.layers.Rescaling(
        scale=(1.0 / (255.0 * std)).tolist(), offset=(-mean / std).tolist(),
        name=NORMALIZE_NAME)


def with_preprocessing(core, normalization, name=None):
    """`core` behind the normalisation it was trained with.

    Args:
        core: `keras.Model`. Normalised images -> logits.
        normalization: dict or `None`. `None` leaves the input as it is.
        name: str or `None`. The model's name (default: `core`'s).

    Returns:
        A functional `keras.Model` sharing `core`'s weights: raw 0-255
        float32 pixels -> logits (float32).
    """
    images = keras.Input(shape=core.input.shape[1:], name="images",
                         dtype="float32")
    x = images
    if normalization is not None:
        x = normalization_layer(normalization)(x)
    logits = keras.layers.Activation("linear", dtype="float32",
                                     name="logits")(core(x))
    return keras.Model(images, logits, name=name or core.name)


def takes_raw_pixels(model):
    """Whether a model normalises raw pixels itself (its first layer after
    the input is the `normalize` `Rescaling` of `with_preprocessing`)."""
    layers = [layer for layer in getattr(model, "layers", [])
              if not isinstance(layer, keras.layers.InputLayer)]
    return bool(layers) and layers[0].name == NORMALIZE_NAME and \
        isinstance(layers[0], keras.layers.Rescaling)


def core_of(model):
    """The network inside a deployable of `with_preprocessing` (normalised
    images -> logits); any other model as it is."""
    if not takes_raw_pixels(model):
        return model
    inner = [layer for layer in model.layers
             if isinstance(layer, keras.Model)]
    return inner[0] if len(inner) == 1 else model


def normalization_of(model):
    """The normalisation inside a deployable of `with_preprocessing`, read
    back from its `normalize` layer (`None` when it has none).

    Returns:
        A dict `{"mean": [...], "std": [...]}` or `None`.
    """
    if not takes_raw_pixels(model):
        return None
    layer = model.get_layer(NORMALIZE_NAME)
    scale = np.atleast_1d(np.asarray(layer.scale, dtype="float64"))
    offset = np.atleast_1d(np.asarray(layer.offset, dtype="float64"))
    std = 1.0 / (255.0 * scale)
    return {"mean": (-offset * std).tolist(), "std": std.tolist()}


def average_probabilities(member_logits, name="ensemble_logits"):
    """The log of the members' mean class probability, in stock layers.

    `log(mean_k softmax(z_k))` per class is `LSE_k(L_kc) - log K` with
    `L = log_softmax(z)`; the log-sum-exp over members is taken as
    `L_kc - log_softmax_k(L)_kc` (the same for every `k`), averaged over
    `k`. Its softmax is the mean probability, so it serves as logits.

    Args:
        member_logits: list of `KerasTensor`, each `(batch, classes)`.
        name: str. The output layer's name.

    Returns:
        A `KerasTensor` `(batch, classes)`, float32.
    """
    num_classes = member_logits[0].shape[-1]
    count = len(member_logits)
    if count == 1:
        return keras.layers.Activation("log_softmax", dtype="float32",
                                       name=name)(member_logits[0])
    log_p = [keras.layers.Reshape((1, num_classes))(
        keras.layers.Activation("log_softmax", dtype="float32")(z))
        for z in member_logits]
    stacked = keras.layers.Concatenate(axis=1)(log_p)  # (batch, K, C)
    by_class = keras.layers.Permute((2, 1))(stacked)  # (batch, C, K)
    over_members = keras.layers.Activation("log_softmax",
                                           dtype="float32")(by_class)
    lse = keras.layers.Permute((2, 1))(
        keras.layers.Subtract()([by_class, over_members]))
    mean_lse = keras.layers.GlobalAveragePooling1D()(lse)
    return keras.layers.Rescaling(1.0, offset=-math.log(count),
                                  dtype="float32", name=name)(mean_lse)


def stock_copy(model):
    """A float32 copy of `model` with only stock Keras layers and the same
    weights.

    A one_keras layer with a stock twin of the same weights
    (`FusedBatchNormalization` -> `BatchNormalization`) becomes the twin;
    any other one_keras class is refused (a deployable must not hold one).
    A layer of a mixed precision policy (a `mixed_bfloat16` run) computes
    in float32 in the copy: a deployable runs where bfloat16 is slow too.

    Args:
        model: functional `keras.Model`.

    Returns:
        A new functional `keras.Model` (its weights copied, not shared).
    """
    config = float32_config(
        _stock_config(keras.saving.serialize_keras_object(model)))
    copy = keras.saving.deserialize_keras_object(config, safe_mode=True)
    copy.set_weights(model.get_weights())
    return copy


def _stock_config(config):
    """`config` with every one_keras class replaced by its stock twin."""
    if isinstance(config, list):
        return [_stock_config(item) for item in config]
    if not isinstance(config, dict):
        return config
    config = {key: _stock_config(value) for key, value in config.items()}
    registered = config.get("registered_name") or ""
    if "class_name" in config and registered.startswith("one_keras>"):
        twin = _STOCK_TWINS.get(config["class_name"])
        if twin is None:
            raise ValueError(
                f"A deployable must hold only stock Keras layers; "
                f"`{config['class_name']}` has no stock twin. Received: "
                f"{registered}")
        inner = dict(config.get("config", {}))
        inner.pop("synchronized", None)
        config.update({"module": "keras.layers", "class_name": twin,
                       "registered_name": None, "config": inner})
    return config


def float32_config(config):
    """`config` with every mixed precision dtype policy made float32.

    Args:
        config: a Keras config (dicts and lists), e.g. `get_config()`'s.

    Returns:
        The same config, each `mixed_*` dtype policy replaced by `float32`.
    """
    if isinstance(config, list):
        return [float32_config(item) for item in config]
    if not isinstance(config, dict):
        return config
    if config.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and \
            str(config.get("config", {}).get("name", "")).startswith(
                "mixed_"):
        return {**config, "config": {**config["config"], "name": "float32"}}
    return {key: ("float32" if key == "dtype" and isinstance(value, str)
                  and value.startswith("mixed_") else float32_config(value))
            for key, value in config.items()}

"""Builds the serving model: raw pixels in, `probabilities` and `logits` out.

ONE: "Knowledge Distillation by On-the-Fly Native Ensemble", Lan, Zhu and
Gong, NeurIPS 2018 (arXiv:1806.04606). `single` is the deployed target
(trunk + branch 0, the vanilla network); `ensemble` is ONE-E (trunk, every
branch and the gate).
"""

import keras
import numpy as np

from one_keras import validation
from one_keras.one_model import ONEModel

MODES = ("single", "ensemble")
INPUT_NAME = "images"
OUTPUT_NAMES = ("probabilities", "logits")


def check_exportable(model, mode):
    """Raises a `ValueError` unless `model` can be exported in `mode`.

    Args:
        model: The model to export; must be a `one_keras.ONEModel`.
        mode: str. `"single"` or `"ensemble"`.
    """
    if not isinstance(model, ONEModel):
        raise ValueError(
            "`model` must be a `one_keras.ONEModel` (the `model.keras` a "
            "training run writes, not `target.keras`). Received: "
            f"model={type(model).__name__}")
    validation.check_choice("mode", mode, MODES)
    if mode == "ensemble" and model.num_branches < 2:
        raise ValueError(
            "`mode` must be 'single' for a model with one branch: there is "
            "no ensemble to export. Received: mode='ensemble' with "
            f"num_branches={model.num_branches}")


def build_serving_model(model, mode="single", include_preprocessing=True):
    """Builds the model that gets exported, sharing `model`'s weights.

    Args:
        model: `one_keras.ONEModel`. The trained ONE model.
        mode: str. `"single"`: trunk + branch 0 (the target, with the
            vanilla network's parameter count). `"ensemble"`: trunk, all
            branches and the gate, serving the teacher (ONE-E). Defaults to
            `"single"`.
        include_preprocessing: bool. If `True` the model takes raw 0-255
            pixels and applies `model.normalization` itself (a `Rescaling`
            layer without weights); if `False` it takes normalised pixels.
            Defaults to `True`.

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
    network = model.network
    layer = "branch0_logits" if mode == "single" else "teacher_logits"
    core = keras.Model(network.input, network.get_layer(layer).output,
                       name=f"{network.name}_{mode}")
    images = keras.Input(shape=network.input.shape[1:], name=INPUT_NAME,
                         dtype="float32")
    x = images
    if include_preprocessing and model.normalization is not None:
        x = normalization_layer(model.normalization)(x)
    logits = keras.layers.Activation(
        "linear", dtype="float32", name="logits")(core(x))
    probabilities = keras.layers.Softmax(
        dtype="float32", name="probabilities")(logits)
    return keras.Model(images,
                       {"probabilities": probabilities, "logits": logits},
                       name=f"{network.name}_{mode}_serving")


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
        name="normalize")

"""Quantisation-aware fine-tuning of the target, then int8 TFLite.

tensorflow-model-optimization 0.8.1 only accepts `tf_keras` models, and
importing it sets `TF_USE_LEGACY_KERAS=1` for the whole process. So this
module never imports it at the top: `quantize_aware_tflite` runs the work in
a fresh Python process, which builds a `tf_keras` twin of the Keras 3
serving model (same layers, weights copied), fine-tunes it with fake
quantisation and converts it with the TFLite converter.
"""

import importlib.util
import json
import os
import sys
import tempfile

import numpy as np

from one_keras.utils import validation


# Keras 3 layer class -> config keys that define it (weights are copied).
_LAYER_KEYS = {
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "use_bias",
               "dilation_rate", "activation"),
    "Dense": ("units", "use_bias", "activation"),
    "BatchNormalization": ("axis", "momentum", "epsilon", "center", "scale"),
    "ReLU": ("max_value", "negative_slope", "threshold"),
    "Add": (),
    "GlobalAveragePooling2D": ("keepdims",),
    "Activation": ("activation",),
    "Softmax": ("axis",),
    "Rescaling": ("scale", "offset"),
    "ZeroPadding2D": ("padding",),
}
# one_keras layer class -> the Keras class it computes the same as.
_SAME_AS = {"FusedBatchNormalization": "BatchNormalization"}
# Layers left in float: the quantiser does not know them.
_NOT_ANNOTATED = ("Rescaling", "Softmax")


def quantize_aware_tflite(serving_model, output_path, images, labels,
                          epochs, representative_images, learning_rate=1e-4,
                          batch_size=64, work=None):
    """Fine-tunes a serving model with QAT and writes an int8 `.tflite`.

    Runs in a subprocess (see the module docstring).

    Args:
        serving_model: `keras.Model`. From `build_serving_model(mode=
            "single")`, built from standard Keras layers.
        output_path: str. The `.tflite` file to write.
        images: array. Training inputs, as the serving model takes them.
        labels: array. Integer training labels.
        epochs: int. Fine-tuning epochs, >= 1.
        representative_images: array. Calibration inputs for the layers
            that are not fine-tuned (preprocessing, softmax).
        learning_rate: float. Adam learning rate. Defaults to `1e-4`.
        batch_size: int. Defaults to `64`.
        work: str or `None`. Where the child's files go (a `qat_*` folder
            made there and removed); `None` is the system's temporary
            folder.

    Returns:
        `output_path`.
    """
    from one_keras.export import worker

    validation.check_int_at_least("epochs", epochs, 1)
    check_qat_installed(epochs)
    with tempfile.TemporaryDirectory(prefix="qat_", dir=work) as work:
        model_path = os.path.join(work, "serving.keras")
        serving_model.save(model_path)
        data_path = os.path.join(work, "data.npz")
        np.savez(data_path, images=np.asarray(images, "float32"),
                 labels=np.asarray(labels, "int32"),
                 representative=np.asarray(representative_images, "float32"))
        request = {"model": model_path, "data": data_path,
                   "output_path": str(output_path), "epochs": int(epochs),
                   "learning_rate": float(learning_rate),
                   "batch_size": int(batch_size),
                   "saved_model_dir": os.path.join(work, "qat_saved_model")}
        request_path = os.path.join(work, "request.json")
        with open(request_path, "w") as f:
            json.dump(request, f)
        worker.run_worker("one_keras.export.qat", request_path)
    return output_path


def check_qat_installed(epochs):
    """Raises a `ValueError` saying `pip install one_keras[qat]` when
    tensorflow-model-optimization or tf_keras is missing."""
    missing = [name for name in ("tensorflow_model_optimization", "tf_keras")
               if importlib.util.find_spec(name) is None]
    if missing:
        raise ValueError(
            f"`qat_epochs` needs {' and '.join(missing)}, which quantisation-"
            "aware training runs on: pip install 'one_keras[qat]'. "
            f"Received: qat_epochs={epochs}")


def build_tf_keras_twin(model):
    """Rebuilds a Keras 3 functional model in `tf_keras`, weights copied.

    Nested functional models are flattened. Only the layers in
    `_LAYER_KEYS` are supported.

    Args:
        model: `keras.Model`. A Keras 3 functional model with one input.

    Returns:
        A `tf_keras.Model` computing the same function.
    """
    import tf_keras

    inputs = tf_keras.Input(shape=model.input.shape[1:],
                            name=model.input.name.split(":")[0])
    outputs = _rebuild(model, [inputs], tf_keras)
    return tf_keras.Model(inputs, outputs, name=model.name)


def _rebuild(model, inputs, tf_keras):
    """Replays `model`'s graph on `inputs` with `tf_keras` layers."""
    import keras

    tensors = {id(t): x for t, x in zip(model.inputs, inputs)}
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            layer = node.operation
            if isinstance(layer, keras.layers.InputLayer):
                continue
            args = [tensors[id(t)] for t in node.input_tensors]
            if isinstance(layer, keras.Model):
                outputs = _rebuild(layer, args, tf_keras)
            else:
                outputs = _twin_layer(layer, tf_keras)(
                    args if len(args) > 1 else args[0])
            flat_out = outputs if isinstance(outputs, (list, tuple)) \
                else [outputs]
            for t, x in zip(node.output_tensors, flat_out):
                tensors[id(t)] = x
    return keras.tree.map_structure(lambda t: tensors[id(t)], model.output)


def _twin_layer(layer, tf_keras):
    """A `tf_keras` layer with `layer`'s configuration and weights."""
    kind = type(layer).__name__
    kind = _SAME_AS.get(kind, kind)
    if kind not in _LAYER_KEYS:
        raise ValueError(
            "Quantisation-aware training supports the layers "
            f"{sorted(_LAYER_KEYS)}. Received: layer {layer.name!r} of type "
            f"{kind}")
    config = layer.get_config()
    kwargs = {k: config[k] for k in _LAYER_KEYS[kind] if k in config}
    twin = getattr(tf_keras.layers, kind)(name=layer.name, **kwargs)
    twin.build(layer.input.shape if not isinstance(layer.input, list)
               else [t.shape for t in layer.input])
    twin.set_weights(layer.get_weights())
    return twin


def _main(request_path):
    import keras  # Keras 3, imported before tfmot flips the legacy switch.

    import one_keras.methods  # noqa: F401  (registers the one_keras classes)

    with open(request_path) as f:
        request = json.load(f)
    serving_model = keras.saving.load_model(request["model"], compile=False)
    data = np.load(request["data"])
    twin = build_tf_keras_twin(serving_model)
    reference = twin.predict(data["images"][:64], verbose=0)["logits"]
    expected = serving_model.predict(data["images"][:64], verbose=0)
    np.testing.assert_allclose(reference, expected["logits"], atol=1e-3)

    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras

    quantize = tfmot.quantization.keras

    def annotate(layer):
        if type(layer).__name__ in _NOT_ANNOTATED:
            return layer
        return quantize.quantize_annotate_layer(layer)

    annotated = tf_keras.models.clone_model(twin, clone_function=annotate)
    annotated.set_weights(twin.get_weights())
    qat_model = quantize.quantize_apply(annotated)
    qat_model.compile(
        optimizer=tf_keras.optimizers.Adam(request["learning_rate"]),
        loss={"logits": tf_keras.losses.SparseCategoricalCrossentropy(
            from_logits=True)})
    qat_model.fit(data["images"], {"logits": data["labels"]},
                  epochs=request["epochs"], batch_size=request["batch_size"],
                  verbose=0)
    spec = tf.TensorSpec((None,) + tuple(twin.input.shape[1:]), tf.float32,
                         name="images")
    serve = tf.function(lambda images: qat_model(images, training=False))
    tf.saved_model.save(qat_model, request["saved_model_dir"],
                        signatures=serve.get_concrete_function(spec))

    from one_keras.export import tflite

    tflite.convert_saved_model_to_file(
        request["saved_model_dir"], request["output_path"], "int8",
        data["representative"], in_subprocess=False)


if __name__ == "__main__":
    from one_keras.export import worker

    worker.die_with_parent()
    _main(sys.argv[1])

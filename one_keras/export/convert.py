"""Keras' own exporters (`model.export`), in this process or in a child.

ONNX and LiteRT (TFLite) artifacts are written by `keras.Model.export`
(`format="onnx"` through tf2onnx, `format="litert"` through the TFLite
converter, float16 and int8 through its `optimizations`,
`representative_dataset` and `target_spec`), SavedModels by Keras'
`ExportArchive` (`savedmodel`). The converters need the TensorFlow backend;
the LiteRT converter also keeps memory it never gives back. So a conversion
runs in a fresh TensorFlow-backend process (`worker.run_worker`) when the
active backend is not TensorFlow, and for LiteRT always
(`SEPARATE_PROCESS_FORMATS`): the serving model goes there as a `.keras`
file in the export's staging folder.
"""

import json
import os
import sys

import numpy as np

from one_keras import backends
from one_keras.export import serving

# Keras' `format=` names of the conversions run here.
KERAS_FORMATS = ("tf_saved_model", "onnx", "litert")
# Converted in a child process even on the TensorFlow backend.
SEPARATE_PROCESS_FORMATS = ("litert",)
QUANTIZATIONS = ("none", "float16", "int8")


def export_with_keras(serving_model, path, format, quantize="none",
                      opset=None, representative_images=None, work=None,
                      in_subprocess=None):
    """Writes `serving_model` with `keras.Model.export`.

    Args:
        serving_model: `keras.Model`. Takes float32 `images`, returns the
            dict of `serving.OUTPUT_NAMES`.
        path: str. The SavedModel folder, `.onnx` or `.tflite` file to
            write.
        format: str. `"tf_saved_model"`, `"onnx"` or `"litert"`.
        quantize: str. `"none"`, `"float16"` (weights in float16) or
            `"int8"` (full-integer, float32 input and outputs); LiteRT
            only. Defaults to `"none"`.
        opset: int or `None`. ONNX opset (`None`: tf2onnx's default).
        representative_images: array or `None`. Inputs to calibrate int8
            with; required for `"int8"`.
        work: str or `None`. A folder for the child's files (the export's
            staging folder); required when the conversion runs in a child.
        in_subprocess: bool or `None`. Convert in a fresh TensorFlow
            process; `None` (default) does so for `SEPARATE_PROCESS_FORMATS`
            and whenever the active backend is not TensorFlow.

    Returns:
        `path`.
    """
    if quantize == "int8" and (representative_images is None
                               or len(representative_images) == 0):
        raise ValueError(
            "`representative_images` must hold calibration images for int8 "
            "quantisation. Received: representative_images="
            f"{representative_images!r}")
    if in_subprocess is None:
        in_subprocess = (format in SEPARATE_PROCESS_FORMATS
                         or not backends.is_tensorflow())
    if not in_subprocess:
        _export(serving_model, str(path), format, quantize, opset,
                representative_images)
        return path
    from one_keras.export import worker

    model_path = os.path.join(work, "serving.keras")
    serving_model.save(model_path)
    request = {"model": model_path, "output_path": str(path),
               "format": format, "quantize": quantize, "opset": opset,
               "representative_images": None}
    if representative_images is not None:
        request["representative_images"] = os.path.join(work, "rep.npy")
        np.save(request["representative_images"],
                np.asarray(representative_images, dtype="float32"))
    request_path = os.path.join(work, "convert_request.json")
    with open(request_path, "w") as f:
        json.dump(request, f)
    worker.run_worker("one_keras.export.convert", request_path,
                      env={"KERAS_BACKEND": "tensorflow"})
    return path


def _export(serving_model, path, format, quantize, opset,
            representative_images):
    """`serving_model.export(path, format=...)` in this process."""
    import tensorflow as tf

    if format == "tf_saved_model":
        from one_keras.export import savedmodel

        savedmodel.export_saved_model(serving_model, path)
        return

    signature = [tf.TensorSpec((None,) + tuple(serving_model.input.shape[1:]),
                               tf.float32, name=serving.INPUT_NAME)]
    if format == "onnx":
        serving_model.export(path, format="onnx", input_signature=signature,
                             opset_version=opset, verbose=False)
        return
    # Builtin ops only (Keras also allows TensorFlow's Flex ops, which a
    # LiteRT runtime without the Flex delegate cannot run).
    options = {"target_spec": {"supported_ops": [
        tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if quantize == "float16":
        options = {"optimizations": [tf.lite.Optimize.DEFAULT],
                   "target_spec": {"supported_ops": [
                       tf.lite.OpsSet.TFLITE_BUILTINS],
                       "supported_types": [tf.float16]}}
    elif quantize == "int8":
        images = np.asarray(representative_images, dtype="float32")

        def representative_dataset():
            for index in range(len(images)):
                yield [images[index:index + 1]]

        options = {"optimizations": [tf.lite.Optimize.DEFAULT],
                   "representative_dataset": representative_dataset,
                   "target_spec": {"supported_ops": [
                       tf.lite.OpsSet.TFLITE_BUILTINS_INT8]}}
    serving_model.export(path, format="litert", input_signature=signature,
                         verbose=False, **options)


def _main(request_path):
    import keras

    import one_keras  # noqa: F401  (registers the one_keras classes)

    with open(request_path) as f:
        request = json.load(f)
    model = keras.saving.load_model(request["model"], compile=False)
    images = request["representative_images"]
    if images is not None:
        images = np.load(images)
    _export(model, request["output_path"], request["format"],
            request["quantize"], request["opset"], images)


if __name__ == "__main__":
    from one_keras.export import worker

    worker.die_with_parent()
    _main(sys.argv[1])

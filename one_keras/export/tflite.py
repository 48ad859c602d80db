"""Converts a SavedModel to TFLite: float32, float16 or full-integer int8.

Exports of Keras models go through Keras' own LiteRT exporter
(`convert.export_with_keras`); this converter is for SavedModels that are
not Keras 3 models (quantisation-aware training's `tf_keras` model). Each
conversion runs in a fresh Python process by default (`worker`): the
converter keeps memory it never gives back, so many conversions in one
process grow without bound.
"""

import json
import sys
import tempfile

import numpy as np

from one_keras.export.formats import QUANTIZATIONS
from one_keras.export.worker import run_worker
from one_keras.export.worker import write_request
from one_keras.utils import validation


def convert_saved_model(saved_model_dir, quantize="none",
                        representative_images=None):
    """Converts a SavedModel to TFLite in this process.

    Args:
        saved_model_dir: str. A SavedModel with a `serving_default`
            signature.
        quantize: str. `"none"` (float32), `"float16"` (weights stored in
            float16) or `"int8"` (full-integer post-training quantisation of
            every op; the model keeps float32 input and outputs). Defaults to
            `"none"`.
        representative_images: array or `None`. Model inputs to calibrate
            int8 activation ranges with, drawn from the training data.
            Required for `"int8"`.

    Returns:
        The `.tflite` flatbuffer as bytes.
    """
    import tensorflow as tf

    validation.check_choice("quantize", quantize, QUANTIZATIONS)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        if representative_images is None or len(representative_images) == 0:
            raise ValueError(
                "`representative_images` must hold calibration images for "
                "int8 quantisation. Received: representative_images="
                f"{representative_images!r}")
        images = np.asarray(representative_images, dtype="float32")

        def representative_dataset():
            for index in range(len(images)):
                yield [images[index:index + 1]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


def convert_saved_model_to_file(saved_model_dir, output_path,
                                quantize="none", representative_images=None,
                                in_subprocess=True, work=None):
    """Converts a SavedModel to a `.tflite` file.

    Args:
        saved_model_dir: str. A SavedModel with a `serving_default`
            signature.
        output_path: str. The `.tflite` file to write.
        quantize: str. `"none"`, `"float16"` or `"int8"`. Defaults to
            `"none"`.
        representative_images: array or `None`. Calibration inputs, required
            for `"int8"`.
        in_subprocess: bool. Convert in a fresh Python process, so that the
            converter's memory is given back. Defaults to `True`.
        work: str or `None`. Where the child's request and data go (a
            `tflite_convert_*` folder made there and removed); `None` is the
            system's temporary folder.

    Returns:
        `output_path`.
    """
    validation.check_choice("quantize", quantize, QUANTIZATIONS)
    if not in_subprocess:
        data = convert_saved_model(saved_model_dir, quantize,
                                   representative_images)
        with open(output_path, "wb") as f:
            f.write(data)
        return output_path
    with tempfile.TemporaryDirectory(prefix="tflite_convert_",
                                     dir=work) as work:
        request_path = write_request(
            work, {"saved_model_dir": str(saved_model_dir),
                   "output_path": str(output_path), "quantize": quantize},
            representative_images)
        run_worker("one_keras.export.tflite", request_path)
    return output_path


def _main(request_path):
    with open(request_path) as f:
        request = json.load(f)
    images = request["representative_images"]
    if images is not None:
        images = np.load(images)
    convert_saved_model_to_file(
        request["saved_model_dir"], request["output_path"],
        request["quantize"], images, in_subprocess=False)


if __name__ == "__main__":
    from one_keras.export import worker

    worker.die_with_parent()
    _main(sys.argv[1])

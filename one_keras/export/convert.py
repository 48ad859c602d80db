"""Runs a format's conversion in this process or in a TensorFlow child.

The converters behind every format (Keras' `ExportArchive`, and
`keras.Model.export` with `format="onnx"` or `"litert"`) need the
TensorFlow backend, and the LiteRT converter keeps memory it never gives
back. So a conversion runs in a fresh TensorFlow-backend process
(`worker.run_worker`) when the active backend is not TensorFlow, and always
for a format whose `separate_process` is set (TFLite): the serving model
goes there as a `.keras` file in the export's staging folder, and the child
calls the same `ExportFormat.convert` (`python -m
one_keras.export.formats REQUEST`).
"""

import os
import tempfile

from one_keras.utils import backends


def export_with_keras(serving_model, path, format, quantize="none",
                      opset=None, representative_images=None, work=None,
                      in_subprocess=None):
    """Writes `serving_model` as `format`'s artifact (`format.convert`).

    Args:
        serving_model: `keras.Model`. Takes float32 `images`, returns the
            dict of `formats.OUTPUT_NAMES`.
        path: str. The artifact to write.
        format: `formats.ExportFormat`. The format (`formats.get(name)`).
        quantize: str. One of the format's `quantizations`. Defaults to
            `"none"`.
        opset: int or `None`. ONNX opset.
        representative_images: array or `None`. Inputs to calibrate int8
            with; required for `"int8"`.
        work: str or `None`. A folder for the child's files (the export's
            staging folder); `None` is a temporary folder of the system's.
        in_subprocess: bool or `None`. Convert in a fresh TensorFlow
            process; `None` (default) does so when the format's
            `separate_process` is set or the active backend is not
            TensorFlow.

    Returns:
        `path`.
    """
    exporter = format
    if quantize == "int8" and (representative_images is None
                               or len(representative_images) == 0):
        raise ValueError(
            "`representative_images` must hold calibration images for int8 "
            "quantisation. Received: representative_images="
            f"{representative_images!r}")
    if in_subprocess is None:
        in_subprocess = (exporter.separate_process
                         or not backends.is_tensorflow())
    if not in_subprocess:
        exporter.convert(serving_model, str(path), quantize, opset,
                         representative_images)
        return path
    if work is None:
        with tempfile.TemporaryDirectory(prefix="keras_export_") as work:
            return export_with_keras(serving_model, path, exporter, quantize,
                                     opset, representative_images, work,
                                     in_subprocess=True)
    from one_keras.export import worker

    model_path = os.path.join(work, "serving.keras")
    serving_model.save(model_path)
    request_path = worker.write_request(
        work, {"model": model_path, "output_path": str(path),
               "format": exporter.name, "quantize": quantize,
               "opset": opset}, representative_images,
        name="convert_request.json")
    worker.run_worker("one_keras.export.formats", request_path,
                      env={"KERAS_BACKEND": "tensorflow"})
    return path

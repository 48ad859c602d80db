"""The export formats: one exporter object per format, in a registry.

Each `ExportFormat` knows its name and the spellings a user may give
(Keras' own included: `tf_saved_model`, `litert`), the suffix of its default
artifact name, whether a path holds one of its artifacts, how to write one
(`write`) and how to run one in its own runtime (`runner`): SavedModel under
`tf.saved_model.load`, TFLite under the LiteRT interpreter
(`ai_edge_litert`), ONNX under onnxruntime. `export_model`, `verify` and the
export CLI take everything format-specific from here (Keras'
`trainers/data_adapters/` are the pattern).

Example:
```python
from one_keras.export import formats

formats.get("tf_saved_model").name  # "savedmodel"
run = formats.runner_for("runs/digits/target.tflite")
run(raw_pixels)["probabilities"]
```
"""

import os

import numpy as np

from one_keras.utils import runtime_noise


# As `INPUT_NAME` and `OUTPUT_NAMES` (this module does not
# import Keras).
INPUT_NAME = "images"
OUTPUT_NAMES = ("probabilities", "logits")
# Every `quantize` value; each format takes some (`ExportFormat.check`).
QUANTIZATIONS = ("none", "float16", "int8")


class ExportFormat:
    """What an export needs to know about one artifact format.

    Attributes:
        name: str. The canonical name (reports, `default_output_path`).
        spellings: tuple of str. Every accepted name, `name` first.
        suffix: str. Appended to the default artifact's stem.
        quantizations: tuple of str. The `quantize` values it takes.
        runtime: str. What runs the artifact (for messages).
        separate_process: bool. Convert in a fresh process even on the
            TensorFlow backend (the converter keeps memory it never gives
            back).
    """

    name = None
    spellings = ()
    suffix = ""
    quantizations = ("none",)
    runtime = ""
    separate_process = False

    def check(self, quantize, opset):
        """Raises a `ValueError` unless this format takes the settings."""
        if quantize not in self.quantizations:
            raise ValueError(
                f"`quantize` must be one of {self.quantizations} for "
                f"format={self.name!r}"
                + (" (the TFLite converter quantises)"
                   if self.quantizations == ("none",) else "")
                + f". Received: quantize={quantize!r}, format={self.name!r}")

    def is_artifact(self, path):
        """Whether `path` holds an artifact of this format (one an export
        may replace); a symlink never does."""
        raise NotImplementedError

    def write(self, serving_model, path, quantize="none", opset=None,
              representative_images=None, work=None):
        """Writes `serving_model` as this format's artifact at `path`, in
        this process or a TensorFlow child (`convert.export_with_keras`).

        Args:
            serving_model: `keras.Model`. Float32 `images` in, the dict of
                `OUTPUT_NAMES` out.
            path: str. Where the artifact goes; must not exist.
            quantize: str. One of `quantizations`.
            opset: int or `None`. ONNX opset.
            representative_images: array or `None`. int8 calibration
                inputs.
            work: str. A scratch folder (the export's staging folder).
        """
        from one_keras.export import convert

        convert.export_with_keras(serving_model, path, self, quantize, opset,
                                  representative_images, work)

    def convert(self, serving_model, path, quantize, opset,
                representative_images):
        """The conversion itself, in this process, on the TensorFlow
        backend; arguments as in `write`."""
        raise NotImplementedError

    @staticmethod
    def input_signature(serving_model):
        """One float32 `images` `tf.TensorSpec`, dynamic batch."""
        from one_keras.export import savedmodel

        return savedmodel.input_signature(serving_model)

    def runner(self, path):
        """Loads the artifact at `path` in its own runtime.

        Returns:
            `run(images) -> {"probabilities": array, "logits": array}`,
            taking a float32 NHWC batch of any size.
        """
        raise NotImplementedError

    def default_name(self, stem):
        """The artifact's file (or folder) name for `stem`."""
        return stem + self.suffix


class SavedModelFormat(ExportFormat):
    name = "savedmodel"
    spellings = ("savedmodel", "tf_saved_model", "saved_model")
    suffix = "_savedmodel"
    runtime = "tf.saved_model.load"

    def is_artifact(self, path):
        return (not os.path.islink(path) and os.path.isdir(path)
                and os.path.isfile(os.path.join(path, "saved_model.pb")))

    def convert(self, serving_model, path, quantize, opset,
                representative_images):
        from one_keras.export import savedmodel

        savedmodel.export_saved_model(serving_model, path)

    def runner(self, path):
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        signature = loaded.signatures["serving_default"]

        def run(images):
            outputs = signature(**{INPUT_NAME: tf.constant(images)})
            return {k: outputs[k].numpy() for k in OUTPUT_NAMES}

        run.keep_alive = loaded  # The signature dies with its object.
        return run


class TFLiteFormat(ExportFormat):
    name = "tflite"
    spellings = ("tflite", "litert")
    suffix = ".tflite"
    quantizations = QUANTIZATIONS
    runtime = "ai_edge_litert"
    separate_process = True

    def is_artifact(self, path):
        head = _head(path)
        return head is not None and head[4:8] == b"TFL3"  # FlatBuffer id.

    def convert(self, serving_model, path, quantize, opset,
                representative_images):
        """Keras' LiteRT exporter, builtin ops only (Keras also allows
        TensorFlow's Flex ops, which a LiteRT runtime without the Flex
        delegate cannot run); float16 weights, or full-integer int8
        calibrated on `representative_images` with float32 input and
        outputs."""
        import tensorflow as tf

        ops = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}
        options = {"target_spec": ops}
        if quantize == "float16":
            options = {"optimizations": [tf.lite.Optimize.DEFAULT],
                       "target_spec": {**ops,
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
        serving_model.export(
            path, format="litert", verbose=False,
            input_signature=self.input_signature(serving_model), **options)

    def runner(self, path):
        from ai_edge_litert.interpreter import Interpreter

        with runtime_noise.quiet_tflite_start():
            interpreter = Interpreter(model_path=str(path))
            interpreter.allocate_tensors()
        runner = interpreter.get_signature_runner("serving_default")

        def run(images):
            outputs = runner(**{INPUT_NAME: images})
            return {k: np.array(outputs[k]) for k in OUTPUT_NAMES}

        run.keep_alive = interpreter
        return run


class ONNXFormat(ExportFormat):
    name = "onnx"
    spellings = ("onnx",)
    suffix = ".onnx"
    runtime = "onnxruntime"

    def check(self, quantize, opset):
        super().check(quantize, opset)
        check_opset(opset)

    def is_artifact(self, path):
        head = _head(path)
        # A ModelProto starts with field 1 (ir_version, a varint).
        return head is not None and str(path).endswith(".onnx") and \
            head[:1] == b"\x08"

    def convert(self, serving_model, path, quantize, opset,
                representative_images):
        """Keras' ONNX exporter (tf2onnx on the TensorFlow backend)."""
        with runtime_noise.quiet_onnx_export():
            serving_model.export(
                path, format="onnx", opset_version=opset, verbose=False,
                input_signature=self.input_signature(serving_model))

    def runner(self, path):
        import onnxruntime

        session = onnxruntime.InferenceSession(
            str(path), providers=["CPUExecutionProvider"])

        def run(images):
            outputs = session.run(list(OUTPUT_NAMES),
                                  {INPUT_NAME: images})
            return dict(zip(OUTPUT_NAMES, outputs))

        return run


def _head(path):
    """The first 8 bytes of a regular file (not a symlink), else `None`."""
    if os.path.islink(path) or not os.path.isfile(path):
        return None
    with open(path, "rb") as handle:
        return handle.read(8)


REGISTRY = {f.name: f for f in (SavedModelFormat(), TFLiteFormat(),
                                ONNXFormat())}


def names():
    """The canonical format names, e.g. `("savedmodel", "tflite", "onnx")`."""
    return tuple(REGISTRY)


def spellings():
    """Every accepted format name (the CLI's `--format` choices)."""
    return tuple(s for f in REGISTRY.values() for s in f.spellings)


def get(format):
    """The `ExportFormat` that `format` names, in any accepted spelling.

    Args:
        format: str or `ExportFormat`.

    Raises:
        ValueError: `format` names no format.
    """
    if isinstance(format, ExportFormat):
        return format
    for exporter in REGISTRY.values():
        if isinstance(format, str) and format.lower() in exporter.spellings:
            return exporter
    raise ValueError(f"`format` must be one of {spellings()}. "
                     f"Received: format={format!r}")


MIN_OPSET = 7
MAX_OPSET = 18  # tf2onnx 1.17 supports opsets up to 18.


def check_opset(opset):
    """Raises a `ValueError` unless tf2onnx can target `opset`.

    Args:
        opset: int. The ONNX opset.
    """
    if isinstance(opset, bool) or not isinstance(opset, int) or \
            not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(
            f"`opset` must be an integer from {MIN_OPSET} to {MAX_OPSET} "
            "(tf2onnx 1.17's range; 17 is the default). Received: "
            f"opset={opset!r}")


def for_path(path):
    """The format of the artifact at `path`.

    Raises:
        ValueError: `path` holds no SavedModel, `.tflite` or `.onnx`
            artifact.
    """
    path = os.fspath(path)
    for exporter in REGISTRY.values():
        if exporter.is_artifact(path):
            return exporter
    raise ValueError(
        "`path` must be an exported artifact: a SavedModel directory (with "
        "saved_model.pb), a `.tflite` or an `.onnx` file. Received: "
        f"path={path}")


def runner_for(path):
    """Loads any artifact an export writes, in its own runtime.

    Args:
        path: str. A SavedModel directory, `.tflite` or `.onnx` file.

    Returns:
        `run(images) -> {"probabilities": array, "logits": array}`, taking
        raw float32 NHWC pixels (0-255) when the artifact was exported with
        its preprocessing (the default).
    """
    return for_path(path).runner(os.fspath(path))


def _main(request_path):
    """The conversion child (`convert.export_with_keras`): reads the
    request, loads the serving model and converts it."""
    import json

    import keras

    import one_keras.methods  # noqa: F401  (registers the classes)

    with open(request_path) as f:
        request = json.load(f)
    model = keras.saving.load_model(request["model"], compile=False)
    images = request["representative_images"]
    if images is not None:
        images = np.load(images)
    get(request["format"]).convert(
        model, request["output_path"], request["quantize"], request["opset"],
        images)


if __name__ == "__main__":
    import sys

    from one_keras.export import worker

    worker.die_with_parent()
    _main(sys.argv[1])

"""The export formats: one exporter object per format, in a registry.

Each `ExportFormat` knows its name and the spellings a user may give
(Keras' own included: `tf_saved_model`, `litert`), the suffix of its default
artifact name, whether converting needs TensorFlow (`needs_tensorflow`),
whether a path holds one of its artifacts, how to write one (`convert`,
through `write`) and how to run one in its own runtime (`runner`,
`input_shape`): SavedModel under `tf.saved_model.load`, TFLite under the
LiteRT interpreter (`ai_edge_litert`), ONNX under onnxruntime. `export_model`,
`verify`, the export CLI and predict (`one_keras.inference`) take everything
format-specific from here, so a new format is one class and one entry in
`REGISTRY` (docs/contributing.md, "Add an export format"; Keras'
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

    A subclass sets the attributes and writes `convert` and `runner`;
    the other methods have defaults for an artifact that is one file named
    `<stem><suffix>`.

    Attributes:
        name: str. The canonical name (reports, `default_output_path`).
        spellings: tuple of str. Every accepted name, `name` first.
        suffix: str. Appended to the default artifact's stem.
        description: str. The artifact in a message (`"a `.onnx` file"`).
        quantizations: tuple of str. The `quantize` values it takes.
        runtime: str. What runs the artifact (for messages).
        runtime_module: str. The module `runner` imports, checked before
            predict loads an artifact.
        runtime_package: str. What `pip install` installs it.
        needs_tensorflow: bool. Converting needs TensorFlow (on any
            backend: the conversion then runs in a TensorFlow process,
            `convert.export_with_keras`); a format that needs no TensorFlow
            converts in this process, on the active backend.
        separate_process: bool. Convert in a fresh process even on the
            TensorFlow backend (the converter keeps memory it never gives
            back).
    """

    name = None
    spellings = ()
    suffix = ""
    description = ""
    quantizations = ("none",)
    runtime = ""
    runtime_module = ""
    runtime_package = ""
    needs_tensorflow = True
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
        may replace); a symlink never does. Defaults to a regular file
        named with `suffix`."""
        return not os.path.islink(path) and self.has_artifact_name(path)

    def has_artifact_name(self, path):
        """Whether `path` is named as this format's artifact, whatever it
        holds (predict picks the runtime by the name, then says in one line
        when it is missing). Defaults to a file (or a link to one) whose
        name ends in `suffix`."""
        path = os.fspath(path)
        return os.path.isfile(path) and \
            path.lower().endswith(self.suffix.lower())

    def write(self, serving_model, path, quantize="none", opset=None,
              representative_images=None, work=None):
        """Writes `serving_model` as this format's artifact at `path`: in
        this process for a format that needs no TensorFlow, else in this
        process or a TensorFlow child (`convert.export_with_keras`).

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
        if not self.needs_tensorflow:
            self.convert(serving_model, str(path), quantize, opset,
                         representative_images)
            return
        from one_keras.export import convert

        convert.export_with_keras(serving_model, path, self, quantize, opset,
                                  representative_images, work)

    def convert(self, serving_model, path, quantize, opset,
                representative_images):
        """The conversion itself, in this process (on the TensorFlow
        backend when `needs_tensorflow`); arguments as in `write`."""
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

    def input_shape(self, path):
        """`(height, width, channels)` that the artifact at `path` takes
        (`checked_input_shape` of its input's shape).

        Raises:
            ValueError: not a batch of images of a fixed size.
        """
        raise NotImplementedError

    def default_name(self, stem):
        """The artifact's file (or folder) name for `stem`."""
        return stem + self.suffix


class SavedModelFormat(ExportFormat):
    name = "savedmodel"
    spellings = ("savedmodel", "tf_saved_model", "saved_model")
    suffix = "_savedmodel"
    description = "a SavedModel directory"
    runtime = "tf.saved_model.load"
    runtime_module = "tensorflow"
    runtime_package = "tensorflow"

    def has_artifact_name(self, path):
        return (os.path.isdir(path)
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

    def input_shape(self, path):
        from tensorflow.core.protobuf import saved_model_pb2

        saved = saved_model_pb2.SavedModel()
        with open(os.path.join(path, "saved_model.pb"), "rb") as handle:
            saved.ParseFromString(handle.read())
        signature = saved.meta_graphs[0].signature_def["serving_default"]
        spec = next(iter(signature.inputs.values()))
        return checked_input_shape(
            [d.size for d in spec.tensor_shape.dim], path)


class TFLiteFormat(ExportFormat):
    name = "tflite"
    spellings = ("tflite", "litert")
    suffix = ".tflite"
    description = "a `.tflite` file"
    quantizations = QUANTIZATIONS
    runtime = "ai_edge_litert"
    runtime_module = "ai_edge_litert"
    runtime_package = "ai-edge-litert"
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

    @staticmethod
    def _interpreter(path):
        from ai_edge_litert.interpreter import Interpreter

        with runtime_noise.quiet_tflite_start():
            interpreter = Interpreter(model_path=str(path))
            interpreter.allocate_tensors()
        return interpreter

    def runner(self, path):
        interpreter = self._interpreter(path)
        runner = interpreter.get_signature_runner("serving_default")

        def run(images):
            outputs = runner(**{INPUT_NAME: images})
            return {k: np.array(outputs[k]) for k in OUTPUT_NAMES}

        run.keep_alive = interpreter
        return run

    def input_shape(self, path):
        details = self._interpreter(path).get_signature_runner(
            "serving_default").get_input_details()
        return checked_input_shape(
            list(next(iter(details.values()))["shape"]), path)


class ONNXFormat(ExportFormat):
    name = "onnx"
    spellings = ("onnx",)
    suffix = ".onnx"
    description = "an `.onnx` file"
    runtime = "onnxruntime"
    runtime_module = "onnxruntime"
    runtime_package = "onnxruntime"

    def check(self, quantize, opset):
        super().check(quantize, opset)
        check_opset(opset)

    def is_artifact(self, path):
        head = _head(path)
        # A ModelProto starts with field 1 (ir_version, a varint).
        return self.has_artifact_name(path) and head is not None and \
            head[:1] == b"\x08"

    def convert(self, serving_model, path, quantize, opset,
                representative_images):
        """Keras' ONNX exporter (tf2onnx on the TensorFlow backend)."""
        with runtime_noise.quiet_onnx_export():
            serving_model.export(
                path, format="onnx", opset_version=opset, verbose=False,
                input_signature=self.input_signature(serving_model))

    @staticmethod
    def _session(path):
        import onnxruntime

        return onnxruntime.InferenceSession(
            str(path), providers=["CPUExecutionProvider"])

    def runner(self, path):
        session = self._session(path)

        def run(images):
            outputs = session.run(list(OUTPUT_NAMES),
                                  {INPUT_NAME: images})
            return dict(zip(OUTPUT_NAMES, outputs))

        return run

    def input_shape(self, path):
        return checked_input_shape(
            list(self._session(path).get_inputs()[0].shape), path)


def checked_input_shape(shape, path):
    """`shape`, an artifact's `(batch, height, width, channels)` input, as
    `(height, width, channels)` ints.

    Raises:
        ValueError: not a batch of images of a fixed size.
    """
    shape = list(shape)
    if len(shape) != 4 or not all(
            isinstance(d, (int, np.integer)) and d > 0 for d in shape[1:]):
        raise ValueError(
            f"`model` {os.fspath(path)!r} must take a batch of images of a "
            "fixed size (batch, height, width, channels), as an export "
            f"writes. Received: input shape {shape}")
    return tuple(int(d) for d in shape[1:])


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


def described(more=()):
    """The registered artifacts in words, for messages: `"a SavedModel
    directory, a `.tflite` file or an `.onnx` file"`.

    Args:
        more: tuple of str. Descriptions to put first (e.g. predict's
            `"a run directory"`).
    """
    items = list(more) + [f.description or f"a `{f.suffix}` artifact"
                          for f in REGISTRY.values()]
    return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 \
        else "".join(items)


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
    """The format of the artifact at `path` (`ExportFormat.is_artifact`).

    Raises:
        ValueError: `path` holds no artifact of a registered format.
    """
    path = os.fspath(path)
    for exporter in REGISTRY.values():
        if exporter.is_artifact(path):
            return exporter
    raise ValueError(
        f"`path` must be an exported artifact: {described()}. Received: "
        f"path={path}")


def named_by(path):
    """The format whose artifact `path` is named as
    (`ExportFormat.has_artifact_name`), or `None`.

    Args:
        path: str. A file or directory.
    """
    path = os.fspath(path)
    for exporter in REGISTRY.values():
        if exporter.has_artifact_name(path):
            return exporter
    return None


def runner_for(path):
    """Loads any artifact an export writes, in its own runtime.

    Args:
        path: str. An artifact of a registered format (`for_path`).

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

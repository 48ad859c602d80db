"""A deployable loaded to label images: `load_predictor` and `Predictor`.

A deployable is a run directory (its `target.keras`, or another deployable
it wrote, e.g. `ensemble.keras`), a `.keras` file, or an artifact of any
registered export format (`one_keras.export.formats`: a SavedModel
directory, a `.tflite` or an `.onnx` file, ...), run by that format's own
runner, the one export verifies with. Each takes raw 0-255 pixels (float32,
NHWC) and applies the run's normalisation itself; a `.keras` file returns
logits, an exported artifact `probabilities` and `logits`.

Example:
```python
from one_keras.inference import predictor

labeller = predictor.load_predictor("runs/digits/target.tflite")
labeller.run(images)  # (n, num_classes) probabilities
```
"""

import dataclasses
import importlib.util
import os
from typing import Callable
from typing import Optional

import numpy as np

from one_keras import runs
from one_keras.export import formats
from one_keras.inference import class_names as class_names_lib
from one_keras.utils import backends


DEFAULT_DEPLOYABLE = "target"
KERAS_FORMAT = "keras"  # A `.keras` deployable: run by Keras itself.
RUN = "run"  # A run directory: its `<deployable>.keras`.
KERAS_DESCRIPTION = "a `.keras` file"


@dataclasses.dataclass(frozen=True)
class Predictor:
    """A loaded deployable and what labelling with it needs.

    Attributes:
        run: callable. `run(images)` maps a float32 `(n, *input_shape)`
            batch of raw 0-255 pixels to `(n, num_classes)` probabilities.
        input_shape: tuple. `(height, width, channels)`.
        num_classes: int.
        class_names: list of str or `None`. Label `i`'s name, where known.
        center_crop: bool. Resize the shorter side and centre-crop (a run
            trained on `imagenet2012`) instead of resizing to the input.
        source: str. What was loaded: a file or SavedModel directory.
        format: str. `"keras"`, or the export format's name
            (`"savedmodel"`, `"tflite"`, `"onnx"`, ...).
        notes: tuple of str. One-line warnings for the user (e.g. the
            run's image folder has other classes now).
    """

    run: Callable
    input_shape: tuple
    num_classes: int
    class_names: Optional[list]
    center_crop: bool
    source: str
    format: str
    notes: tuple = ()

    def label(self, index):
        """The name of class `index`, else the index as a string."""
        if self.class_names is None:
            return str(index)
        return self.class_names[index]


def artifact_format(path):
    """The format of a deployable at `path`: `"keras"`, `"run"` for a run
    directory, or the name of the export format whose artifact it is named
    as (`formats.named_by`: `"savedmodel"`, `"tflite"`, `"onnx"`, ...).

    Raises:
        ValueError: `path` does not exist or is none of those.
    """
    path = os.fspath(path)
    exporter = formats.named_by(path)
    if exporter is not None:
        return exporter.name
    if os.path.isdir(path):
        return RUN
    kinds = formats.described(("a run directory", KERAS_DESCRIPTION))
    if not os.path.isfile(path):
        raise ValueError(f"`model` must be {kinds}. Received: "
                         f"model={path!r} (not found)")
    suffix = os.path.splitext(path)[1].lower()
    if suffix != ".keras":
        raise ValueError(
            f"`model` must be {kinds}. Received: model={path!r} (a "
            f"{suffix or 'suffix-less'} file)")
    return KERAS_FORMAT


def load_predictor(model, deployable=None, class_names=None):
    """Loads a deployable to label images with.

    Args:
        model: str. A run directory, a `.keras` file or an artifact of a
            registered export format (`artifact_format`).
        deployable: str or `None`. Which deployable of a run directory
            (`<deployable>.keras`); `None` is `"target"`. Only for a run
            directory.
        class_names: list of str or `None`. Names of the classes, in label
            order; `None` takes those the run the model is in stored when
            it trained (`inputs.json`; for a run of an earlier version its
            dataset's fixed names: digits, tfds), else the indices. An
            image folder is never listed to name classes.

    Returns:
        A `Predictor`.

    Raises:
        ValueError: no such deployable, not one logits (or probabilities)
            output, or `class_names` of the wrong length.
        one_keras.utils.backends.BackendError: the artifact's runtime is not
            installed.
    """
    model = os.fspath(model)
    kind = artifact_format(model)
    if deployable is not None and kind != RUN:
        what = KERAS_DESCRIPTION if kind == KERAS_FORMAT else \
            formats.get(kind).description
        raise ValueError(
            "`deployable` chooses a deployable of a run directory; "
            f"{model!r} is {what}. Pass the run directory, or "
            f"leave out --deployable. Received: deployable={deployable!r}")
    # The run whose config.json names the classes: the folder itself, or
    # the one holding the file (a SavedModel's too).
    run_dir = runs.RunDirectory(model if kind == RUN else
                                os.path.dirname(os.path.abspath(model)))
    if kind == RUN:
        model = _deployable_path(run_dir, deployable or DEFAULT_DEPLOYABLE)
        kind = KERAS_FORMAT
    if kind == KERAS_FORMAT:
        run, input_shape, num_classes = _keras_runner(model)
    else:
        run, input_shape, num_classes = _artifact_runner(kind, model)
    config = run_dir.read_config() or {}
    if class_names is not None:
        class_names = [str(name) for name in class_names]
        if len(class_names) != num_classes:
            raise ValueError(
                f"`class_names` must name the model's {num_classes} "
                f"classes, in label order. Received: {len(class_names)} "
                f"names ({', '.join(class_names[:5])}"
                f"{', ...' if len(class_names) > 5 else ''})")
        notes = ()
    else:
        class_names, notes = class_names_lib.run_class_names(
            run_dir, config, num_classes)
    return Predictor(run=run, input_shape=input_shape,
                     num_classes=num_classes, class_names=class_names,
                     center_crop=config.get("dataset") == "imagenet2012",
                     source=model, format=kind, notes=notes)


def _deployable_path(run_dir, deployable):
    """The file of the deployable `deployable` of `run_dir` (a
    `RunDirectory`), or a `ValueError` naming those it holds."""
    found = run_dir.deployables()
    if deployable in found:
        return run_dir.deployable_path(deployable)
    if not found:
        raise ValueError(
            f"`model` {run_dir.path!r} is a folder with no deployable (no "
            "`target.keras`): pass a run directory that training wrote, a "
            "`.keras` file or an exported artifact. Received: "
            f"model={run_dir.path!r}")
    raise ValueError(
        f"`deployable` must be one the run directory {run_dir.path!r} "
        f"holds: {', '.join(found)}. Received: deployable={deployable!r}")


def _keras_runner(path):
    """A `.keras` deployable: raw pixels in, logits out."""
    import keras

    from one_keras.methods import saved_models

    model = saved_models.load_model(path)
    shape = _keras_input_shape(model, path)
    try:
        output = model.compute_output_spec(keras.KerasTensor((None,) + shape))
    except Exception:  # Not symbolically callable: try a real batch.
        output = model(np.zeros((1,) + shape, "float32"), training=False)
    if not hasattr(output, "shape") or len(output.shape) != 2:
        raise ValueError(
            f"`model` {path!r} must return one logits tensor of shape "
            "(batch, classes); this is a training model or another "
            "structure. Pass a run directory or a deployable it wrote "
            f"(e.g. target.keras). Received: model={path!r}")

    def run(images):
        return softmax(keras.ops.convert_to_numpy(
            model.predict_on_batch(images)))

    run.keep_alive = model
    return run, shape, int(output.shape[-1])


def _keras_input_shape(model, path):
    try:
        shape = model.input_shape
    except (AttributeError, ValueError):  # A subclassed training model.
        raise ValueError(
            f"`model` {path!r} is a training model ({type(model).__name__}, "
            "without a fixed input); pass its run directory or a deployable "
            "it wrote (e.g. target.keras). Received: "
            f"model={path!r}") from None
    if not isinstance(shape, tuple) or len(shape) != 4 or \
            None in shape[1:] or shape[-1] not in (1, 3):
        raise ValueError(
            f"`model` {path!r} must take one batch of images (batch, "
            "height, width, 1 or 3 channels), as a deployable does. "
            f"Received: input shape {shape}")
    return tuple(int(d) for d in shape[1:])


def _artifact_runner(kind, path):
    """An exported artifact, run by its format's runner (the one export
    verifies with): probabilities out."""
    exporter = formats.get(kind)
    module = exporter.runtime_module
    if module and importlib.util.find_spec(module) is None:
        raise backends.BackendError(
            f"A {kind} artifact runs under {module}, which is not "
            f"installed: `pip install {exporter.runtime_package}`, or "
            "predict with a `.keras` deployable (a run directory), which "
            "needs only Keras. Received: model=" + path)
    runner = exporter.runner(path)
    shape = exporter.input_shape(path)
    probe = runner(np.zeros((1,) + shape, "float32"))["probabilities"]

    def run(images):
        return np.asarray(runner(np.asarray(images, "float32"))[
            "probabilities"])

    run.keep_alive = runner
    return run, shape, int(probe.shape[-1])


def softmax(logits):
    """Probabilities from logits, in float64 then float32."""
    logits = np.asarray(logits, "float64")
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (shifted / shifted.sum(axis=-1, keepdims=True)).astype("float32")



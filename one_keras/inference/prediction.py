"""Labels image files with any deployable: top classes and probabilities.

A deployable is a run directory (its `target.keras`, or another deployable
it wrote, e.g. `ensemble.keras`), a `.keras` file, a SavedModel directory,
a `.tflite` or an `.onnx` file. Each takes raw 0-255 pixels (float32, NHWC)
and applies the run's normalisation itself; a `.keras` file returns logits,
an exported artifact `probabilities` and `logits`.

Images are read as the NumPy pipeline reads an image folder (Pillow, RGB or
grayscale as the model takes, bilinear resizing with antialiasing;
`one_keras.data.numpy_pipeline`): resized to the model's input, or, for a
run trained on `imagenet2012`, resized and centre-cropped as its
evaluation is. A folder is searched recursively, in sorted order, leaving
out hidden files and folders (names starting with `.`); a file that is not
an image is skipped, through `on_skip`.

Example:
```python
from one_keras.inference import prediction

predictor = prediction.load_predictor("runs/digits")
paths = prediction.list_images(["photos/"])
for result in prediction.predict_files(predictor, paths, top_k=3):
    print(prediction.format_prediction(result))
```
"""

import csv
import dataclasses
import importlib.util
import os
import stat
import tempfile
from typing import Callable
from typing import Optional

import numpy as np

from one_keras import runs
from one_keras.data import image_folder
from one_keras.data import labels
from one_keras.data import numpy_pipeline
from one_keras.utils import backends
from one_keras.utils import validation


DEFAULT_DEPLOYABLE = "target"
# Exported artifact formats: the module that runs each, and its package.
RUNTIMES = {"savedmodel": ("tensorflow", "tensorflow"),
            "tflite": ("ai_edge_litert", "ai-edge-litert"),
            "onnx": ("onnxruntime", "onnxruntime")}
KIND_NAMES = {"keras": "`.keras` file", "savedmodel": "SavedModel directory",
              "tflite": "`.tflite` file", "onnx": "`.onnx` file"}
CSV_HEADER_START = ("path", "class_1", "probability_1")
# What makes a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@")
UNDECODABLE = (OSError, ValueError, SyntaxError)


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
        format: str. `"keras"`, `"savedmodel"`, `"tflite"` or `"onnx"`.
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


@dataclasses.dataclass(frozen=True)
class Prediction:
    """The top classes of one image.

    Attributes:
        path: str. The image file.
        top: list of `(label, probability)`, most probable first; `label`
            is the class name where known, else its index (a str).
        indices: list of int. The classes' indices, in the same order.
    """

    path: str
    top: list
    indices: list


def artifact_format(path):
    """The format of a deployable at `path`: `"keras"`, `"savedmodel"`,
    `"tflite"`, `"onnx"`, or `"run"` for a run directory.

    Raises:
        ValueError: `path` does not exist or is none of those.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            return "savedmodel"
        return "run"
    if not os.path.isfile(path):
        raise ValueError(
            "`model` must be a run directory, a `.keras` file, a SavedModel "
            "directory, a `.tflite` or an `.onnx` file. Received: "
            f"model={path!r} (not found)")
    suffix = os.path.splitext(path)[1].lower()
    formats = {".keras": "keras", ".tflite": "tflite", ".onnx": "onnx"}
    if suffix not in formats:
        raise ValueError(
            "`model` must be a run directory, a `.keras` file, a SavedModel "
            "directory, a `.tflite` or an `.onnx` file. Received: "
            f"model={path!r} (a {suffix or 'suffix-less'} file)")
    return formats[suffix]


def load_predictor(model, deployable=None, class_names=None):
    """Loads a deployable to label images with.

    Args:
        model: str. A run directory, a `.keras` file, a SavedModel
            directory, a `.tflite` or an `.onnx` file.
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
    if deployable is not None and kind != "run":
        raise ValueError(
            "`deployable` chooses a deployable of a run directory; "
            f"{model!r} is a {KIND_NAMES[kind]}. Pass the run directory, or "
            f"leave out --deployable. Received: deployable={deployable!r}")
    # The run whose config.json names the classes: the folder itself, or
    # the one holding the file (a SavedModel's too).
    run_dir = runs.RunDirectory(model if kind == "run" else
                                os.path.dirname(os.path.abspath(model)))
    if kind == "run":
        model = _deployable_path(run_dir, deployable or DEFAULT_DEPLOYABLE)
        kind = "keras"
    if kind == "keras":
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
        class_names, notes = _run_class_names(run_dir, config, num_classes)
    return Predictor(run=run, input_shape=input_shape,
                     num_classes=num_classes, class_names=class_names,
                     center_crop=config.get("dataset") == "imagenet2012",
                     source=model, format=kind, notes=notes)


def _run_class_names(run_dir, config, num_classes):
    """The class names the run stored when it trained (`inputs.json`),
    and a note where its image folder's classes changed since; for a run
    of an earlier version, a dataset's fixed names (digits, tfds), never
    an image folder's classes as they are now.

    Returns:
        `(class_names or None, notes)`: `notes` a tuple of one-line str.
    """
    recorded = run_dir.read_inputs() or {}
    trained = recorded.get("class_names")
    dataset = config.get("dataset")
    if isinstance(trained, list) and len(trained) == num_classes and all(
            isinstance(name, str) for name in trained):
        location = recorded.get("data_location")
        train = os.path.join(location, "train") if isinstance(
            location, str) else None
        if recorded.get("dataset") != "image_folder" or train is None or \
                not os.path.isdir(train):
            return trained, ()
        change = labels.changed_classes(
            trained, image_folder.class_folders(train))
        return trained, ((
            f"the classes of {location} changed since the run trained on "
            f"it ({change}); labels are the {num_classes} classes it "
            "trained on."),) if change else ()
    if not isinstance(dataset, str):
        return None, ()
    if dataset == "image_folder":
        return None, (
            f"{run_dir.path} does not record its class names (trained by "
            "an earlier version): classes are shown by index; pass "
            "--class_names to name them.",)
    data_dir = config.get("data_dir")
    names = labels.dataset_class_names(
        dataset, data_dir if isinstance(data_dir, str) else None)
    if names is not None and len(names) != num_classes:
        names = None  # Not this model's classes: print indices.
    return names, ()


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
    """An exported artifact in its own runtime: probabilities out."""
    module, package = RUNTIMES[kind]
    if importlib.util.find_spec(module) is None:
        raise backends.BackendError(
            f"A {kind} artifact runs under {module}, which is not "
            f"installed: `pip install {package}`, or predict with a "
            "`.keras` deployable (a run directory), which needs only "
            "Keras. Received: model=" + path)
    try:
        from one_keras.export import verify
    except ImportError as error:  # one_keras.export imports TensorFlow.
        raise backends.BackendError(
            f"A {kind} artifact is run through one_keras.export, which "
            f"needs TensorFlow here ({error}); install it, or predict with "
            "a `.keras` deployable. Received: model=" + path) from None
    runner = verify.load_runner(kind, path)
    shape = artifact_input_shape(kind, path)
    probe = runner(np.zeros((1,) + shape, "float32"))["probabilities"]

    def run(images):
        return np.asarray(runner(np.asarray(images, "float32"))[
            "probabilities"])

    return run, shape, int(probe.shape[-1])


def artifact_input_shape(kind, path):
    """`(height, width, channels)` of an exported artifact's `images`.

    Args:
        kind: str. `"savedmodel"`, `"tflite"` or `"onnx"`.
        path: str. The artifact.
    """
    if kind == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        from one_keras.utils import runtime_noise

        with runtime_noise.quiet_tflite_start():
            interpreter = Interpreter(model_path=path)
            interpreter.allocate_tensors()
        details = interpreter.get_signature_runner(
            "serving_default").get_input_details()
        shape = list(next(iter(details.values()))["shape"])
    elif kind == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(
            path, providers=["CPUExecutionProvider"])
        shape = list(session.get_inputs()[0].shape)
    else:
        from tensorflow.core.protobuf import saved_model_pb2

        saved = saved_model_pb2.SavedModel()
        with open(os.path.join(path, "saved_model.pb"), "rb") as handle:
            saved.ParseFromString(handle.read())
        signature = saved.meta_graphs[0].signature_def["serving_default"]
        spec = next(iter(signature.inputs.values()))
        shape = [d.size for d in spec.tensor_shape.dim]
    if len(shape) != 4 or not all(isinstance(d, (int, np.integer)) and d > 0
                                  for d in shape[1:]):
        raise ValueError(
            f"`model` {path!r} must take a batch of images of a fixed size "
            "(batch, height, width, channels), as an export writes. "
            f"Received: input shape {shape}")
    return tuple(int(d) for d in shape[1:])


def softmax(logits):
    """Probabilities from logits, in float64 then float32."""
    logits = np.asarray(logits, "float64")
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (shifted / shifted.sum(axis=-1, keepdims=True)).astype("float32")


def parse_class_names(value):
    """Class names from `--class_names`: a text file with one name a line
    (UTF-8, a byte order mark allowed; blank lines left out), or names
    separated by commas.

    Returns:
        A list of str, or `None` for an empty `value`.

    Raises:
        ValueError: an empty name among the commas, no name at all, or a
            name given twice.
    """
    if not value:
        return None
    if os.path.isfile(value):
        # "utf-8-sig": a BOM (Windows Notepad) is no part of the first name.
        with open(value, encoding="utf-8-sig") as handle:
            names = [name for name in (line.strip() for line in handle)
                     if name]
        source = f"the file {value}"
    else:
        names = [name.strip() for name in value.lstrip("\ufeff").split(",")]
        source = "the commas"
        if not all(names):
            raise ValueError(
                "`class_names` must be names separated by commas, none "
                "empty (or a text file with one a line). Received: "
                f"class_names={value!r}")
    if not names:
        raise ValueError(f"`class_names` names no class: {source} holds "
                         "none. Give one name a line, in label order. "
                         f"Received: class_names={value!r}")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(
            f"`class_names` must name each class once; {source} give "
            f"{', '.join(map(repr, twice[:5]))} more than once. Received: "
            f"class_names={value!r}")
    return names


def list_images(inputs, exclude=(), on_skip=None):
    """The files to label: the files given, and the files under the folders
    given, recursively, in sorted order, without hidden files and folders.

    Symlinked files and sub-folders are followed; a sub-folder that leads
    to a folder listed already (a symlink loop, or a second way to the same
    folder) and one that cannot be listed are left out, through `on_skip`.

    Args:
        inputs: list of str. Image files and folders.
        exclude: iterable of str. Paths to leave out (the CSV output).
        on_skip: callable or `None`. `on_skip(path, reason)` for each
            sub-folder left out; `None` leaves them out silently.

    Returns:
        A list of file paths (not yet checked to be images).

    Raises:
        ValueError: an input does not exist, or there is no file at all.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    excluded = {os.path.abspath(os.fspath(p)) for p in exclude}
    paths = []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            paths.extend(_files_under(item, on_skip or (lambda *_: None)))
        elif os.path.lexists(item):
            paths.append(item)
        else:
            raise ValueError(
                "`input` must be an image file or a folder of images. "
                f"Received: input={item!r} (not found)")
    paths = [p for p in paths if os.path.abspath(p) not in excluded]
    if not paths:
        raise ValueError(
            "`input` holds no files to label: give image files or folders "
            "holding some. Received: input="
            + ", ".join(repr(os.fspath(i)) for i in inputs))
    return paths


def _files_under(folder, on_skip):
    """The files under `folder`, recursively and sorted, symlinked
    sub-folders followed, each real folder once."""
    listed = {os.path.realpath(folder): folder}

    def unlistable(error):
        on_skip(error.filename, "the folder cannot be listed "
                f"({error.strerror})")

    files = []
    for parent, folders, names in os.walk(folder, onerror=unlistable,
                                          followlinks=True):
        kept = []
        for name in sorted(f for f in folders if not f.startswith(".")):
            path = os.path.join(parent, name)
            real = os.path.realpath(path)
            if real in listed:
                on_skip(path, "a link to a folder listed already ("
                        f"{image_folder.shown(listed[real])})")
                continue
            listed[real] = path
            kept.append(name)
        folders[:] = kept
        files.extend(os.path.join(parent, name) for name in sorted(names)
                     if not name.startswith("."))
    return files


def read_image(path, input_shape, center_crop=False):
    """One image file as the model's float32 input of raw 0-255 pixels.

    Args:
        path: str. An image file.
        input_shape: tuple. `(height, width, channels)`, 1 or 3 channels.
        center_crop: bool. Resize the shorter side and centre-crop (as
            ImageNet evaluation does) instead of resizing to the input.

    Returns:
        A float32 array of `input_shape`.

    Raises:
        ValueError: the file is not an image (the reason in the message).
    """
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError as error:
        raise ValueError(f"it cannot be opened ({error.strerror})") from None
    if not regular:  # Reading a named pipe could block forever.
        raise ValueError("not a regular file (a named pipe, socket or "
                         "device)")
    height, width, channels = input_shape
    try:
        image = numpy_pipeline.decode(path, channels)
    except numpy_pipeline.UnusableImage as error:
        raise ValueError(f"refused: {error}") from None
    except UNDECODABLE as error:
        raise ValueError(f"not an image ({_first_line(error)})") from error
    except Exception as error:  # Pillow's DecompressionBombError, ...
        raise ValueError(f"cannot be decoded ({type(error).__name__}: "
                         f"{_first_line(error)})") from error
    if center_crop and height == width:
        image = numpy_pipeline.resize_center_crop(image, height)
    else:
        image = numpy_pipeline.resize_to(image, (height, width))
    return image.astype("float32")


def _first_line(error):
    return (str(error).splitlines() or [type(error).__name__])[0]


def predict_files(predictor, paths, top_k=5, batch_size=64, on_skip=None):
    """Labels image files, batch by batch, as they are read.

    Args:
        predictor: `Predictor`.
        paths: list of str. Files to label (see `list_images`).
        top_k: int. Classes per image (at most the model's). Defaults to
            `5`.
        batch_size: int. Images per model call. Defaults to `64`.
        on_skip: callable or `None`. `on_skip(path, reason)` for each file
            that is not an image; `None` skips silently.

    Yields:
        A `Prediction` per image, in the order of `paths`.

    Raises:
        ValueError: none of `paths` is an image (after the skips).
    """
    validation.check_int_at_least("top_k", top_k, 1)
    validation.check_int_at_least("batch_size", batch_size, 1)
    k = min(top_k, predictor.num_classes)
    batch, names, labelled = [], [], 0
    for index, path in enumerate(paths):
        try:
            batch.append(read_image(path, predictor.input_shape,
                                    predictor.center_crop))
            names.append(path)
        except ValueError as error:
            if on_skip is not None:
                on_skip(path, str(error))
        if batch and (len(batch) == batch_size or index == len(paths) - 1):
            probabilities = predictor.run(np.stack(batch))
            for name, row in zip(names, probabilities):
                order = np.argsort(-row, kind="stable")[:k]
                yield Prediction(
                    path=name, indices=[int(i) for i in order],
                    top=[(predictor.label(int(i)), float(row[i]))
                         for i in order])
            labelled += len(batch)
            batch, names = [], []
    if not labelled:
        raise ValueError(
            f"`input` holds no image: none of its {len(paths)} files could "
            "be decoded as an image (JPEG, PNG, GIF, BMP, ...). Received: "
            f"e.g. {image_folder.shown(paths[0]) if paths else 'nothing'}")


def format_prediction(prediction):
    """One line: `path: label probability, label probability, ...`."""
    classes = ", ".join(f"{label} {probability:.4f}"
                        for label, probability in prediction.top)
    return f"{image_folder.shown(prediction.path)}: {classes}"


def _csv_cell(text):
    """`text` safe in a CSV cell: on one line (`image_folder.shown`), and
    never read as a formula by a spreadsheet (a leading `=`, `+`, `-` or
    `@` gets a `'`, as OWASP advises)."""
    text = image_folder.shown(text)
    return "'" + text if text[:1] in FORMULA_STARTS else text


def csv_header(top_k):
    """The CSV columns: `path`, then `class_i`, `probability_i` per rank."""
    header = ["path"]
    for rank in range(1, top_k + 1):
        header += [f"class_{rank}", f"probability_{rank}"]
    return header


def _is_predictions_csv(path):
    """Whether `path` is a CSV file that `write_csv` wrote."""
    if os.path.islink(path) or not os.path.isfile(path):
        return False
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            first = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return tuple(first[:3]) == CSV_HEADER_START


def check_csv_path(path):
    """Raises, before labelling, unless predictions may go to `path`: a new
    file in an existing folder, or a CSV this module wrote; never a file of
    a training run (`one_keras.runs.check_output_path`)."""
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ValueError(f"`output` must be in an existing folder; "
                         f"{parent} does not exist. Received: output={path}")
    runs.check_output_path(
        path, _is_predictions_csv, "predictions CSV (a file that "
        "`one_keras.cli.predict --output` wrote)", hint="e.g. a new "
        "predictions.csv")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"`output` cannot be written (no write permission "
                         f"in {parent}). Received: output={path}")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_csv(path, predictions, top_k):
    """Writes predictions as CSV, atomically: a temporary file beside
    `path`, renamed over it (a symlink at `path` is refused by
    `check_csv_path`, never written through). The file gets the mode a new
    file gets (0666 less the umask). Paths and labels are written on one
    line each (`image_folder.shown`), and a cell that a spreadsheet would
    run as a formula (`=cmd|...`) starts with a `'`.

    Args:
        path: str. Checked by `check_csv_path`.
        predictions: list of `Prediction`.
        top_k: int. The ranks to write (a row with fewer leaves them empty).
    """
    check_csv_path(path)
    folder = os.path.dirname(os.path.abspath(path))
    handle = tempfile.NamedTemporaryFile(
        "w", dir=folder, suffix=".csv.tmp", newline="", encoding="utf-8",
        delete=False)
    try:
        with handle:
            writer = csv.writer(handle)
            writer.writerow(csv_header(top_k))
            for prediction in predictions:
                row = [_csv_cell(prediction.path)]
                for label, probability in prediction.top:
                    row += [_csv_cell(label), f"{probability:.6g}"]
                writer.writerow(row)
        os.chmod(handle.name, 0o666 & ~_umask())  # Not mkstemp's 0600.
        os.replace(handle.name, path)
    finally:
        if os.path.exists(handle.name):
            os.unlink(handle.name)

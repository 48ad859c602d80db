"""`export_model`: one call from a trained model to a verified artifact.

What to write and how to verify it are an `ExportOptions`
(`one_keras/export/options.py`); everything format-specific is the
format's (`one_keras/export/formats.py`).

ONE: "Knowledge Distillation by On-the-Fly Native Ensemble", Lan, Zhu and
Gong, NeurIPS 2018 (arXiv:1806.04606).
"""

import os
import re
import shutil
import socket
import tempfile

import keras
import numpy as np

from one_keras import data as data_lib
from one_keras import runs
from one_keras.export import formats
from one_keras.export import serving
from one_keras.export import verify
from one_keras.export.options import RUN_DATASET
from one_keras.export.options import ExportOptions
from one_keras.methods import saved_models
from one_keras.models import deployment
from one_keras.reports import provenance
from one_keras.runs import lock as run_lock
from one_keras.runs import saved_run
from one_keras.runs.directory import TRAINING_FILES
from one_keras.utils import backends


MAX_CALIBRATION_IMAGES = 500
MAX_QAT_IMAGES = 5000
# The hidden folder an export stages its artifact in, beside the output:
# `.<artifact>.export-<host>-<pid>-<random>`; a killed export leaves it.
STAGING = re.compile(
    r"^\.(?P<artifact>.+)\.export-(?P<host>.+)-(?P<pid>\d+)-[a-z0-9_]{8}$")
# Older versions staged in `.<artifact>.<random>` and set a replaced
# SavedModel aside in `.<artifact>.old.<random>`, naming no owner.
LEGACY_STAGING = re.compile(r"^\.(?P<artifact>.+?)\.(old\.)?[a-z0-9_]{8}$")


def check_exportable(model, options, method=None):
    """Raises a `ValueError` naming the fix unless `model` can be exported
    with `options` (which checked their own values when made).

    Args:
        model: `keras.Model`. A trained method model or a deployed model.
        options: `ExportOptions`.
        method: str or `None`. The method that trained `model`, where
            known, for the messages.
    """
    serving.check_exportable(model, options.mode, method)
    if options.include_preprocessing and \
            not hasattr(model, "deployable_cores") and \
            not deployment.takes_raw_pixels(model):
        raise ValueError(
            "`model` does not normalise raw pixels itself (a target.keras "
            "of an earlier version, or a model of your own), so the "
            "artifact cannot take raw pixels: export the run directory (its "
            "model.keras), or pass include_preprocessing=False "
            "(--noinclude_preprocessing) to serve it as it is. Received: "
            f"model={model.name!r}")


def export_model(model, path=None, options=None, **changes):
    """Exports the target or the ONE-E ensemble and verifies the artifact.

    The artifact is written into a temporary directory next to `path`, run
    with its own runtime (`formats.ExportFormat.runner`) on up to
    `options.num_samples` test images of the data the model was trained on
    (random pixels when `options.dataset` is `None`) and compared with the
    Keras model: test accuracy of both and their top-1 agreement. Only an
    artifact that passes is moved to `path`, and its entry in
    `export_report.json` next to `path` (under `exports`) then describes
    it, naming the model it came from; an artifact that fails leaves
    `path` and its entry as they were, and is recorded under
    `failed_attempts`. Only a format that needs TensorFlow
    (`ExportFormat.needs_tensorflow`) requires it.

    Args:
        model: `keras.Model` or str. A trained method model or a deployed
            `<name>.keras` model, or a path: a `.keras` file or a training
            output directory (the `model.keras` there).
        path: str or `None`. Where the artifact goes: a SavedModel
            directory, a `.tflite` or an `.onnx` file (a registered
            format's artifact). An existing artifact there is replaced
            atomically, if `export_report.json` beside it says it is an
            export of the same deployable of the same run; anything else
            (another deployable's artifact, a training directory, another
            file) is refused with a `ValueError`. `None` (default):
            `default_output_path`, beside the model and named after the
            deployable (e.g. `ensemble.onnx`).
        options: `ExportOptions` or `None`. The format, mode, quantisation,
            data and verification bars; `None` is `ExportOptions()`.
        **changes: `ExportOptions` fields that replace those of `options`
            (`export_model(m, p, format="onnx")`).

    Returns:
        The report entry, a dict: `artifact`, `model` (the source:
        `{"deployable": name, "file": the `.keras` file, relative to the
        artifact's folder, or `None` for a model passed loaded}`),
        `format`, `mode`, `quantize`, `file_size_bytes`, `params`, `check`,
        `value`, `threshold`, `passed`, the bars `min_agreement` and
        `max_abs_diff`, `latency_ms_batch1` and more.

    Example:
    ```python
    from one_keras import export

    report = export.export_model(
        "runs/digits", "runs/digits/target_int8.tflite", quantize="int8")
    assert report["passed"]
    ```
    """
    options = (options or ExportOptions()).replace(**changes)
    model_path = None
    if not isinstance(model, keras.Model):
        model_path = model
        model = saved_models.load_model(model, training_only=True)
    check_exportable(model, options, method=_method_of(model_path))
    exporter = options.exporter
    if exporter.needs_tensorflow:
        backends.require_tensorflow(
            f"Exporting to {exporter.name} (its converter)")
    mode, quantize = options.mode, options.quantize
    source = exported_model(model, model_path, mode)
    if path is None:
        if model_path is None:
            raise ValueError(
                "`path` must be given when `model` is a loaded model (no "
                "folder to export beside). Received: path=None")
        path = default_output_path(model_path, mode, exporter, quantize,
                                   options.qat_epochs, source["deployable"])
    dataset = _resolve_dataset(model_path, options.dataset, options.data_dir,
                               options.image_size, options.skip_bad_images)
    path = os.path.abspath(os.fspath(path))
    check_output_path(path, exporter)
    check_same_deployable(path, source)
    parent = os.path.dirname(path)
    serving_model = float32_model(serving.build_serving_model(
        model, mode, options.include_preprocessing))
    norm = None if options.include_preprocessing else \
        serving.serving_normalization(model, mode)
    eval_images, eval_labels = _evaluation_data(
        serving_model, dataset, options.num_samples)
    eval_images = _normalized(eval_images, norm)
    os.makedirs(parent, exist_ok=True)
    remove_stale_staging(parent)
    work = tempfile.mkdtemp(
        prefix=f".{os.path.basename(path)}.export-{socket.gethostname()}-"
        f"{os.getpid()}-", dir=parent)
    try:
        staged = os.path.join(work, os.path.basename(path))
        _write_artifact(serving_model, staged, options, dataset, norm, work)
        entry = _verify(serving_model, staged, options, eval_images,
                        eval_labels)
        entry.update({
            "artifact": os.path.basename(path), "format": exporter.name,
            "model": _recorded(source, parent),
            "mode": mode, "quantize": quantize,
            "include_preprocessing": bool(options.include_preprocessing),
            "opset": options.opset if exporter.name == "onnx" else None,
            "qat_epochs": options.qat_epochs,
            "source": provenance.source_revision(),
            "file_size_bytes": _size(staged),
            "params": int(serving_model.count_params()),
            "num_samples": int(len(eval_images)),
            "dataset": dataset.name if dataset else None,
            "data": (f"{dataset.name} test ({len(eval_images)} of "
                     f"{dataset.num_test} images)" if dataset
                     else "random pixels")})
        folder = runs.RunDirectory(parent)
        # Listed first: a run owns the exports written into it.
        folder.record_export_files(
            entry["artifact"] if entry["passed"] else None)
        if entry["passed"]:
            _install(staged, path, exporter, work, source)
        folder.record_export(entry, installed=entry["passed"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return entry


def _method_of(model_path):
    """The method named in the `config.json` of the run `model_path` is in,
    or `None`."""
    if model_path is None:
        return None
    config = runs.RunDirectory.of_model(model_path).read_config() or {}
    method = config.get("method")
    return method if isinstance(method, str) else None


def exported_model(model, model_path, mode):
    """What an export of `model` in `mode` serves: its deployable and file.

    A method model (a run's `model.keras`) serves the deployable of `mode`
    (`target` or `ensemble`); a deployed `<name>.keras` is the deployable
    `name` (`ensemble.keras` is `ensemble`, DML's `peer_1.keras` is
    `peer_1`).

    Args:
        model: `keras.Model`. The loaded model.
        model_path: str or `None`. Where it was loaded from: a `.keras`
            file or a run directory; `None` for a model passed loaded.
        mode: str. `"single"` or `"ensemble"`.

    Returns:
        A dict: `deployable` (str) and `file` (the absolute path of the
        `.keras` file, or `None`).
    """
    file = None
    if model_path is not None:
        file = os.path.abspath(os.fspath(model_path))
        if os.path.isdir(file):
            file = runs.RunDirectory(file).saved_model_path(
                training_only=True)
    deployable = serving.MODE_DEPLOYABLES[mode]
    if file is not None and not hasattr(model, "deployable_cores"):
        name = os.path.basename(file)
        if name not in TRAINING_FILES:
            deployable = os.path.splitext(name)[0]
    return {"deployable": deployable, "file": file}


def _recorded(source, folder):
    """`source` as the report records it: its file relative to `folder`."""
    file = source["file"]
    return {"deployable": source["deployable"],
            "file": None if file is None else os.path.relpath(file, folder)}


def _described(source):
    file = source.get("file")
    return f"the `{source['deployable']}` deployable" + (
        f" of {file}" if file else "")


def check_same_deployable(path, source):
    """Raises a `ValueError` unless the artifact at `path`, if any, is an
    export of the same deployable as `source` (`exported_model`), of the
    same run when both files are known, as its `export_report.json` entry
    says; an artifact no entry describes is refused too.

    Args:
        path: str. The artifact path.
        source: dict. `exported_model`'s.
    """
    path = os.path.abspath(os.fspath(path))
    if not os.path.lexists(path):
        return
    folder, artifact = os.path.split(path)
    entry = runs.RunDirectory(folder).export_entry(artifact)
    instead = (f"Pass another --output (the default is named after the "
               f"deployable, e.g. {source['deployable']}.<format>), or "
               f"remove {path} first. Received: output={path}")
    if entry is None:
        raise ValueError(
            f"`output` {path!r} holds an artifact that export_report.json "
            f"beside it does not describe, so this export of "
            f"{_described(source)} will not replace it. {instead}")
    old = entry.get("model")
    if not isinstance(old, dict) or not isinstance(old.get("deployable"),
                                                   str):
        # An older version's entry: only its mode says what it is.
        old = {"deployable": serving.MODE_DEPLOYABLES.get(
            entry.get("mode"), "target"), "file": None}
    old_file = old.get("file") if isinstance(old.get("file"), str) \
        else None
    if old_file is not None:
        old = {**old, "file": os.path.normpath(os.path.join(folder,
                                                            old_file))}
    same_run = old_file is None or source["file"] is None or \
        os.path.realpath(os.path.dirname(old["file"])) == \
        os.path.realpath(os.path.dirname(source["file"]))
    if old["deployable"] != source["deployable"] or not same_run:
        raise ValueError(
            f"`output` {path!r} holds the export of {_described(old)}; "
            f"this export of {_described(source)} replaces only an export "
            f"of its own. {instead}")


def _resolve_dataset(model_path, dataset, data_dir, image_size,
                     skip_bad_images=False):
    """The `one_keras.data.Dataset` that `dataset` names, or `None`."""
    if dataset is None or isinstance(dataset, data_lib.Dataset):
        return dataset
    if model_path is not None:
        return saved_run.load_run_dataset(
            model_path, None if dataset == RUN_DATASET else dataset,
            data_dir, image_size, skip_bad_images)
    if dataset == RUN_DATASET:
        raise ValueError(
            "`dataset` must name the model's data (or be a "
            "`one_keras.data.Dataset`) when `model` is a loaded model "
            "rather than a run's path, which has no config.json to read. "
            f"Received: dataset={dataset!r}")
    # As a run's data (`saved_run.load_run_dataset`): in the pipeline this
    # backend runs, unaugmented; TensorFlow only for a tfds dataset.
    extra = {"skip_bad_images": True} if skip_bad_images else {}
    return data_lib.load_for_backend(dataset, data_dir=data_dir,
                                     image_size=image_size, augment="none",
                                     **extra)


def _normalized(images, normalization):
    """Raw 0-255 pixels normalised as in training; `None` leaves them."""
    if normalization is None:
        return images
    return data_lib.normalize(images, normalization).numpy()


def _evaluation_data(serving_model, dataset, num_samples):
    """Raw test images and labels, or random pixels and no labels."""
    if dataset is None:
        shape = (num_samples,) + tuple(serving_model.input.shape[1:])
        rng = np.random.default_rng(0)
        return rng.uniform(0, 255, shape).astype("float32"), None
    _check_shape(serving_model, dataset)
    return data_lib.split_arrays(dataset, "test", limit=num_samples)


def _check_shape(serving_model, dataset):
    expected = tuple(serving_model.input.shape[1:])
    if tuple(dataset.input_shape) != expected:
        raise ValueError(
            f"`dataset` must match the model's input shape {expected}; "
            "export with the data the model was trained on (--dataset, "
            "--data_dir, --image_size). Received: dataset="
            f"{dataset.name!r} with images of shape "
            f"{tuple(dataset.input_shape)}")


def float32_model(serving_model):
    """`serving_model` computing in float32, weights shared in value.

    A mixed-precision run's layers compute in bfloat16 or float16, which
    the TFLite and ONNX converters do not take; an artifact computes in
    float32 (int8 is then calibrated from float32). A float32 model is
    returned as it is.

    Args:
        serving_model: `keras.Model`. A functional model.

    Returns:
        A `keras.Model` whose layers all compute in float32, with the same
        weights.
    """
    if all(_policy_name(layer) == "float32"
           for layer in _all_layers(serving_model)):
        return serving_model
    config = deployment.float32_config(serving_model.get_config())
    model = serving_model.__class__.from_config(config)
    model.set_weights(serving_model.get_weights())
    return model


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def _policy_name(layer):
    return getattr(getattr(layer, "dtype_policy", None), "name", "float32")


def _write_artifact(serving_model, staged, options, dataset, norm, work):
    """Writes the artifact to `staged` in `options.format` (int8:
    calibrated on the training split, or quantisation-aware fine-tuned
    first)."""
    qat_epochs = options.qat_epochs
    representative = None
    if options.quantize == "int8":
        images, labels = data_lib.split_arrays(
            dataset, "train", limit=MAX_QAT_IMAGES if qat_epochs
            else MAX_CALIBRATION_IMAGES)
        images = _normalized(images, norm)
        representative = images[:MAX_CALIBRATION_IMAGES]
        if qat_epochs:
            from one_keras.export import qat  # tfmot only runs in a child.

            qat.quantize_aware_tflite(serving_model, staged, images, labels,
                                      qat_epochs, representative, work=work)
            return
    options.exporter.write(
        serving_model, staged, quantize=options.quantize, opset=options.opset,
        representative_images=representative, work=work)


def _verify(serving_model, staged, options, images, labels):
    """Checks the staged artifact, run by its format's runner, against
    Keras; times both at batch 1."""
    run = options.exporter.runner(staged)
    reference = serving_model.predict(images, batch_size=64, verbose=0)
    reference = {k: np.asarray(reference[k]) for k in serving.OUTPUT_NAMES}
    entry = verify.compare(reference, verify.run_batched(run, images),
                           options.quantize, labels, options.min_agreement,
                           options.max_abs_diff)
    one = images[:1]
    repeats = options.latency_repeats
    entry["latency_ms_batch1"] = {
        "export": verify.latency_ms(run, one, repeats),
        "keras": verify.latency_ms(serving_model.predict_on_batch, one,
                                   repeats)}
    return entry


def _size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(root, f))
               for root, _, files in os.walk(path) for f in files)


def check_output_path(path, format):
    """Raises a `ValueError` unless `path` is free or holds an artifact of
    `format` (which the export may replace), and is none of a training
    run's own files (`one_keras.runs.check_output_path`); nothing is touched.

    Args:
        path: str. The artifact path.
        format: str or `formats.ExportFormat`. A name `formats.get` knows.
    """
    exporter = formats.get(format)
    runs.check_output_path(
        path, exporter.is_artifact, f"{exporter.name} artifact",
        hint="e.g. the default, next to the model")


def _install(staged, path, exporter, work, source):
    """Moves the staged artifact to `path`, replacing an artifact of the
    same format and deployable there: a file by one atomic rename, a
    SavedModel directory by two renames (the old one is moved aside into
    `work/old` first, where `remove_stale_staging` puts it back if a kill
    comes in between)."""
    check_output_path(path, exporter)
    check_same_deployable(path, source)
    if not os.path.isdir(path):
        os.replace(staged, path)
        return
    os.replace(path, os.path.join(work, "old"))
    os.replace(staged, path)


def remove_stale_staging(folder):
    """Removes the staging folders that killed exports left in `folder`.

    A staging folder is removed when its name says it is one
    (`STAGING`) and its owner process is gone (`run_lock.owner_is_gone`),
    or when it has an older version's name (`LEGACY_STAGING`) and holds
    what an export stages, and nothing else. Anything else is left alone. A
    SavedModel that a killed export had set aside is first put back when
    nothing took its place.

    Args:
        folder: str. The folder of an export's output.

    Returns:
        The names of the removed folders.
    """
    removed = []
    for name in sorted(os.listdir(folder)):
        staging = os.path.join(folder, name)
        if os.path.islink(staging) or not os.path.isdir(staging):
            continue
        match = STAGING.match(name)
        if match:
            owner = {"pid": int(match["pid"]), "host": match["host"]}
            if not run_lock.owner_is_gone(owner):
                continue  # A running export's.
            aside = os.path.join(staging, "old")
        else:
            match = LEGACY_STAGING.match(name)
            if not match or not _holds_only_staging(staging,
                                                    match["artifact"]):
                continue
            aside = os.path.join(staging, "artifact")
        artifact = os.path.join(folder, match["artifact"])
        if os.path.isdir(aside) and not os.path.lexists(artifact):
            os.replace(aside, artifact)  # Killed between the two renames.
        shutil.rmtree(staging, ignore_errors=True)
        removed.append(name)
    return removed


def _holds_only_staging(staging, artifact):
    """Whether an older version's staging folder holds its own files only
    (the staged artifact, its SavedModel or the replaced artifact)."""
    entries = os.listdir(staging)
    return bool(entries) and all(
        entry.startswith(artifact) or entry in ("saved_model", "artifact")
        for entry in entries)


def default_output_path(model_path, mode, format, quantize="none",
                        qat_epochs=0, deployable=None):
    """Where an export goes by default: beside the model, named after the
    deployable it serves and the settings.

    Args:
        model_path: str. A `.keras` file or a training output directory.
        mode, format, quantize, qat_epochs: as in `export_model` (`format`
            in any spelling `formats.get` knows).
        deployable: str or `None`. The deployable exported
            (`exported_model`'s); `None` tells it from `model_path`'s name
            (a deployed `<name>.keras` is `name`) and `mode`.

    Returns:
        A path such as `runs/digits/target_int8.tflite`,
        `runs/digits/ensemble_savedmodel` or `runs/dml/peer_1.onnx`.
    """
    model_path = os.fspath(model_path)
    directory = model_path if os.path.isdir(model_path) else \
        os.path.dirname(model_path)
    name = deployable
    if name is None:
        name = serving.MODE_DEPLOYABLES.get(mode, mode)
        base = os.path.basename(model_path)
        if not os.path.isdir(model_path) and base.endswith(".keras") and \
                base not in TRAINING_FILES:
            name = base[:-len(".keras")]
    if quantize != "none":
        name += f"_{quantize}"
    if qat_epochs:
        name += "_qat"
    return os.path.join(directory, formats.get(format).default_name(name))

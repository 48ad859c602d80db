"""Evaluates a saved method model, or one deployed model, on a test split."""

import dataclasses
import os

import keras

from one_keras import data as data_lib
from one_keras import runs
from one_keras.models import deployment
from one_keras.reports import run_report
from one_keras.reports.parameters import count_shipped
from one_keras.utils.json_files import read_json
from one_keras.utils.json_files import write_json


# The key that marks a JSON file as an evaluation report (which a later
# evaluation may replace): the model it evaluated.
REPORT_MARK = "evaluated_model"


def evaluate_model(model, dataset, batch_size=256, steps=None):
    """Test accuracy of a trained method model or of one deployed model.

    Args:
        model: `keras.Model`. A method model (the `model.keras` of a run:
            every deployable it declares is scored), or a model mapping
            images to class logits (a deployed `<name>.keras`: fed raw 0-255
            pixels when it normalises them itself, as every deployable a
            run writes does; else normalised pixels, as the `target.keras`
            of earlier versions took).
        dataset: `one_keras.data.Dataset`.
        batch_size: int. Test batch size. Defaults to `256`.
        steps: int or `None`. Evaluate only the first `steps` batches.

    Returns:
        A report dict: for a method model its `report_fields` (e.g.
        `target_accuracy`, `ensemble_accuracy`, each branch of ONE) and
        `params_{name}` for every deployable; for a deployed model
        `target_accuracy` (top-5 too beyond 10 classes), `params_target`
        and `input`, the pixels it was fed (`"raw"` or `"normalised"`).
    """
    want = tuple(dataset.input_shape)
    method_model = hasattr(model, "deployable_cores")
    network = (model.deployable_cores()["target"] if method_model
               else model)
    got = tuple(network.input.shape[1:])
    if got != want:
        raise ValueError(
            f"The model takes inputs of shape {got} but the dataset "
            f"`{dataset.name}` gives {want}; evaluate on the dataset the "
            "model was trained on (or pass --image_size). Received: "
            f"input_shape={got}")
    _check_classes(network, dataset)
    if method_model:
        test = data_lib.eval_pipeline(dataset, batch_size, steps=steps)
        model.compile()
        report = run_report.accuracy_fields(
            model, model.evaluate(test, verbose=0, return_dict=True), test,
            dataset.num_classes)
        report.update({f"params_{name}": count_shipped(core)
                       for name, core in model.deployable_cores().items()})
        return report
    raw = deployment.takes_raw_pixels(model)
    if raw:  # Normalising with mean 0 and std 1/255 leaves raw pixels.
        channels = want[-1]
        dataset = dataclasses.replace(dataset, normalization={
            "mean": [0.0] * channels, "std": [1.0 / 255.0] * channels})
    test = data_lib.eval_pipeline(dataset, batch_size, steps=steps)
    report = run_report.deployed_accuracy(model, test, dataset.num_classes)
    report["params_target"] = count_shipped(model)
    report["input"] = "raw" if raw else "normalised"
    return report


def _check_classes(network, dataset):
    """Refuses a model whose outputs are not one logits vector over the
    dataset's classes (Keras would fail mid-evaluation, naming neither)."""
    try:
        output = network.compute_output_spec(
            keras.KerasTensor((None,) + tuple(dataset.input_shape)))
    except Exception:  # Not symbolically callable: Keras will tell.
        return
    shapes = (output.shape if hasattr(output, "shape") else
              [getattr(o, "shape", None) for o in (
                  output.values() if isinstance(output, dict) else output)])
    classes = dataset.num_classes
    if not hasattr(output, "shape") or len(output.shape) != 2:
        raise ValueError(
            "The model must return one logits tensor of shape (batch, "
            f"classes) to be evaluated; this one returns another structure, "
            f"so it does not fit the dataset `{dataset.name}` ({classes} "
            f"classes). Received: output shapes {shapes}")
    if output.shape[-1] != classes:
        raise ValueError(
            f"The model has {output.shape[-1]} classes but the dataset "
            f"`{dataset.name}` has {classes}, so they do not fit; evaluate "
            "on the dataset the model was trained on (--dataset, "
            f"--data_dir). Received: output shape {tuple(output.shape)}")


def check_report_path(path):
    """Raises, before the evaluation, unless a report may go to `path`.

    `path` must be in an existing, writable folder, and new or a report
    this tool wrote; never a model, a checkpoint or another file of a
    training run (`one_keras.runs.check_output_path`).

    Args:
        path: str. Where the JSON report goes.
    """
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ValueError(f"--output={path}: the folder {parent} does not "
                         "exist; create it or choose another path.")
    runs.check_output_path(
        path, _is_report, "evaluation report (a JSON file that "
        "`one_keras.cli.evaluate --output` wrote)",
        hint="e.g. a new eval.json outside the run directories")
    if not os.access(parent, os.W_OK) or (
            os.path.exists(path) and not os.access(path, os.W_OK)):
        raise ValueError(f"--output={path} cannot be written (no write "
                         "permission); choose another path.")


def write_report(path, report, model_path):
    """Writes `report` to `path` atomically, marked as an evaluation report.

    Args:
        path: str. Checked by `check_report_path`.
        report: dict. As `evaluate_model` returns.
        model_path: str. The evaluated model, stored as `evaluated_model`.
    """
    check_report_path(path)  # Again: a run may have started there since.
    write_json(path, {**report, REPORT_MARK: os.path.abspath(model_path)})


def _is_report(path):
    """Whether `path` is a report file that `write_report` wrote."""
    if os.path.islink(path) or not os.path.isfile(path):
        return False
    return REPORT_MARK in (read_json(path) or {})

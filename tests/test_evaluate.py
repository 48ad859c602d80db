"""`python -m one_keras.evaluate`: reports, and one line for bad input."""

import json
import os
import pathlib

import keras
import pytest

from one_keras.reports import model_evaluation
from tests.cli_tools import loaded_tool
from tests.cli_tools import run_main


SCRIPT = pathlib.Path(model_evaluation.__file__).parents[1] / "cli" / "evaluate.py"


@pytest.fixture(scope="module")
def evaluate():
    with loaded_tool(SCRIPT, "evaluate_cli") as module:
        yield module


def _classifier(num_classes=10, two_outputs=False):
    """A plain Keras classifier of 8x8x1 digits."""
    images = keras.Input((8, 8, 1))
    features = keras.layers.Flatten()(images)
    logits = keras.layers.Dense(num_classes)(features)
    outputs = [logits, logits] if two_outputs else logits
    return keras.Model(images, outputs)


def _run_dir(path, config=None, model=None):
    """A training output directory of a digits run (its files, in small)."""
    os.makedirs(path / "backup")
    os.makedirs(path / "tensorboard")
    (path / "config.json").write_text(json.dumps(
        config or {"dataset": "digits", "seed": 0}))
    (path / "report.json").write_text('{"target_accuracy": 0.5}')
    (path / "log.csv").write_text("epoch,loss\n0,1.0\n")
    (path / "backup" / "epoch-00001.json").write_text('{"epoch": 1}')
    (path / "tensorboard" / "events.out").write_bytes(b"\x00")
    (model or _classifier()).save(path / "model.keras")
    (path / "checkpoint.keras").write_bytes(
        (path / "model.keras").read_bytes())
    return path


def _main(evaluate, capsys, **flag_values):
    """Runs the tool; returns its exit code and its stderr lines."""
    code = run_main(evaluate, **flag_values)
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("target", [
    "model.keras", "checkpoint.keras", "report.json", "config.json",
    "log.csv", "backup/epoch-00001.json", "tensorboard/events.out",
    "backup/epoch-00002.json", "../other/report.json"])
def test_output_onto_a_run_file_is_refused_and_left_alone(
        evaluate, capsys, tmp_path, monkeypatch, target):
    """Used to write the JSON report over the model (exit 0)."""
    run = _run_dir(tmp_path / "run")
    _run_dir(tmp_path / "other")
    monkeypatch.setattr("sys.argv", ["evaluate.py"])
    files = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    code, err = _main(evaluate, capsys, model=str(run),
                      output=str(run / target))
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith("evaluate.py: error: `output` must ")
    assert "left alone" in err[0]
    assert {p: p.read_bytes() for p in tmp_path.rglob("*")
            if p.is_file()} == files


def test_report_is_written_and_replaced_but_no_other_file(
        evaluate, capsys, tmp_path, monkeypatch):
    run = _run_dir(tmp_path / "run")
    monkeypatch.setattr("sys.argv", ["evaluate.py"])
    output = tmp_path / "eval.json"
    for _ in range(2):  # The second run replaces the first's report.
        code, err = _main(evaluate, capsys, model=str(run),
                          output=str(output))
        assert code == 0, err
    report = json.loads(output.read_text())
    assert report["dataset"] == "digits" and 0 <= report[
        "target_accuracy"] <= 1
    assert report["evaluated_model"] == str(run.resolve())
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": 1}')
    code, err = _main(evaluate, capsys, model=str(run), output=str(notes))
    assert code == 1 and len(err) == 1 and "left alone" in err[0]
    assert notes.read_text() == '{"mine": 1}'


@pytest.mark.parametrize("model, expected", [
    (lambda: _classifier(num_classes=4), "has 4 classes but the dataset "
     "`digits` has 10"),
    (lambda: _classifier(two_outputs=True), "does not fit the dataset "
     "`digits`"),
], ids=["classes", "outputs"])
def test_a_classifier_that_does_not_fit_the_dataset_is_one_line(
        evaluate, capsys, tmp_path, monkeypatch, model, expected):
    """Used to fail deep in Keras: a label out of range, or "The path (0,)
    in the `loss` argument"."""
    run = _run_dir(tmp_path / "run", model=model())
    monkeypatch.setattr("sys.argv", ["evaluate.py"])
    code, err = _main(evaluate, capsys, model=str(run), dataset="digits")
    assert code == 1 and len(err) == 1, err
    assert expected in err[0] and "Received: output shape" in err[0]


@pytest.mark.parametrize("field, value", [("seed", [1]),
                                          ("image_size", "abc"),
                                          ("data_dir", 5)])
def test_a_config_field_of_the_wrong_type_is_one_line(
        evaluate, capsys, tmp_path, monkeypatch, field, value):
    """Used to raise a `TypeError` with a traceback."""
    run = _run_dir(tmp_path / "run",
                   config={"dataset": "digits", field: value})
    monkeypatch.setattr("sys.argv", ["evaluate.py"])
    code, err = _main(evaluate, capsys, model=str(run))
    assert code == 1 and len(err) == 1, err
    assert f"`{field}` in {run / 'config.json'}" in err[0]
    assert err[0].endswith(f"Received: {field}={value!r}")


def test_a_folder_with_one_run_file_name_is_not_a_run(tmp_path):
    """A `config.json` alone may be anyone's: a new report.json beside it
    is allowed; in a run (two of its files, or run.lock) it is not."""
    (tmp_path / "config.json").write_text("{}")
    model_evaluation.check_report_path(str(tmp_path / "report.json"))
    (tmp_path / "run.lock").write_text("{}")
    with pytest.raises(ValueError, match="a file a training run writes"):
        model_evaluation.check_report_path(str(tmp_path / "report.json"))

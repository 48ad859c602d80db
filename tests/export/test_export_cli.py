"""The CLI's bad-input paths: one clear line, exit 1, nothing written."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
from unittest import mock

import pytest
from absl.testing import flagsaver

from one_keras.cli import console as cli_lib
from tests.cli_tools import loaded_tool
from tests.export.conftest import tiny_model


ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "export" / "export.py"  # The documented path: a shim.
MODULE = ROOT / "one_keras" / "cli" / "export.py"


@pytest.fixture(scope="module")
def cli():
    with loaded_tool(MODULE, "export_cli") as module:
        yield module


def _run_main(cli, capsys, **flag_values):
    with flagsaver.flagsaver(**flag_values), \
            mock.patch.object(sys, "argv", ["export.py"]):
        with pytest.raises(SystemExit) as exit_info:
            cli_lib.guarded(cli.main)(["export.py"])
    err = capsys.readouterr().err.strip().splitlines()
    return exit_info.value.code, err


@pytest.fixture(scope="module")
def single_branch_model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("one_branch") / "model.keras"
    tiny_model(num_branches=1).save(path)
    return path


def _bad_cases(model_path, one_branch_path, garbage_path):
    return {
        "missing": ({"model": "/no/such/run"}, "model.keras"),
        "unreadable": ({"model": str(garbage_path)}, "could not be read"),
        "no_branches": ({"model": str(one_branch_path), "mode": "ensemble"},
                        "mode"),
        "opset": ({"model": str(model_path), "format": "onnx",
                   "opset": 19}, "from 7 to 18"),
        "int8_no_data": ({"model": str(model_path), "quantize": "int8",
                          "dataset": "none"}, "calibration"),
        "unknown_dataset": ({"model": str(model_path),
                             "dataset": "cifar7"}, "dataset"),
        "quantize_onnx": ({"model": str(model_path), "format": "onnx",
                           "quantize": "int8"}, "quantize"),
        # A bare .keras, no config.json beside it: which data is unknown.
        "no_run": ({"model": str(model_path)}, "add --dataset"),
    }


@pytest.mark.parametrize("case", ["missing", "unreadable", "no_branches",
                                  "opset", "int8_no_data", "unknown_dataset",
                                  "quantize_onnx", "no_run"])
def test_bad_input_fails_with_one_line(cli, capsys, tmp_path,
                                       digits_model_path,
                                       single_branch_model_path, case):
    garbage = tmp_path / "broken.keras"
    garbage.write_bytes(b"not a zip file")
    values, expected = _bad_cases(digits_model_path,
                                  single_branch_model_path, garbage)[case]
    output = tmp_path / "out" / "artifact"
    code, err = _run_main(cli, capsys, output=str(output), **values)
    assert code == 1
    assert len(err) == 1 and err[0].startswith("export.py: error: ")
    assert expected in err[0]
    assert not (tmp_path / "out").exists()


def test_cli_exports_and_reports(cli, capsys, tmp_path, digits_model_path):
    output = tmp_path / "target.onnx"
    with flagsaver.flagsaver(model=str(digits_model_path.parent),
                             dataset="digits", format="onnx",
                             output=str(output), num_samples=32):
        cli.main(["export.py"])
    out = capsys.readouterr().out
    assert "| onnx | single | none |" in out and "| yes |" in out
    assert "Verified on digits test (32 of 360 images)." in out
    assert output.is_file()
    assert (tmp_path / "export_report.json").is_file()


def test_cli_takes_keras_spelling_of_savedmodel(cli, capsys, tmp_path,
                                                digits_model_path):
    output = tmp_path / "target_savedmodel"
    with flagsaver.flagsaver(model=str(digits_model_path.parent),
                             dataset="digits", format="tf_saved_model",
                             output=str(output), num_samples=16):
        cli.main(["export.py"])
    out = capsys.readouterr().out
    assert "| savedmodel | single | none |" in out and "| yes |" in out
    assert (output / "saved_model.pb").is_file()


@pytest.mark.slow  # A TensorFlow process.
def test_cli_unknown_format_is_a_flag_error(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), f"--model={tmp_path}",
         "--format=pt", f"--output={tmp_path / 'x'}"],
        capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert "--format=pt" in result.stderr and "tflite" in result.stderr
    assert "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []


def test_default_output_path(tmp_path):
    from one_keras.export import default_output_path

    assert default_output_path(tmp_path, "single", "tflite", "int8") == str(
        tmp_path / "target_int8.tflite")
    assert default_output_path(tmp_path / "model.keras", "ensemble",
                               "savedmodel") == str(
        tmp_path / "ensemble_savedmodel")


def test_output_onto_the_run_or_under_a_file_is_one_line(
        cli, capsys, tmp_path, digits_model_path):
    run = digits_model_path.parent
    before = sorted(os.listdir(run))
    code, err = _run_main(cli, capsys, model=str(run), output=str(run),
                          format="tflite", dataset="digits")
    assert code == 1 and len(err) == 1 and "left alone" in err[0]
    assert sorted(os.listdir(run)) == before
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    code, err = _run_main(cli, capsys, model=str(run), format="tflite",
                          dataset="digits",
                          output=str(blocker / "target.tflite"))
    assert code == 1 and len(err) == 1
    assert err[0].startswith("export.py: error: ") and "a_file" in err[0]


@pytest.mark.parametrize("name", ["report.json", "backup/target.tflite"])
def test_output_onto_a_run_file_is_refused(cli, capsys, tmp_path,
                                           digits_model_path, name):
    """A run's own files are never an export's output, even new ones (the
    whole list: tests/test_evaluate.py, the same check)."""
    run = tmp_path / "run"
    (run / "backup").mkdir(parents=True)
    shutil.copy(digits_model_path, run / "model.keras")
    (run / "config.json").write_text('{"dataset": "digits"}')
    before = sorted(p.name for p in run.rglob("*"))
    code, err = _run_main(cli, capsys, model=str(run), output=str(run / name))
    assert code == 1 and len(err) == 1, err
    assert "a file a training run writes" in err[0] and "left alone" in err[0]
    assert sorted(p.name for p in run.rglob("*")) == before


@pytest.mark.parametrize("field, value", [("seed", [1])])
def test_a_config_field_of_the_wrong_type_is_one_line(
        cli, capsys, tmp_path, digits_model_path, field, value):
    """Used to raise a `TypeError` with a traceback (more fields:
    tests/test_evaluate.py, the same check)."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(digits_model_path, run / "model.keras")
    config = run / "config.json"
    config.write_text(json.dumps({"dataset": "digits", field: value}))
    code, err = _run_main(cli, capsys, model=str(run),
                          output=str(tmp_path / "out.tflite"))
    assert code == 1 and len(err) == 1, err
    assert f"`{field}` in {config}" in err[0]
    assert err[0].endswith(f"Received: {field}={value!r}")


def test_a_failed_check_names_the_bar_flag(cli, capsys, tmp_path,
                                           digits_model_path):
    """The bars were fixed: a weakly trained model could not be exported,
    and the line did not say which flag sets the bar."""
    output = tmp_path / "m.onnx"
    code, err = _run_main(cli, capsys, model=str(digits_model_path),
                          dataset="none", format="onnx", output=str(output),
                          num_samples=8, max_abs_diff=0.0)
    assert code == 1 and len(err) == 1 and not output.exists()
    assert err[0].startswith("export.py: error: verification failed: ")
    assert "> --max_abs_diff=0; raise --max_abs_diff to accept it" in err[0]
    entry = json.loads((tmp_path / "export_report.json").read_text())[
        "failed_attempts"]["m.onnx"]
    assert entry["max_abs_diff"] == 0.0 and entry["min_agreement"] is None

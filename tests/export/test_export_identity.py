"""An export says what it is: its default name comes from the deployable it
serves, it replaces only an export of the same deployable, and its report
entry names its source and changes only when a file is installed (issue
37, findings 2 and 6)."""

import json
import shutil
import sys
from unittest import mock

import pytest
from absl.testing import flagsaver

from one_keras.cli import console as cli_lib
from one_keras.export import default_output_path
from one_keras.export import export_model
from one_keras.models import deployment
from tests.cli_tools import loaded_tool
from tests.export.conftest import tiny_model
from tests.export.test_export_cli import MODULE


QUICK = {"dataset": None, "num_samples": 4, "latency_repeats": 1}


@pytest.fixture(scope="module")
def cli():
    with loaded_tool(MODULE, "export_cli_identity") as module:
        yield module


@pytest.fixture()
def run(tmp_path, digits_model_path, digits_model):
    """A run folder: `model.keras` and the deployables a run writes."""
    folder = tmp_path / "r_one"
    folder.mkdir()
    shutil.copy(digits_model_path, folder / "model.keras")
    for name, model in digits_model.deployables().items():
        deployment.stock_copy(model).save(folder / f"{name}.keras")
    return folder


def _report(folder):
    return json.loads((folder / "export_report.json").read_text())


def _run_cli(cli, capsys, **flag_values):
    flag_values = {"dataset": "none", "num_samples": 4, **flag_values}
    with flagsaver.flagsaver(**flag_values), \
            mock.patch.object(sys, "argv", ["export.py"]):
        try:
            cli_lib.guarded(cli.main)(["export.py"])
            code = 0
        except SystemExit as exit_info:
            code = exit_info.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip().splitlines()


def test_default_name_is_the_deployables(tmp_path):
    assert default_output_path(tmp_path / "ensemble.keras", "single",
                               "onnx") == str(tmp_path / "ensemble.onnx")
    assert default_output_path(tmp_path / "peer_1.keras", "single",
                               "tflite", "int8") == str(
        tmp_path / "peer_1_int8.tflite")
    assert default_output_path(tmp_path / "target.keras", "single",
                               "tflite") == str(tmp_path / "target.tflite")
    assert default_output_path(tmp_path, "single", "onnx",
                               deployable="peer_1") == str(
        tmp_path / "peer_1.onnx")


@pytest.mark.slow  # Three or four ONNX exports.
def test_a_deployed_ensemble_keeps_its_name_and_the_target(cli, capsys,
                                                            run):
    """`--model r_one/ensemble.keras` wrote `target.onnx` over the real
    one, and the report did not say which model it was."""
    code, out, err = _run_cli(cli, capsys, model=str(run), format="onnx")
    assert code == 0, err
    target = (run / "target.onnx").read_bytes()
    code, out, err = _run_cli(cli, capsys, model=str(run / "ensemble.keras"),
                              format="onnx")
    assert code == 0, err
    assert f"Wrote {run / 'ensemble.onnx'}" in out
    assert (run / "target.onnx").read_bytes() == target
    exports = _report(run)["exports"]
    assert exports["target.onnx"]["model"] == {"deployable": "target",
                                               "file": "model.keras"}
    assert exports["ensemble.onnx"]["model"] == {"deployable": "ensemble",
                                                 "file": "ensemble.keras"}
    # Its export from the training model is the same deployable: replaced.
    code, out, err = _run_cli(cli, capsys, model=str(run), mode="ensemble",
                              format="onnx")
    assert code == 0, err
    assert _report(run)["exports"]["ensemble.onnx"]["model"] == {
        "deployable": "ensemble", "file": "model.keras"}


@pytest.mark.slow  # Three or four ONNX exports.
def test_another_deployable_never_replaces_an_artifact(cli, capsys, run,
                                                       tmp_path):
    code, _, err = _run_cli(cli, capsys, model=str(run), format="onnx")
    assert code == 0, err
    target = (run / "target.onnx").read_bytes()
    before = _report(run)
    code, _, err = _run_cli(cli, capsys, model=str(run / "ensemble.keras"),
                            format="onnx", output=str(run / "target.onnx"))
    assert code == 1 and len(err) == 1, err
    assert "the `target` deployable of" in err[0]
    assert "Pass another --output" in err[0]
    # The same deployable of another run is another model too.
    other = tmp_path / "other"
    shutil.copytree(run, other, ignore=shutil.ignore_patterns("*.onnx",
                                                              "*.json"))
    code, _, err = _run_cli(cli, capsys, model=str(other), format="onnx",
                            output=str(run / "target.onnx"))
    assert code == 1 and len(err) == 1, err
    assert (run / "target.onnx").read_bytes() == target
    assert _report(run) == before


def _fake_onnx(path, deployable=None, file=None, mode="single"):
    """An `.onnx` artifact at `path` and its report entry (none when
    `deployable` and `mode` are `None`)."""
    path.write_bytes(b"\x08\x07" + b"x" * 64)
    if deployable is None and mode is None:
        return
    entry = {"artifact": path.name, "mode": mode, "passed": True}
    if deployable is not None:
        entry["model"] = {"deployable": deployable, "file": file}
    (path.parent / "export_report.json").write_text(json.dumps(
        {"exports": {path.name: entry}}))


def test_another_deployable_is_refused_before_converting(digits_model,
                                                         tmp_path):
    """The fast twin of the slow tests above: refused before any work."""
    ensemble = tmp_path / "ensemble.keras"
    deployment.stock_copy(digits_model.deployables()["ensemble"]).save(
        ensemble)
    for deployable, file, mode in [
            ("target", "model.keras", "single"),
            (None, None, "single")]:  # An older version's: the mode says.
        _fake_onnx(tmp_path / "target.onnx", deployable, file, mode)
        before = sorted(p.name for p in tmp_path.iterdir())
        with pytest.raises(ValueError,
                           match="holds the export of the `target`"):
            export_model(str(ensemble), tmp_path / "target.onnx",
                         format="onnx", **QUICK)
        assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_an_artifact_no_report_describes_is_not_replaced(digits_model,
                                                         tmp_path):
    _fake_onnx(tmp_path / "m.onnx", mode=None)
    with pytest.raises(ValueError, match="does not describe"):
        export_model(digits_model, tmp_path / "m.onnx", format="onnx",
                     **QUICK)
    assert (tmp_path / "m.onnx").read_bytes() == b"\x08\x07" + b"x" * 64


@pytest.mark.slow  # Three or four ONNX exports.
def test_a_failed_attempt_leaves_the_files_entry(digits_model, tmp_path):
    """A failed re-export flipped the installed artifact's entry to
    `passed: false`, though the file on disk had not changed."""
    path = tmp_path / "m.onnx"
    first = export_model(digits_model, path, format="onnx", **QUICK)
    assert first["passed"]
    installed = path.read_bytes()
    failed = export_model(digits_model, path, format="onnx",
                          max_abs_diff=0.0, **{**QUICK, "num_samples": 8})
    assert not failed["passed"]
    assert path.read_bytes() == installed
    report = _report(tmp_path)
    assert report["exports"]["m.onnx"] == json.loads(json.dumps(first))
    assert report["failed_attempts"]["m.onnx"]["passed"] is False
    assert report["failed_attempts"]["m.onnx"]["max_abs_diff"] == 0.0
    # An installed export drops the stale failed attempt.
    assert export_model(digits_model, path, format="onnx", **QUICK)["passed"]
    assert "failed_attempts" not in _report(tmp_path)


def test_vanilla_ensemble_refusal_names_the_method(cli, capsys, tmp_path):
    folder = tmp_path / "r_vanilla"
    folder.mkdir()
    tiny_model(num_branches=1).save(folder / "model.keras")
    (folder / "config.json").write_text('{"method": "vanilla"}')
    code, _, err = _run_cli(cli, capsys, model=str(folder), mode="ensemble")
    assert code == 1 and len(err) == 1, err
    assert "a vanilla run's model deploys only target, no `ensemble`" in \
        err[0]
    assert "ONEModel" not in err[0]

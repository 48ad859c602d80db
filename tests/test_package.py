"""one_keras as a tool: quick `--help`, quiet start-up, shipped flagfiles
named by `--config`, and the learning curves a run draws."""

import os
import pathlib
import re
import subprocess
import sys

import pytest
from absl.testing import flagsaver

from one_keras.cli import flagfiles
from one_keras.cli import train
from one_keras.reports import curves


ROOT = pathlib.Path(__file__).resolve().parents[1]

# Prints which heavy libraries `--help` of a tool imported, and the CPU
# seconds the process took (start-up included): a loaded machine slows
# the clock, not the CPU time.
HELP_PROBE = """
import runpy, sys, time
sys.argv = [{target!r}, "--help"]
try:
    runpy.{runner}({target!r}, run_name="__main__")
except SystemExit as exit:
    code = exit.code
print("EXIT", code, sorted(m for m in ("tensorflow", "keras", "jax",
      "torch", "sklearn") if m in sys.modules))
print("CPU", time.process_time())
"""
# Every command (pyproject's [project.scripts]) and its `python -m` or
# script entry point.
COMMANDS = [
    ("run_module", "one_keras.cli.train"), ("run_module", "one_keras.train"),
    ("run_module", "one_keras.cli.evaluate"),
    ("run_module", "one_keras.evaluate"),
    ("run_module", "one_keras.cli.predict"),
    ("run_module", "one_keras.predict"),
    ("run_module", "one_keras.cli.export"),
    ("run_path", str(ROOT / "export" / "export.py")),
    ("run_module", "one_keras.cli.flatness"),
    ("run_module", "one_keras.cli.plot")]


def _env():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user's shell has it
    return env


def test_every_console_script_is_tested_for_a_quick_help():
    # pyproject's `one-x = "module:function"` lines (tomllib is 3.11+).
    section = (ROOT / "pyproject.toml").read_text().split(
        "[project.scripts]")[1].split("\n[")[0]
    entries = re.findall(r'^[\w-]+ = "([\w.]+):\w+"$', section, re.M)
    assert len(entries) == 6, section
    modules = {target for _, target in COMMANDS}
    assert set(entries) <= modules


@pytest.mark.parametrize("runner, target", COMMANDS)
def test_help_is_quick_and_imports_neither_keras_nor_tensorflow(
        runner, target, tmp_path):
    # Importing TensorFlow is what made `--help` take seconds.
    result = subprocess.run(
        [sys.executable, "-c",
         HELP_PROBE.format(runner=runner, target=target)],
        capture_output=True, text=True, cwd=tmp_path, env=_env(),
        timeout=120)
    lines = result.stdout.strip().splitlines()
    assert lines[-2] == "EXIT 0 []", (lines[-2:], result.stderr[-2000:])
    assert float(lines[-1].split()[1]) < 2.0, lines[-1]
    assert "--output" in result.stdout or "--model" in result.stdout or \
        "--method" in result.stdout


@pytest.mark.parametrize("module, first_words, flag", [
    ("one_keras.cli.train", "Trains a ONE model", "--epochs"),
    ("one_keras.cli.evaluate", "Evaluates a saved model", "--eval_steps"),
    ("one_keras.cli.plot", "Draws training runs side by side", "--names")])
def test_console_script_help_shows_the_tools_flags(module, first_words, flag,
                                                   tmp_path):
    # As pip's wrapper runs it: `__main__` is the wrapper, not the tool.
    code = (f"import sys; sys.argv[0] = 'one-tool'; from {module} import "
            "console_main; console_main()")
    result = subprocess.run([sys.executable, "-c", code, "--help"],
                            capture_output=True, text=True, cwd=tmp_path,
                            env=_env(), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(first_words)
    assert flag in result.stdout


def test_shipped_flagfiles_are_the_clones_configs():
    assert os.path.samefile(ROOT / "configs", flagfiles.CONFIG_DIR)
    names = flagfiles.config_names()
    assert "digits" in names and "svhn" in names
    assert all((pathlib.Path(flagfiles.CONFIG_DIR) / f"{name}.flags")
               .is_file() for name in names)


def test_config_expands_where_it_stands():
    argv = ["one-train", "--epochs=2", "--config=svhn", "--lr=0.5",
            "--config", "digits.flags"]
    assert flagfiles.expand_config(argv) == [
        "one-train", "--epochs=2",
        f"--flagfile={flagfiles.config_path('svhn')}", "--lr=0.5",
        f"--flagfile={flagfiles.config_path('digits')}"]


def test_flags_after_config_override_it():
    argv = flagfiles.expand_config(["t", "--config=svhn", "--epochs=3"])
    with flagsaver.flagsaver():
        train.FLAGS(argv)
        assert train.FLAGS.dataset == "svhn_cropped"  # from the flagfile
        assert train.FLAGS.epochs == 3  # after it


@pytest.mark.parametrize("argv", [["t", "--config=nope"], ["t", "--config"]])
def test_unknown_config_is_one_line_naming_the_configs(capsys, monkeypatch,
                                                       argv):
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        train.parse_flags(argv)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("t: error: `config` must ")
    assert "cifar10_resnet32" in err[0] and "svhn" in err[0]


@pytest.mark.slow  # A training subprocess; .ci/run's wheel runs do it too.
def test_config_trains_from_outside_the_clone_quietly(tmp_path):
    """A shipped flagfile by name, from a folder that is not the clone:
    the run trains, draws curves.png, and stderr has none of TensorFlow's
    C++ start-up lines."""
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "one_keras.train", "--config=digits",
         "--epochs=2", "--steps_per_epoch=2", "--eval_steps=1",
         "--depth=8", "--width=4", f"--output_dir={run_dir}",
         "--verbose=2"],
        capture_output=True, text=True, cwd=tmp_path, env=_env(),
        timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    config = (run_dir / "config.json").read_text()
    assert '"num_branches": 3' in config  # from digits.flags
    assert (run_dir / "curves.png").stat().st_size > 10_000
    for noise in ("cuInit", "oneDNN", "absl::InitializeLog", "cuda"):
        assert noise not in result.stderr, result.stderr[-3000:]


def _write_log(path, rows):
    path.mkdir(parents=True, exist_ok=True)
    header = ["epoch", "branch_0_accuracy", "ce", "kl", "loss",
              "val_branch_0_accuracy", "val_branch_1_accuracy", "val_ce",
              "val_kl", "val_loss", "val_teacher_accuracy"]
    lines = [",".join(header)]
    for epoch in range(rows):
        lines.append(",".join([str(epoch)] + [
            str(0.5 + 0.1 * epoch) for _ in header[1:]]))
    (path / "log.csv").write_text("\n".join(lines) + "\n")


def test_curves_read_every_accuracy_and_loss_term(tmp_path):
    _write_log(tmp_path / "run", 3)
    log = curves.read_log(tmp_path / "run")
    assert list(curves.accuracy_curves(log)) == [
        "branch 0", "branch 1", "teacher"]
    assert list(curves.loss_curves(log)) == [
        "ce", "kl", "loss", "test ce", "test kl", "test loss"]
    assert curves.accuracy_curves(log)["teacher"] == pytest.approx(
        [0.5, 0.6, 0.7])


def test_curves_read_a_metric_an_epoch_did_not_log_as_nan(tmp_path):
    # Keras' CSVLogger writes "NA" where an epoch has no value (a
    # multi-worker run's chief log, an epoch without validation).
    run = tmp_path / "run"
    run.mkdir()
    (run / "log.csv").write_text("epoch,ce,val_ce\n0,2.0,NA\n1,1.5,\n")
    log = curves.read_log(run)
    assert log["ce"] == [2.0, 1.5]
    assert all(value != value for value in log["val_ce"])  # NaN
    curves.draw_run(run)
    assert (run / "curves.png").is_file()


def test_plot_runs_draws_runs_side_by_side(tmp_path):
    _write_log(tmp_path / "one", 3)
    _write_log(tmp_path / "vanilla", 2)
    output = tmp_path / "figs" / "cmp.png"
    result = subprocess.run(
        [sys.executable, "-m", "one_keras.cli.plot", str(tmp_path / "one"),
         str(tmp_path / "vanilla" / "log.csv"), f"--output={output}"],
        capture_output=True, text=True, cwd=tmp_path, env=_env(),
        timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {output}"
    from PIL import Image
    with Image.open(output) as image:
        width, height = image.size
    assert width > height  # two columns (one is taller than wide)


@pytest.mark.parametrize("make, message", [
    (lambda d: None, "`run` must be a training run directory"),
    (lambda d: (d / "log.csv").write_text("epoch,loss\n"),
     "`run` must have trained an epoch"),
])
def test_read_log_refuses_what_is_no_log(tmp_path, make, message):
    run = tmp_path / "run"
    run.mkdir()
    make(run)
    with pytest.raises(ValueError, match=message):
        curves.read_log(run)


def test_draw_runs_wants_one_name_per_run(tmp_path):
    _write_log(tmp_path / "run", 1)
    with pytest.raises(ValueError, match="`names` must give one name"):
        curves.draw_runs([tmp_path / "run"], tmp_path / "x.png", ["a", "b"])


def test_qat_without_its_extra_says_how_to_install_it(monkeypatch):
    import importlib.util

    from one_keras.export import qat
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: (
        None if name == "tensorflow_model_optimization" else real(name, *a)))
    with pytest.raises(ValueError, match=r"pip install 'one_keras\[qat\]'"):
        qat.check_qat_installed(2)

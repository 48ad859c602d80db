"""The training CLI and `experiment.run` on the embedded digits."""

import json
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from absl.testing import flagsaver

from one_keras import data
from one_keras.cli import console
from one_keras.cli import train
from one_keras.reports.parameters import count_trainable
from one_keras.training import experiment


REPORT_KEYS = {"target_accuracy", "ensemble_accuracy", "branch_accuracy",
               "params_target", "params_ensemble", "params_train",
               "train_seconds", "images_per_second"}


def test_run_writes_artifacts(tiny_run):
    run_dir, report = tiny_run.output_dir, tiny_run.report
    assert REPORT_KEYS <= set(report)
    assert len(report["branch_accuracy"]) == 3
    assert json.loads((run_dir / "report.json").read_text()) == report
    assert json.loads((run_dir / "config.json").read_text())["depth"] == 8
    target = keras.models.load_model(run_dir / "target.keras")
    model = keras.models.load_model(run_dir / "model.keras")
    assert report["params_target"] == count_trainable(target)
    assert model.normalization["std"][0] > 0
    # target.keras takes raw 0-255 pixels, normalised inside.
    raw = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 1)).astype(
        "float32")
    normalised = data.normalize(raw, model.normalization).numpy()
    np.testing.assert_allclose(
        target.predict(raw, verbose=0),
        model.predict(normalised, verbose=0)["branch_logits"][:, 0],
        atol=1e-5)


def test_schedule_drops_at_half_and_three_quarters():
    schedule = experiment.step_schedule(0.1, 100)
    values = [float(schedule(step)) for step in (0, 49, 50, 51, 74, 75, 76)]
    np.testing.assert_allclose(values, [0.1, 0.1, 0.1, 0.01, 0.01, 0.01,
                                        0.001], rtol=1e-6)


@pytest.mark.parametrize("args,message", [
    (["--epochs=0"], "--epochs"),
    (["--depth=10"], "`depth` must be of the form `6 * n + 2`"),
    # ResNet's architecture options are no other backbone's.
    (["--backbone=densenet_bc_190_40", "--depth=8"],
     "`depth` is not an architecture option of backbone "
     "'densenet_bc_190_40'"),
    (["--backbone=resnet", "--model=resnet18"],
     "`model` is the deprecated name of `backbone`; give --backbone only"),
    (["--dataset=mnist"], "--dataset"),
    (["--temperature=0"], "`temperature` must be a number > 0"),
    # No --lr can help an infinite temperature or weight decay: refused
    # before any training, instead of a NaN loss advising a lower --lr.
    (["--temperature=inf"], "`temperature` must be a finite number"),
    (["--weight_decay=inf"], "`weight_decay` must be a finite number"),
    (["--lr=nan"], "`lr` must be a finite number"),
])
def test_bad_flags_give_one_clear_line(capsys, monkeypatch, args, message):
    # In this process, through the CLI's own entry point (`console.run`, as
    # `python -m one_keras.train` runs it): a TensorFlow process per case
    # would take seconds to start. An exception would escape and fail the
    # test, as a traceback would.
    monkeypatch.setattr(sys, "argv", ["train.py", *args])
    with flagsaver.flagsaver(), pytest.raises(SystemExit) as exit_info:
        console.run(train.main)
    assert exit_info.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("train.py: error: ")
    assert message in err[0]


@pytest.mark.slow  # A TensorFlow process; fit_verbosity: test_run_config.py.
def test_cli_trains_with_a_flagfile_and_logs_one_line_per_epoch(tmp_path):
    """With stdout redirected to a file (not a terminal), the default
    `--verbose=auto` writes one line per epoch and no progress bar."""
    flagfile = tmp_path / "tiny.flags"
    flagfile.write_text("--depth=8\n--width=4\n--epochs=2\n"
                        "--steps_per_epoch=3\n--eval_steps=1\n")
    with open(tmp_path / "stdout.txt", "w") as stdout:
        result = subprocess.run(
            [sys.executable, "-m", "one_keras.train", f"--flagfile={flagfile}",
             f"--output_dir={tmp_path / 'run'}"], stdout=stdout,
            stderr=subprocess.PIPE, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    output = (tmp_path / "stdout.txt").read_text()
    assert "ensemble (ONE-E)" in output
    assert (tmp_path / "run" / "model.keras").exists()
    assert not set("\x1b\r\b") & set(output + result.stderr), output[:500]
    epoch_lines = [line for line in output.splitlines()
                   if re.match(r"3/3 - \d+s - .* - loss: .* - val_", line)]
    assert len(epoch_lines) == 2, output
    assert output.count("Epoch ") == 2  # Keras' "Epoch 1/2" headers.


@pytest.mark.slow
def test_demo_meets_its_accuracy(demo_run):
    """The README's demo: >= 95% target accuracy (time is in the README)."""
    report = json.loads((demo_run.output_dir / "report.json").read_text())
    assert report["target_accuracy"] >= 0.95


TINY_FLAGS = ["--depth=8", "--width=4", "--epochs=2", "--steps_per_epoch=2",
              "--eval_steps=1", "--verbose=0", "--deterministic"]


def _train(monkeypatch, *args):
    """Runs the CLI in this process; returns its exit code (0 if none)."""
    monkeypatch.setattr(sys, "argv", ["train.py", *args])
    with flagsaver.flagsaver():
        try:
            console.run(train.main)
        except SystemExit as exit_info:
            return exit_info.code or 0
    return 0


def test_a_foreign_report_json_is_one_line_and_kept(tmp_path, monkeypatch,
                                                    capsys):
    # It made `KeyError: 'target_accuracy'` (a traceback) before.
    report = tmp_path / "run" / "report.json"
    report.parent.mkdir()
    report.write_text('{"accuracy": 0.5}')

    code = _train(monkeypatch, *TINY_FLAGS, f"--output_dir={report.parent}")

    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds files that no one_keras run wrote " \
        "(report.json)" in err[0], err
    assert report.read_text() == '{"accuracy": 0.5}'


def test_ctrl_c_is_one_line_that_says_how_to_resume(tmp_path, monkeypatch,
                                                    capsys):
    class CtrlC(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt()

    run = experiment.run
    monkeypatch.setattr(experiment, "run",
                        lambda config: run(config, callbacks=[CtrlC()]))
    output_dir = tmp_path / "run"
    command = [*TINY_FLAGS, f"--output_dir={output_dir}"]

    assert _train(monkeypatch, *command) == 130

    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"train.py: interrupted: rerun the same command to resume "
                   f"from the last backup, after epoch 1 of 2, in "
                   f"{output_dir}"]
    assert not (output_dir / "run.lock").exists()
    monkeypatch.setattr(experiment, "run", run)
    assert _train(monkeypatch, *command) == 0
    report = json.loads((output_dir / "report.json").read_text())
    assert report["resumed_at_epoch"] == 1


def test_help_of_the_temperature_says_what_the_check_takes():
    # absl's bounds are inclusive ("a non-negative value"); the temperature
    # must be > 0, so the help says so and 0 is what the check refuses.
    flag = train.FLAGS["temperature"]
    assert "non-negative" not in flag.parser.syntactic_help
    assert "A number > 0." in flag.help
    with pytest.raises(ValueError, match="`temperature` must be a number > 0"):
        experiment.TrainConfig(options={"temperature": 0.0})
    experiment.TrainConfig(options={"temperature": 1e-3})


def test_model_still_names_the_backbone_with_a_warning(capsys):
    # Older flagfiles (ours, users') wrote --model=NAME for the backbone.
    with flagsaver.flagsaver():
        train.FLAGS(["train", "--model=resnet18"])
        assert train.config_from_flags().backbone == "resnet18"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--model is deprecated in training; write " \
        "--backbone=resnet18" in err[0]

"""The training CLI and `training.run` on the embedded digits."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from one_keras import training

REPORT_KEYS = {"target_accuracy", "ensemble_accuracy", "branch_accuracy",
               "params_target", "params_ensemble", "params_train",
               "train_seconds", "images_per_second"}


def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "one_keras.train", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_run_writes_artifacts(tmp_path):
    config = training.TrainConfig(depth=8, width=4, epochs=1,
                                  output_dir=str(tmp_path), verbose=0)
    report = training.run(config)
    assert REPORT_KEYS <= set(report)
    assert len(report["branch_accuracy"]) == 3
    assert json.loads((tmp_path / "report.json").read_text()) == report
    assert json.loads((tmp_path / "config.json").read_text())["depth"] == 8
    target = keras.models.load_model(tmp_path / "target.keras")
    model = keras.models.load_model(tmp_path / "model.keras")
    assert report["params_target"] == training.count_trainable(target)
    assert model.normalization["std"][0] > 0
    images = np.random.rand(2, 8, 8, 1).astype("float32")
    np.testing.assert_allclose(
        target.predict(images, verbose=0),
        model.predict(images, verbose=0)["branch_logits"][:, 0], atol=1e-6)


def test_schedule_drops_at_half_and_three_quarters():
    schedule = training.step_schedule(0.1, 100)
    values = [float(schedule(step)) for step in (0, 49, 50, 51, 74, 75, 76)]
    np.testing.assert_allclose(values, [0.1, 0.1, 0.1, 0.01, 0.01, 0.01,
                                        0.001], rtol=1e-6)


@pytest.mark.parametrize("args,message", [
    (["--epochs=0"], "--epochs"),
    (["--depth=10"], "`depth` must be of the form `6 * n + 2`"),
    (["--dataset=mnist"], "--dataset"),
    (["--temperature=0"], "`temperature` must be a number > 0"),
])
def test_bad_flags_give_one_clear_line(args, message):
    result = run_cli(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_trains_with_a_flagfile(tmp_path):
    flagfile = tmp_path / "tiny.flags"
    flagfile.write_text("--depth=8\n--width=4\n--epochs=1\n--verbose=0\n")
    result = run_cli(f"--flagfile={flagfile}", f"--output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "teacher (ONE-E)" in result.stdout
    assert (tmp_path / "model.keras").exists()


@pytest.mark.slow
def test_demo_meets_its_accuracy(tmp_path):
    """The README's demo: >= 95% target accuracy (time is in the README)."""
    result = run_cli("--flagfile=configs/digits.flags",
                     f"--output_dir={tmp_path}", "--verbose=0", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["target_accuracy"] >= 0.95


def test_demo_flagfile_matches_defaults():
    """`python -m one_keras.train` with no flags is the flagfile's demo."""
    path = os.path.join(os.path.dirname(__file__), "..", "configs",
                        "digits.flags")
    values = dict(line.lstrip("-").strip().split("=", 1)
                  for line in open(path) if line.startswith("--"))
    defaults = training.TrainConfig()
    for name, value in values.items():
        if name != "output_dir":
            assert str(getattr(defaults, name)) == value, name

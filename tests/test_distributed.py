"""ONEModel under MirroredStrategy on 2 logical CPU devices."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

# Every test starts TensorFlow processes (seconds each): CI runs them.
pytestmark = pytest.mark.slow

SCRIPT = os.path.join(os.path.dirname(__file__), "scripts",
                      "mirrored_gradients.py")


def test_mirrored_step_equals_single_device():
    result = subprocess.run([sys.executable, SCRIPT], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    numbers = json.loads(result.stdout.strip().splitlines()[-1])
    assert numbers["replicas"] == 2
    assert numbers["loss_diff"] < 1e-5
    assert numbers["grad_diff"] < 1e-5
    assert np.isfinite(numbers["fit_loss"])


TRAIN_SCRIPT = os.path.join(os.path.dirname(__file__), "scripts",
                            "train_on_logical_cpus.py")
TINY = ["--depth=8", "--width=4", "--epochs=1", "--steps_per_epoch=3",
        "--eval_steps=1", "--batch_size=16", "--verbose=0"]


def test_cli_trains_mirrored_on_two_logical_cpus(tmp_path):
    result = subprocess.run(
        [sys.executable, TRAIN_SCRIPT, "--strategy=mirrored",
         f"--output_dir={tmp_path}", *TINY],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["replicas"] == 2
    assert np.isfinite(report["target_accuracy"])

"""Same numbers on every Keras backend: a few training steps of every method
from the same initial weights and batches give the same losses and weights
on `jax` (and `torch` where installed) as on `tensorflow`.

Each backend runs `tests/scripts/backend_steps.py` in its own process
(Keras picks its backend once per process). Tolerance: the backends run the
same float32 arithmetic with different kernels (convolution algorithms,
reduction orders), which differ by rounding, about 1e-7 relative a step;
three SGD steps with momentum amplify that, and a loss rtol of 1e-4 and a
weight atol of 1e-4 (weights are of order 0.1-1) leave a margin of 100x
over what we observe, while a wrong loss, gradient or BatchNorm update
(which moves weights by 1e-2 or more) fails.
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "scripts" / "backend_steps.py"
OTHER_BACKENDS = [
    pytest.param(name, marks=pytest.mark.skipif(
        importlib.util.find_spec(name) is None,
        reason=f"{name} is not installed"))
    for name in ("jax", "torch")]


def run_steps(backend, out_path, initial_path=None):
    """Runs the script on `backend`; returns its results as a dict."""
    env = {**os.environ, "KERAS_BACKEND": backend,
           "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": "",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, str(SCRIPT), str(out_path)]
    if initial_path is not None:
        command.append(str(initial_path))
    done = subprocess.run(command, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(np.load(out_path))


@pytest.fixture(scope="module")
def tensorflow_steps(tmp_path_factory):
    path = tmp_path_factory.mktemp("tensorflow") / "steps.npz"
    return path, run_steps("tensorflow", path)


@pytest.mark.slow  # Two to three fresh processes, seven models each.
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_training_steps_equal_tensorflow(backend, tensorflow_steps,
                                         tmp_path):
    reference_path, reference = tensorflow_steps
    results = run_steps(backend, tmp_path / "steps.npz", reference_path)
    cases = sorted({key.split("/")[0] for key in reference})
    assert len(cases) == 7
    for case in cases:
        np.testing.assert_allclose(
            results[f"{case}/losses"], reference[f"{case}/losses"],
            rtol=1e-4, err_msg=f"{case}: losses differ on {backend}")
        finals = sorted(k for k in reference if k.startswith(f"{case}/final"))
        assert finals
        moved = False
        for key in finals:
            np.testing.assert_allclose(
                results[key], reference[key], atol=1e-4,
                err_msg=f"{case}: {key} differs on {backend}")
            initial = reference[key.replace("/final/", "/initial/")]
            moved = moved or not np.allclose(reference[key], initial,
                                             atol=1e-3)
        assert moved, f"{case}: training did not move the weights"


@pytest.mark.slow  # A JAX training process and two export processes.
@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="jax is not installed")
def test_run_made_on_jax_exports_under_tensorflow(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": "",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    run_dir = tmp_path / "run"
    train = subprocess.run(
        [sys.executable, "-m", "one_keras.train", "--depth=8", "--width=4",
         "--epochs=1", "--steps_per_epoch=2", f"--output_dir={run_dir}",
         "--verbose=0"], env={**env, "KERAS_BACKEND": "jax"},
        capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr[-3000:]
    report = json.loads((run_dir / "report.json").read_text())
    assert report["versions"]["backend"] == "jax"
    for mode, fmt, extra, name in [
            ("single", "tflite", ["--quantize=int8"], "target_int8.tflite"),
            ("ensemble", "onnx", [], "ensemble.onnx")]:
        done = subprocess.run(
            [sys.executable, str(ROOT / "export" / "export.py"),
             f"--model={run_dir}", f"--mode={mode}", f"--format={fmt}",
             f"--output={tmp_path / name}", "--min_agreement=0", *extra],
            env={**env, "KERAS_BACKEND": "tensorflow"}, capture_output=True,
            text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        assert (tmp_path / name).stat().st_size > 0
        assert "Verified on digits test" in done.stdout

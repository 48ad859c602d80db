"""ONEModel under MirroredStrategy on 2 logical CPU devices."""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

import one_keras  # noqa: F401  (registers ONEModel for load_model)

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


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_loop_with_two_local_workers(tmp_path):
    """Two workers on localhost (TF_CONFIG) end with the same weights.

    Trainable weights only: BatchNorm moving statistics stay per worker.
    """
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({
            "cluster": {"worker": workers},
            "task": {"type": "worker", "index": index}}))
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "one_keras.train",
             "--strategy=multi_worker", f"--output_dir={tmp_path}", *TINY],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True))
    try:
        outputs = [p.communicate(timeout=300) for p in processes]
    finally:
        for p in processes:
            p.kill()
    for p, (_, err) in zip(processes, outputs):
        assert p.returncode == 0, err[-3000:]
    chief = keras.models.load_model(tmp_path / "model.keras")
    other = keras.models.load_model(
        tmp_path / "workers" / "worker_1" / "model.keras")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["replicas"] == 2
    for a, b in zip(chief.trainable_weights, other.trainable_weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    log = (tmp_path / "log.csv").read_text().splitlines()
    assert log[0].startswith("epoch") and len(log) == 2  # CSVLogger ran.

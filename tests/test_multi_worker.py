"""Training under `multi_worker`: localhost workers (TF_CONFIG) through
the CLI, and `one_keras.training.multi_worker`'s loop against one device."""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

import one_keras.methods  # noqa: F401  (registers ONEModel for load_model)


# Every test starts TensorFlow processes (seconds each): CI runs them.
pytestmark = pytest.mark.slow

TINY = ["--depth=8", "--width=4", "--epochs=1", "--steps_per_epoch=3",
        "--eval_steps=1", "--batch_size=16", "--verbose=0"]


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_loop_with_two_local_workers(tmp_path):
    """Two workers on localhost (TF_CONFIG) end with the same weights.

    With `--sync_bn` the BatchNorm moving statistics are the same too.
    """
    _train_two_workers(tmp_path, "--sync_bn", *TINY)
    chief = keras.models.load_model(tmp_path / "model.keras")
    other = keras.models.load_model(
        tmp_path / "workers" / "worker_1" / "model.keras")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["replicas"] == 2
    assert report["sync_bn"] and report["config"]["sync_bn"]
    assert len(chief.weights) > len(chief.trainable_weights)
    for a, b in zip(chief.weights, other.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    log = (tmp_path / "log.csv").read_text().splitlines()
    assert log[0].startswith("epoch") and len(log) == 2  # CSVLogger ran.


def _worker_env(workers, index):
    """The environment of worker `index` of the localhost cluster."""
    return dict(os.environ, TF_CONFIG=json.dumps({
        "cluster": {"worker": workers},
        "task": {"type": "worker", "index": index}}))


def _wait_for(processes, timeout):
    """Waits for `processes`, each of which must succeed; returns their
    stderr."""
    try:
        outputs = [p.communicate(timeout=timeout) for p in processes]
    finally:
        for p in processes:
            p.kill()
    for p, (_, err) in zip(processes, outputs):
        assert p.returncode == 0, err[-3000:]
    return [err for _, err in outputs]


def _train_two_workers(output_dir, *flags):
    """Runs the CLI on two localhost workers; returns their stderr."""
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = [subprocess.Popen(
        [sys.executable, "-m", "one_keras.train", "--strategy=multi_worker",
         f"--output_dir={output_dir}", *flags],
        env=_worker_env(workers, index), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for index in range(2)]
    return _wait_for(processes, timeout=300)


def test_workers_with_different_newest_backups_resume_together(tmp_path):
    """Worker 1's newest backup is unreadable: both resume after epoch 1.

    Before, the chief resumed after epoch 2 and worker 1 after epoch 1, and
    their collective ops no longer matched (a hang)."""
    flags = [*TINY, "--epochs=2", "--sync_bn", "--deterministic"]
    _train_two_workers(tmp_path, *flags)
    worker = tmp_path / "workers" / "worker_1"
    for directory in (tmp_path, worker):  # Unfinished again.
        for name in ("report.json", "model.keras", "target.keras"):
            (directory / name).unlink()
    newest = worker / "backup" / "epoch-00002.weights.h5"
    newest.write_bytes(newest.read_bytes()[:1000])

    errors = _train_two_workers(tmp_path, *flags)

    assert "every worker resumes after epoch 1" in errors[0]
    for directory in (tmp_path, worker):
        report = json.loads((directory / "report.json").read_text())
        assert report["resumed_at_epoch"] == 1
    chief = keras.models.load_model(tmp_path / "model.keras")
    other = keras.models.load_model(worker / "model.keras")
    for a, b in zip(chief.weights, other.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


EQUALITY_SCRIPT = os.path.join(os.path.dirname(__file__), "scripts",
                               "distributed_equality.py")


def _weights(directory, run, network, stage="trained"):
    arrays = np.load(directory / f"{run}_{network}.npz")
    count = sum(name.startswith(stage) for name in arrays.files)
    return [arrays[f"{stage}_{i}"] for i in range(count)]


def _max_difference(first, second):
    assert len(first) == len(second)
    return max(float(np.max(np.abs(a - b))) for a, b in zip(first, second))


def test_two_replicas_train_the_weights_of_one_device(tmp_path):
    """3 steps of `fit` on 2 replicas end with one device's weights.

    Mirrored (2 logical CPUs) and two localhost workers (`multi_worker`,
    TF_CONFIG) against one device, from the same weights on the same 21
    samples in batches of 8, 8 and 5 (split 3 + 2 over the replicas): a
    BatchNorm-free ONE network, and a ResNet-8 with `sync_bn` (all weights,
    BatchNorm moving statistics included). Per-replica BatchNorm must
    differ, or the comparison could not fail.
    """
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    commands = [([sys.executable, EQUALITY_SCRIPT, str(tmp_path), "local"],
                 dict(os.environ))]
    for index in range(2):
        commands.append((
            [sys.executable, EQUALITY_SCRIPT, str(tmp_path), "worker"],
            _worker_env(workers, index)))
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for command, env in commands]
    _wait_for(processes, timeout=600)

    differences = {}
    for network in ("bn_free", "sync_bn"):
        for run in ("mirrored", "worker0", "worker1"):
            assert _max_difference(
                _weights(tmp_path, run, network, "initial"),
                _weights(tmp_path, "one_device", network, "initial")) == 0
            differences[f"{network}: {run} vs one device"] = _max_difference(
                _weights(tmp_path, run, network),
                _weights(tmp_path, "one_device", network))
    # On one device, per-replica BatchNorm is sync_bn's computation.
    per_replica = _max_difference(
        _weights(tmp_path, "mirrored", "per_replica_bn"),
        _weights(tmp_path, "one_device", "sync_bn"))
    differences["per_replica_bn: mirrored vs one device"] = per_replica
    print("max |weight difference| after 3 steps:",
          json.dumps(differences, indent=1))
    for name, difference in differences.items():
        if name.startswith("per_replica_bn"):
            assert difference > 1e-3, name
        else:
            assert difference <= 1e-5, name

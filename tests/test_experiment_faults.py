"""Kills, NaN losses and concurrent runs never lose or corrupt a run."""

import collections
import dataclasses
import errno
import json
import os
import shutil
import socket
import subprocess
import sys

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
from absl.testing import flagsaver

from one_keras import data
from one_keras.cli import console
from one_keras.cli import train
from one_keras.runs import backup
from one_keras.runs import layout as run_layout
from one_keras.training import experiment
from tests import tracing


TINY = dict(dataset="digits", depth=8, width=4, epochs=3, steps_per_epoch=2,
            eval_steps=1, batch_size=8, eval_batch_size=8, verbose=0,
            deterministic=True, seed=3)
KILLED = 75  # Exit status of the killed subprocess.

# Runs `config` and dies (os._exit, no cleanup) inside the second call of
# `keras.Model.<writer>`, after half of the file it writes is on disk.
KILL_SCRIPT = """
import json, os, sys
import h5py
import keras
from one_keras.training import experiment
writer, config = sys.argv[1], json.loads(sys.argv[2])
original = getattr(keras.Model, writer)
calls = []

def dying_writer(self, filepath, *args, **kwargs):
    calls.append(filepath)
    original(self, filepath, *args, **kwargs)
    if len(calls) == 2:
        size = os.path.getsize(filepath)
        with open(filepath, "r+b") as handle:
            handle.truncate(size // 2)
        os._exit(%d)

setattr(keras.Model, writer, dying_writer)
experiment.run(experiment.TrainConfig(**config))
""" % KILLED


class Interrupt(Exception):
    pass


class KillAtEpoch(keras.callbacks.Callback):
    """Raises when epoch `epoch` begins (a killed job)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Interrupt()


class PoisonAtEpoch(keras.callbacks.Callback):
    """Makes every weight NaN when epoch `epoch` begins."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            for weight in self.model.trainable_weights:
                weight.assign(weight * np.nan)


def _config(path, **changes):
    return experiment.TrainConfig(**{**TINY, **changes}, output_dir=str(path))


def _weights(path):
    return keras.models.load_model(path).get_weights()


def _assert_same_weights(want_path, got_path):
    for want, got in zip(_weights(want_path), _weights(got_path)):
        np.testing.assert_allclose(got, want, atol=1e-6)


def _finite_h5(path):
    arrays = []
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, item: arrays.append(item[()]) if
                          isinstance(item, h5py.Dataset) else None)
    return all(np.isfinite(a).all() for a in arrays
               if np.issubdtype(np.asarray(a).dtype, np.floating))


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted run every resumed run must reproduce (run eagerly,
    as the tests are)."""
    path = tmp_path_factory.mktemp("straight")
    experiment.run(_config(path))
    return path


@pytest.fixture(scope="module")
def straight_traced(tmp_path_factory):
    """`straight`, traced: a run resumed from a TensorFlow process reproduces
    it (traced and eager steps differ by float rounding, ~1e-6)."""
    path = tmp_path_factory.mktemp("straight_traced")
    with tracing.traced():
        experiment.run(_config(path))
    return path


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A run killed when its third epoch began (copy it to change it)."""
    path = tmp_path_factory.mktemp("interrupted")
    with pytest.raises(Interrupt):
        experiment.run(_config(path), callbacks=[KillAtEpoch(2)])
    return path


def _copy(run, path):
    """`run` copied to `path`, and its config there (resuming it in `path`).
    """
    shutil.copytree(run, path)
    return _config(path)


@pytest.mark.slow  # A second TensorFlow process.
@pytest.mark.parametrize("writer", ["save_weights", "save"])
def test_kill_inside_a_save_resumes_to_the_same_weights(
        tmp_path, straight_traced, writer):
    # save_weights: the epoch backup; save: checkpoint.keras.
    config = _config(tmp_path / "run")
    killed = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, writer,
         json.dumps(dataclasses.asdict(config))],
        capture_output=True, text=True, timeout=600)
    assert killed.returncode == KILLED, killed.stderr[-2000:]

    report = experiment.run(config)

    assert report["resumed_at_epoch"] >= 1
    _assert_same_weights(straight_traced / "model.keras",
                         tmp_path / "run" / "model.keras")
    left = sorted(os.listdir(tmp_path / "run"))
    assert not [name for name in left if "tmp" in name or "partial" in name]


def test_unreadable_newest_backup_falls_back_with_one_warning(
        tmp_path, straight, interrupted, capsys):
    run = tmp_path / "run"
    config = _copy(interrupted, run)
    backups = sorted((run / "backup").glob("*.h5"))
    assert backups, "no per-epoch backup was written"
    newest = backups[-1]
    newest.write_bytes(newest.read_bytes()[:1000])
    capsys.readouterr()

    report = experiment.run(config)

    warnings = [line for line in capsys.readouterr().err.splitlines()
                if line.startswith("warning:")]
    assert len(warnings) == 1 and newest.name in warnings[0]
    assert report["resumed_at_epoch"] == 1
    _assert_same_weights(straight / "model.keras", run / "model.keras")


def test_deleted_backup_weights_are_not_reported_as_a_resume(
        tmp_path, straight, interrupted):
    run = tmp_path / "run"
    config = _copy(interrupted, run)
    for weights in (run / "backup").glob("*.h5"):
        weights.unlink()

    report = experiment.run(config)

    assert report["resumed_at_epoch"] == 0  # Trained again from scratch.
    _assert_same_weights(straight / "model.keras", run / "model.keras")


@pytest.mark.slow  # Two runs; test_training stops a NaN run in seconds.
def test_nan_is_never_saved_and_a_lower_lr_resumes(tmp_path):
    config = _config(tmp_path)
    with pytest.raises(FloatingPointError, match="Try a lower --lr"):
        experiment.run(config, callbacks=[PoisonAtEpoch(1)])
    checkpoint = keras.models.load_model(tmp_path / "checkpoint.keras")
    assert all(np.isfinite(w).all() for w in checkpoint.get_weights())
    backups = list((tmp_path / "backup").glob("*.h5"))
    assert backups and all(_finite_h5(path) for path in backups)
    assert not (tmp_path / "model.keras").exists()

    # The advised fix, in the same output_dir (spelt with a trailing /).
    lower = _config(f"{tmp_path}{os.sep}", lr=0.05)
    report = experiment.run(lower)

    assert report["resumed_at_epoch"] == 1
    assert report["resumed_with_changes"] == [{"epoch": 1, "lr": [0.1, 0.05]}]
    model = keras.models.load_model(tmp_path / "model.keras")
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_rerunning_a_nan_command_never_succeeds(tmp_path):
    config = _config(tmp_path, epochs=1, lr=1e30)
    for _ in range(2):
        with pytest.raises(FloatingPointError):
            experiment.run(config)
    assert not (tmp_path / "model.keras").exists()
    assert not (tmp_path / "target.keras").exists()


def test_a_locked_output_dir_is_refused_in_one_line(tmp_path):
    (tmp_path / run_layout.LOCK_NAME).write_text(json.dumps(
        {"pid": os.getppid(), "host": socket.gethostname(),
         "started": "2026-01-01T00:00:00"}))
    with pytest.raises(ValueError, match="in use by another run") as error:
        experiment.run(_config(tmp_path))
    assert "\n" not in str(error.value)
    assert sorted(os.listdir(tmp_path)) == [run_layout.LOCK_NAME]


def test_finished_rerun_keeps_the_run_and_takes_over_a_stale_lock(tmp_path):
    config = _config(tmp_path, epochs=1)
    first = experiment.run(config)
    model_time = os.path.getmtime(tmp_path / "model.keras")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / run_layout.LOCK_NAME).write_text(json.dumps(
        {"pid": dead.pid, "host": socket.gethostname()}))

    again = experiment.run(dataclasses.replace(config, verbose=2))

    assert again == first  # train_seconds too: nothing was retrained.
    assert os.path.getmtime(tmp_path / "model.keras") == model_time
    assert not (tmp_path / run_layout.LOCK_NAME).exists()
    with pytest.raises(ValueError, match="a finished run") as error:
        experiment.run(dataclasses.replace(config, lr=0.05))
    assert "unfinished" not in str(error.value)


def test_failed_check_leaves_no_config_json(tmp_path):
    with pytest.raises(ValueError, match="depth"):
        experiment.run(_config(tmp_path / "run", depth=9))
    assert not (tmp_path / "run" / "config.json").exists()
    assert not (tmp_path / "run").exists()


def _write_image_folder(root, classes):
    """`root/{train,test}/<class>/*.png`: 4 and 2 tiny images a class."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 4), ("test", 2)):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                (folder / f"{index}.png").write_bytes(
                    tf.io.encode_png(pixels).numpy())
    return str(root)


def _files(directory):
    return {path.name: path.read_bytes() for path in directory.iterdir()}


@pytest.mark.slow  # Three trainings; CI runs it.
def test_data_of_other_classes_is_refused_until_restart(tmp_path):
    two = _write_image_folder(tmp_path / "two", ["a", "b"])
    three = _write_image_folder(tmp_path / "three", ["a", "b", "c"])
    run = tmp_path / "run"
    config = _config(run, dataset="image_folder", data_dir=two,
                     image_size=8, epochs=2)
    with pytest.raises(Interrupt):
        experiment.run(config, callbacks=[KillAtEpoch(1)])
    backups = _files(run / "backup")
    # The run stored its classes and where its data is (issue 37, 4).
    inputs = json.loads((run / run_layout.INPUTS_NAME).read_text())
    assert inputs["class_names"] == ["a", "b"]
    assert inputs["data_location"] == os.path.abspath(two)
    assert inputs["num_classes"] == 2 and "teacher" not in inputs
    # As many classes, one renamed: the labels would change meaning.
    (tmp_path / "two" / "train" / "b").rename(tmp_path / "two" / "train" /
                                              "aardvark")
    with pytest.raises(ValueError, match=r"cannot be resumed .* the classes "
                       r"of its data changed since it trained \(2 classes "
                       r"now, 2 when trained; new: aardvark; gone: b\)"):
        experiment.run(config)
    assert _files(run / "backup") == backups
    other = dataclasses.replace(config, data_dir=three)

    # --data_dir may change on resume (a moved copy), the classes may not:
    # this used to restart at epoch 0 over the backups, with one warning.
    with pytest.raises(ValueError, match=r"cannot be resumed with these "
                       r"settings: it trained on 2 classes and the data "
                       r".* has 3\. .*--restart") as error:
        experiment.run(other)
    assert "\n" not in str(error.value)
    assert _files(run / "backup") == backups
    assert not (run / run_layout.LOCK_NAME).exists()

    report = experiment.run(dataclasses.replace(other, restart=True))

    assert report["resumed_at_epoch"] == 0
    assert report["config"]["data_dir"] == three
    assert _files(run / "backup") != backups


def test_a_run_of_another_backend_is_refused_until_restart(
        tmp_path, interrupted):
    run = tmp_path / "run"
    config = _copy(interrupted, run)
    for path in (run / "backup").glob("*.json"):
        metadata = json.loads(path.read_text())
        assert metadata["backend"] == keras.backend.backend()
        path.write_text(json.dumps({**metadata, "backend": "jax"}))
    backups = _files(run / "backup")

    # Its inputs and numerics differ: a resumed run would silently match
    # no uninterrupted run (resumed_with_changes was []).
    with pytest.raises(ValueError, match=r"trained on the Keras backend "
                       r"'jax' and this process runs 'tensorflow'.*"
                       r"--restart") as error:
        experiment.run(config)
    assert "\n" not in str(error.value)
    assert _files(run / "backup") == backups


@pytest.mark.parametrize("recorded", [True, False],
                         ids=["backups-record-settings", "legacy-backups"])
def test_unreadable_config_json_is_no_licence_to_restart(
        tmp_path, interrupted, recorded):
    run = tmp_path / "run"
    config = _copy(interrupted, run)
    (run / "config.json").write_text("{truncated")
    if not recorded:  # Backups of older versions record no settings.
        for path in (run / "backup").glob("*.json"):
            metadata = json.loads(path.read_text())
            del metadata["config"]
            path.write_text(json.dumps(metadata))
    backups = _files(run / "backup")

    with pytest.raises(ValueError, match=(
            r"other settings \(width\)" if recorded
            else r"config\.json is unreadable")):
        experiment.run(dataclasses.replace(config, width=8))

    assert _files(run / "backup") == backups


def test_a_backup_of_another_model_is_refused_by_name(tmp_path):
    digits = data.load_dataset("digits")
    tiny = experiment.TrainConfig(**TINY)
    models = []
    for dataset in (digits, dataclasses.replace(digits, num_classes=5)):
        model = experiment.build_model(tiny, dataset)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
        model.optimizer.build(model.trainable_variables)
        models.append(model)
    backup.save_state(models[0], str(tmp_path), 1, {})

    with pytest.raises(backup.IncompatibleBackupError,
                       match=r"epoch-00001.weights.h5 holds another model: "
                       r"`branch0_logits/kernel` has shape \(16, 10\) "
                       r"there and \(16, 5\) in the model to resume"):
        backup.restore_newest(models[1], str(tmp_path))


DiskUsage = collections.namedtuple("DiskUsage", ["total", "used", "free"])


def test_a_full_disk_is_refused_before_any_save(tmp_path, interrupted,
                                                monkeypatch):
    # HDF5 killed the process (exit 139) writing a backup to a full disk.
    run = tmp_path / "run"
    config = _copy(interrupted, run)
    backups = _files(run / "backup")
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda path: DiskUsage(2**40, 2**40, 1000))

    with pytest.raises(OSError, match=r"No space left on device: .* has "
                       r"0\.0 MiB free") as error:
        experiment.run(config)

    assert error.value.errno == errno.ENOSPC
    assert _files(run / "backup") == backups
    assert not (run / run_layout.LOCK_NAME).exists()


def test_a_failed_backup_write_is_one_line_and_leaves_no_partial(
        tmp_path, monkeypatch, capsys):
    def full_disk(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as handle:
            handle.write(b"\x89HDF\r\n")  # Half a file, then the disk is full.
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(keras.Model, "save_weights", full_disk)
    run = tmp_path / "run"
    monkeypatch.setattr(sys, "argv", [
        "train.py", "--depth=8", "--width=4", "--epochs=1",
        "--steps_per_epoch=2", "--eval_steps=1", "--verbose=0",
        f"--output_dir={run}"])
    with flagsaver.flagsaver(), pytest.raises(SystemExit) as exit_info:
        console.run(train.main)

    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["train.py: error: [Errno 28] No space left on device"]
    assert not (run / "backup" / backup.PARTIAL).exists()
    assert not (run / run_layout.LOCK_NAME).exists()


@pytest.mark.parametrize("kill", [
    "after", pytest.param("before", marks=pytest.mark.slow)])
def test_log_has_each_epoch_once_after_a_kill_at_a_backup(
        tmp_path, monkeypatch, kill):
    # A kill right after epoch 1's backup left its log.csv row out for good;
    # one between a row and its backup must not leave the row twice.
    save_state = backup.save_state

    def dying_save(model, backup_dir, epoch, *args, **kwargs):
        if kill == "after":
            save_state(model, backup_dir, epoch, *args, **kwargs)
        if epoch == (1 if kill == "after" else 2):
            raise Interrupt()
        if kill == "before":
            save_state(model, backup_dir, epoch, *args, **kwargs)

    config = _config(tmp_path, epochs=2)
    monkeypatch.setattr(backup, "save_state", dying_save)
    with pytest.raises(Interrupt):
        experiment.run(config)
    monkeypatch.setattr(backup, "save_state", save_state)

    report = experiment.run(config)

    assert report["resumed_at_epoch"] == 1
    rows = (tmp_path / "log.csv").read_text().strip().splitlines()
    assert rows[0].startswith("epoch,")
    assert [row.split(",")[0] for row in rows[1:]] == ["0", "1"]

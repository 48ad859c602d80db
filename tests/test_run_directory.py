"""A run's output directory (`RunDirectory`): resume checks, clean-up,
atomic saves and what it holds.

`tests/test_experiment_faults.py` runs these through `training.run`; here
each is checked alone, without training.
"""

import dataclasses
import json
import types

import keras
import pytest

from one_keras.runs import RunDirectory
from one_keras.runs import backup
from one_keras.training.train_config import TrainConfig


def _write_json(path, payload):
    path.write_text(json.dumps(payload))


def test_worker_output_dir_is_the_run_or_a_folder_per_worker(tmp_path):
    config = TrainConfig(output_dir=str(tmp_path))
    assert RunDirectory.of_worker(config, None).path == str(tmp_path)

    def worker(index, chief):
        return types.SimpleNamespace(
            cluster_resolver=types.SimpleNamespace(task_type="worker",
                                                   task_id=index),
            extended=types.SimpleNamespace(should_checkpoint=chief))

    multi = dataclasses.replace(config, strategy="multi_worker")
    assert RunDirectory.of_worker(multi, worker(0, True)).path == \
        str(tmp_path)
    assert RunDirectory.of_worker(multi, worker(1, False)).path == \
        str(tmp_path / "workers" / "worker_1")


def test_finished_report_returns_a_finished_run_of_the_same_settings(
        tmp_path):
    run = RunDirectory(tmp_path)
    config = TrainConfig(output_dir=str(tmp_path))
    assert run.finished_report(config) is None
    report = {"config": config.settings(), "target_accuracy": 0.5}
    _write_json(tmp_path / "report.json", report)
    lines = []

    again = dataclasses.replace(config, verbose=2, output_dir=f"{tmp_path}/")
    assert run.finished_report(again, warn=lines.append) == report
    assert len(lines) == 1 and "finished run" in lines[0]
    restart = dataclasses.replace(config, restart=True)
    assert run.finished_report(restart) is None
    with pytest.raises(ValueError, match=r"finished run with other "
                                         r"settings \(lr\)"):
        run.finished_report(dataclasses.replace(config, lr=0.05))


@pytest.mark.parametrize("text", ['{"accuracy": 0.5}', "{truncated"])
def test_a_foreign_report_json_is_refused_even_on_restart(tmp_path, text):
    run = RunDirectory(tmp_path)
    (tmp_path / "report.json").write_text(text)
    config = TrainConfig(output_dir=str(tmp_path), restart=True)
    with pytest.raises(ValueError, match="no finished one_keras run wrote"):
        run.finished_report(config)


def test_resumable_changes_allows_recovery_settings_only(tmp_path):
    run = RunDirectory(tmp_path)
    saved = TrainConfig(output_dir=str(tmp_path))
    _write_json(tmp_path / "config.json", saved.settings())
    states = [(1, "epoch-00001.weights.h5", {"num_classes": 10})]

    lower = dataclasses.replace(saved, lr=0.05, verbose=2)
    assert run.resumable_changes(lower, states, 10) == {"lr": [0.1, 0.05]}
    with pytest.raises(ValueError, match=r"unfinished run with other "
                                         r"settings \(momentum\)"):
        run.resumable_changes(dataclasses.replace(saved, momentum=0.5),
                              states, 10)
    with pytest.raises(ValueError, match="trained on 10 classes and the "
                                         "data .* has 5"):
        run.resumable_changes(saved, states, 5)


def test_a_config_json_of_the_flat_form_before_method_options_resumes(
        tmp_path):
    """Before a method's options were its own, config.json listed every
    method's option flat, filled with defaults (e.g. ONE's `num_branches`
    in a DML run): such a run resumes, and a changed DML option is still
    caught."""
    run = RunDirectory(tmp_path)
    current = TrainConfig(method="dml", output_dir=str(tmp_path))
    old_form = {**current.settings(), "num_branches": 3, "gate": "learned",
                "no_distillation": False, "no_sharing": False,
                "teacher": "", "alpha": 0.9, "num_snapshots": 5,
                "kl_rampup_epochs": 0}
    _write_json(tmp_path / "config.json", old_form)
    states = [(1, "epoch-00001.weights.h5", {"num_classes": 10})]
    assert run.resumable_changes(current, states, 10) == {}
    warmer = dataclasses.replace(current, options={"temperature": 2.0})
    with pytest.raises(ValueError, match=r"other settings \(temperature\)"):
        run.resumable_changes(warmer, states, 10)


def test_unreadable_config_json_falls_back_to_the_backups_settings(
        tmp_path):
    run = RunDirectory(tmp_path)
    saved = TrainConfig(output_dir=str(tmp_path))
    (tmp_path / "config.json").write_text("{truncated")
    recorded = [(1, "epoch-00001.weights.h5",
                 {"config": saved.settings()})]
    other = dataclasses.replace(saved, width=8)
    with pytest.raises(ValueError, match=r"other settings \(width\)"):
        run.resumable_changes(other, recorded, 10)
    with pytest.raises(ValueError, match="cannot be checked"):
        run.resumable_changes(saved, [(1, "epoch-00001.weights.h5", {})],
                              10)


@pytest.mark.parametrize("marked", [True, False])
def test_discard_run_deletes_the_runs_files_and_nothing_else(tmp_path,
                                                             marked):
    run = RunDirectory(tmp_path)
    for name in ("backup", "tensorboard", "workers"):
        (tmp_path / name).mkdir()
    (tmp_path / "backup" / "epoch-00001.weights.h5").write_text("x")
    (tmp_path / "backup" / "epoch-00001.json").write_text("{}")
    (tmp_path / "tensorboard" / "train").mkdir()
    (tmp_path / "tensorboard" / "train" / "events.out.tfevents.1").touch()
    (tmp_path / "workers" / "file").write_text("x")
    names = ("checkpoint.keras", "log.csv", "model.keras", "target.keras",
             "run.lock", "notes.txt")
    for name in names:
        (tmp_path / name).write_text("x")
    _write_json(tmp_path / "config.json", TrainConfig().settings())
    if marked:
        run.mark()

    run.discard()

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["notes.txt", "run.lock", "workers"] +
        (["one_keras_run.json"] if marked else []))


def test_discard_keeps_a_run_folder_holding_a_users_file(tmp_path):
    run = RunDirectory(tmp_path)
    _write_json(tmp_path / "config.json", TrainConfig().settings())
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "epoch-00001.weights.h5").write_text("x")
    (tmp_path / "backup" / "thesis.tex").write_text("mine")
    run.mark()

    run.discard()

    assert [p.name for p in (tmp_path / "backup").iterdir()] == [
        "thesis.tex"]
    assert not (tmp_path / "config.json").exists()


def test_discard_removes_only_what_the_manifest_lists(tmp_path):
    run = RunDirectory(tmp_path)
    run.record_files("log.csv")
    for name in ("log.csv", "model.keras", "report.json"):
        (tmp_path / name).write_text("x")

    run.discard()

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.keras", "one_keras_run.json", "report.json"]


def test_remove_partial_files_removes_the_temporaries_of_killed_saves(
        tmp_path):
    run = RunDirectory(tmp_path)
    (tmp_path / "backup").mkdir()
    partial = ["model.partial.keras", "config.json.tmp", "tmpab12_xyz.keras",
               f"backup/{backup.PARTIAL}"]
    kept = ["model.keras", "config.json", "backup/epoch-00001.weights.h5",
            "backup/epoch-00001.json", "notes.tmp"]
    for name in partial + kept:
        (tmp_path / name).write_text("x")

    run.remove_partial_files()

    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
                  if p.is_file())
    assert left == sorted(kept)
    RunDirectory(tmp_path / "missing").remove_partial_files()


def test_trim_log_keeps_the_header_and_the_epochs_before(tmp_path):
    run = RunDirectory(tmp_path)
    log = tmp_path / "log.csv"
    log.write_text("epoch,loss\n0,1.0\n1,0.9\n2,0.8\n")
    run.trim_log(2)
    assert log.read_text() == "epoch,loss\n0,1.0\n1,0.9\n"
    RunDirectory(tmp_path / "missing").trim_log(2)
    assert not (tmp_path / "missing").exists()


def test_save_keras_replaces_the_file_whole_or_not_at_all(tmp_path,
                                                          monkeypatch):
    run = RunDirectory(tmp_path)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = tmp_path / "model.keras"
    run.save_training_model(model)
    saved = path.read_bytes()

    def dying_save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as handle:
            handle.write(b"PK")  # Half a file, then the process dies.
        raise OSError("killed")

    monkeypatch.setattr(keras.Model, "save", dying_save)
    with pytest.raises(OSError, match="killed"):
        run.save_training_model(model)
    assert path.read_bytes() == saved
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def test_a_run_of_another_backend_is_not_resumed(tmp_path):
    run = RunDirectory(tmp_path)
    saved = TrainConfig(output_dir=str(tmp_path))
    _write_json(tmp_path / "config.json", saved.settings())
    states = [(2, "epoch-00002.weights.h5",
               {"num_classes": 10, "backend": "jax"}),
              (1, "epoch-00001.weights.h5",
               {"num_classes": 10, "backend": "jax"})]
    assert run.resumable_changes(saved, states, 10, backend="jax") == {}
    with pytest.raises(ValueError, match=r"cannot be resumed with these "
                       r"settings: it trained on the Keras backend 'jax' "
                       r"and this process runs 'tensorflow'.*"
                       r"KERAS_BACKEND=jax"):
        run.resumable_changes(saved, states, 10, backend="tensorflow")
    # Backups of before the backend was recorded: nothing to compare.
    unrecorded = [(1, "epoch-00001.weights.h5", {"num_classes": 10})]
    assert run.resumable_changes(saved, unrecorded, 10,
                                 backend="tensorflow") == {}


def test_resume_state_round_trips_through_a_backups_metadata():
    from one_keras.runs import ResumeState
    state = ResumeState(epoch=3, train_seconds=1.5,
                        resumed_with_changes=({"epoch": 2, "lr": [1, 0.1]},),
                        config={"depth": 8}, num_classes=10, backend="jax")
    metadata = state.metadata()
    assert json.loads(json.dumps(metadata)) == metadata
    assert ResumeState.from_backup(3, metadata) == state
    # Backups of older versions record less: unknown, not zero.
    legacy = ResumeState.from_backup(2, {"resumed_with_changes": []})
    assert legacy.train_seconds is None and legacy.previous_seconds == 0.0
    assert legacy.backend is None and ResumeState().metadata() == {
        "resumed_with_changes": []}


def test_run_directory_owns_its_paths_and_what_it_holds(tmp_path):
    run = RunDirectory(tmp_path)
    assert run.config_path == str(tmp_path / "config.json")
    assert run.backup_dir == str(tmp_path / "backup")
    assert RunDirectory.of_model(tmp_path / "target.keras").path == \
        str(tmp_path)
    assert run.read_config() is None and run.backup_states() == []
    run.write_config({"depth": 8})
    assert run.read_config() == {"depth": 8}
    with run.locked(warn=None):
        assert (tmp_path / "run.lock").exists()
    assert not (tmp_path / "run.lock").exists()


def test_a_run_names_its_deployables_and_the_model_to_load(tmp_path):
    run = RunDirectory(tmp_path)
    assert run.deployables() == []
    with pytest.raises(ValueError, match=r"holding `model\.keras` or "
                       r"`target\.keras`\. Received: .* \(none found"):
        run.saved_model_path()
    dense = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    run.save_deployable("target", dense)
    run.save_deployable("ensemble", dense)
    run.save_checkpoint(dense)
    (tmp_path / "notes.keras").mkdir()  # Not a file: not a deployable.
    assert run.deployables() == ["ensemble", "target"]
    assert run.saved_model_path() == str(tmp_path / "target.keras")
    with pytest.raises(ValueError, match=r"holding `model\.keras`\. "):
        run.saved_model_path(training_only=True)
    run.save_training_model(dense)
    assert run.saved_model_path(training_only=True) == run.model_path
    assert run.deployables() == ["ensemble", "target"]
    assert run.saved_model_path() == run.model_path


def test_export_entries_merge_into_one_report(tmp_path):
    run = RunDirectory(tmp_path)
    run.record_export({"artifact": "a.tflite", "passed": True})
    run.record_export({"artifact": "b.onnx", "passed": False},
                      installed=False)
    run.record_export({"artifact": "a.tflite", "passed": False},
                      installed=False)
    report = json.loads((tmp_path / "export_report.json").read_text())
    # A failed attempt never stands for the file on disk (issue 37, #6).
    assert report == {
        "exports": {"a.tflite": {"artifact": "a.tflite", "passed": True}},
        "failed_attempts": {
            "a.tflite": {"artifact": "a.tflite", "passed": False},
            "b.onnx": {"artifact": "b.onnx", "passed": False}}}
    assert run.export_entry("a.tflite") == {"artifact": "a.tflite",
                                            "passed": True}
    assert run.export_entry("b.onnx") is None
    run.record_export({"artifact": "b.onnx", "passed": True})
    assert json.loads((tmp_path / "export_report.json").read_text())[
        "failed_attempts"] == {
        "a.tflite": {"artifact": "a.tflite", "passed": False}}
    # A report that is not one is replaced, not crashed on.
    (tmp_path / "export_report.json").write_text("[1, 2]")
    run.record_export({"artifact": "c.onnx"})
    assert json.loads((tmp_path / "export_report.json").read_text()) == {
        "exports": {"c.onnx": {"artifact": "c.onnx"}}}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "export_report.json"]


def test_reading_a_run_imports_no_keras(tmp_path):
    """Reading a run's files (`one-plot`, `--help`, prediction of an
    artifact) must not start Keras or TensorFlow."""
    import subprocess
    import sys
    probe = ("import sys\n"
             "from one_keras.runs import RunDirectory, check_output_path\n"
             f"run = RunDirectory({str(tmp_path)!r})\n"
             "run.read_config(), run.deployables(), run.finished_report\n"
             "check_output_path(run.file('x.csv'), bool, 'csv')\n"
             "print(sorted(m for m in ('keras', 'tensorflow', 'jax')"
             " if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", probe],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

"""A run owns only what it wrote, and no write follows a link (issue 37)."""

import json
import os
import resource
import shutil
import subprocess
import sys

import pytest

from one_keras.runs import RunDirectory
from one_keras.runs import backup
from one_keras.runs import ownership
from one_keras.training import experiment


TINY = dict(depth=8, width=4, epochs=1, steps_per_epoch=2, eval_steps=1,
            verbose=0)


def _config(path, **changes):
    return experiment.TrainConfig(**{**TINY, **changes},
                                  output_dir=str(path))


def _copy(run, path):
    shutil.copytree(run, path)
    return path


def _user_folder(path):
    """A folder of a user's files that look like a run's (finding 1)."""
    path.mkdir()
    (path / "model.keras").write_text("mine")
    (path / "config.json").write_text('{"my": 1}')
    return path


def _listing(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.parametrize("restart", [False, True])
def test_a_folder_that_is_not_a_run_is_refused_untouched(tmp_path, restart):
    folder = _user_folder(tmp_path / "p")
    (folder / "backup").mkdir()
    (folder / "backup" / "thesis.tex").write_text("mine")
    before = _listing(folder)

    with pytest.raises(ValueError, match=r"holds files that no one_keras "
                       r"run wrote \(backup, config.json, model.keras\)"):
        experiment.run(_config(folder, restart=restart))

    assert _listing(folder) == before
    assert (folder / "model.keras").read_text() == "mine"


@pytest.mark.parametrize("where, message", [
    ("/", "must not be the root folder"),
    ("run/backup", "must not be inside another run"),
    ("run/tensorboard", "must not be inside another run"),
    ("run/sub/deeper", "must not be inside another run"),
    ("file", "must be a folder"),
])
def test_root_inner_folders_and_paths_inside_a_run_are_refused(
        tmp_path, where, message):
    run = tmp_path / "run"
    run.mkdir()
    RunDirectory(run).record_files("config.json")
    (run / "backup").mkdir()
    (tmp_path / "file").write_text("x")
    path = where if where == "/" else tmp_path / where
    with pytest.raises(ValueError, match=message):
        RunDirectory(path).check_writable()
    assert not (run / "sub").exists()


def test_an_unmarked_runs_backup_folder_is_refused(tmp_path):
    # A run of an older version: no manifest, but its files.
    run = tmp_path / "r_one"
    (run / "backup").mkdir(parents=True)
    (run / "log.csv").write_text("epoch\n")
    with pytest.raises(ValueError, match="inside another run"):
        RunDirectory(run / "backup").check_writable()


@pytest.mark.parametrize("setup", ["absent", "empty", "stale_lock",
                                   "marked", "unmarked_run", "worker"])
def test_absent_empty_and_run_folders_may_be_written(tmp_path, setup):
    path = tmp_path / "run"
    if setup != "absent":
        path.mkdir()
    if setup == "stale_lock":
        (path / "run.lock").write_text('{"pid": 1}')
    if setup == "marked":
        RunDirectory(path).record_files("log.csv")
        (path / "log.csv").write_text("epoch\n")
    if setup == "unmarked_run":
        (path / "config.json").write_text(json.dumps(
            _config(path).settings()))
    if setup == "worker":
        RunDirectory(path).mark()
        path = path / "workers" / "worker_1"
    RunDirectory(path).check_writable()


def test_an_output_dir_that_is_a_link_is_refused(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(ValueError, match="must not be a symbolic link"):
        RunDirectory(tmp_path / "link").check_writable()


@pytest.mark.parametrize("name", ["log.csv", "tensorboard", "report.json"])
def test_a_runs_file_that_is_a_link_is_refused_and_its_target_kept(
        tmp_path, tiny_run, name):
    run = _copy(tiny_run.output_dir, tmp_path / "r")
    victim = tmp_path / "victim"
    if name == "tensorboard":
        victim.mkdir()
        shutil.rmtree(run / name)
    else:
        victim.write_text("mine")
        (run / name).unlink()
    (run / name).symlink_to(victim)

    with pytest.raises(ValueError, match=f"holds {name}, a symbolic link"):
        experiment.run(_config(run))

    assert (victim.read_text() == "mine" if victim.is_file()
            else list(victim.iterdir()) == [])


def test_a_run_marks_its_folder_and_lists_what_it_wrote(tiny_run):
    manifest = json.loads(
        (tiny_run.output_dir / "one_keras_run.json").read_text())
    written = sorted(p.name for p in tiny_run.output_dir.iterdir()
                     if p.name != "one_keras_run.json")
    assert manifest["files"] == written


@pytest.mark.slow  # Trains again (~20 s).
def test_restart_keeps_a_users_file_in_the_runs_backup(tmp_path, tiny_run):
    run = _copy(tiny_run.output_dir, tmp_path / "r")
    (run / "backup" / "thesis.tex").write_text("mine")
    (run / "notes.txt").write_text("mine")

    experiment.run(_config(run, restart=True))

    assert (run / "backup" / "thesis.tex").read_text() == "mine"
    assert (run / "notes.txt").read_text() == "mine"
    assert (run / "report.json").exists()


def test_a_run_of_an_older_version_resumes_and_is_marked(tmp_path,
                                                         tiny_run):
    run = _copy(tiny_run.output_dir, tmp_path / "r")
    (run / "one_keras_run.json").unlink()
    (run / "notes.txt").write_text("mine")

    report = experiment.run(_config(run))

    assert report == tiny_run.report
    files = json.loads((run / "one_keras_run.json").read_text())["files"]
    assert "target.keras" in files and "notes.txt" not in files


def test_a_failed_start_in_an_empty_folder_leaves_it_empty(tmp_path):
    from one_keras import data

    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DatasetNotFoundError):
        experiment.run(_config(tmp_path / "empty", dataset="image_folder",
                               data_dir=str(tmp_path / "missing")))
    assert list((tmp_path / "empty").iterdir()) == []


def test_a_finished_run_without_curves_draws_them_on_rerun(
        tmp_path, tiny_run, monkeypatch):
    # Finding 9: killed between the report and the picture (an older
    # version wrote the report first), reruns never drew it.
    run = _copy(tiny_run.output_dir, tmp_path / "r")
    (run / "curves.png").unlink()
    assert experiment.run(_config(run)) == tiny_run.report
    assert (run / "curves.png").stat().st_size > 0


@pytest.mark.slow  # Trains (~10 s).
def test_a_run_killed_while_drawing_curves_is_not_finished(tmp_path,
                                                           monkeypatch):
    from one_keras.reports import curves

    def killed(run_dir):
        raise KeyboardInterrupt

    monkeypatch.setattr(curves, "draw_run", killed)
    with pytest.raises(KeyboardInterrupt):
        experiment.run(_config(tmp_path / "r", steps_per_epoch=1))
    assert not (tmp_path / "r" / "report.json").exists()


def test_a_run_finished_on_another_backend_is_refused(tmp_path, tiny_run):
    # Finding 11: a JAX rerun printed the TensorFlow run's report.
    run = _copy(tiny_run.output_dir, tmp_path / "r")
    report = json.loads((run / "report.json").read_text())
    report["versions"]["backend"] = "jax"
    (run / "report.json").write_text(json.dumps(report))
    with pytest.raises(ValueError, match="finished on the Keras backend "
                       "'jax'.*--restart"):
        experiment.run(_config(run))


def test_a_killed_saves_partial_file_is_no_deployable(tmp_path):
    for name in ("target.keras", "target.partial.keras", "model.keras"):
        (tmp_path / name).write_text("x")
    assert RunDirectory(tmp_path).deployables() == ["target"]


def test_trim_log_keeps_keras_line_endings(tmp_path):
    # Keras' CSVLogger ends rows with "\r\n"; a resume appended them to a
    # trimmed log of "\n" rows.
    log = tmp_path / "log.csv"
    log.write_bytes(b"epoch,loss\r\n0,1.0\r\n1,0.5\r\n2,0.2\r\n")
    RunDirectory(tmp_path).trim_log(2)
    assert log.read_bytes() == b"epoch,loss\r\n0,1.0\r\n1,0.5\r\n"


def test_a_file_size_limit_is_refused_before_a_save(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200 * 1024, hard))
    try:
        with pytest.raises(OSError, match=r"ulimit -f") as error:
            backup.check_free_space(str(tmp_path), 300 * 1024)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert error.value.errno == 27  # EFBIG


@pytest.mark.slow  # A TensorFlow process.
def test_a_file_size_limit_during_training_is_one_line(tmp_path):
    # Finding 12: `ulimit -f 200` made HDF5 segfault, leaving run.lock and
    # backup/partial.weights.h5.
    run = tmp_path / "r"

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (200 * 1024, 200 * 1024))

    result = subprocess.run(
        [sys.executable, "-m", "one_keras.train", "--depth=8", "--width=4",
         "--epochs=1", "--steps_per_epoch=1", f"--output_dir={run}"],
        capture_output=True, text=True, preexec_fn=limit, timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "File too large" in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert not (run / "run.lock").exists()
    assert not (run / "backup" / "partial.weights.h5").exists()


def test_manifest_of_a_folder_without_one_is_none(tmp_path):
    assert ownership.read_manifest(str(tmp_path)) is None
    (tmp_path / "one_keras_run.json").write_text('{"files": "x"}')
    assert ownership.read_manifest(str(tmp_path)) is None



@pytest.fixture(scope="module")
def exports(tmp_path_factory, tiny_run):
    """A copy of `tiny_run` with its target exported into it as TFLite and
    its ensemble as a SavedModel, and its target exported outside it, in
    `deploy/` (few images: only the files matter). Read it only."""
    from one_keras.export import exporting
    from one_keras.export import formats

    folder = tmp_path_factory.mktemp("exports")
    run = _copy(tiny_run.output_dir, folder / "r")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(formats.REGISTRY["tflite"], "separate_process", False)
        exporting.export_model(str(run), format="tflite", num_samples=8,
                               latency_repeats=1)
        exporting.export_model(str(run), mode="ensemble",
                               format="savedmodel", num_samples=8,
                               latency_repeats=1)
        exporting.export_model(str(run / "target.keras"),
                               folder / "deploy" / "target.tflite",
                               num_samples=8, latency_repeats=1)
    return folder


def test_an_export_into_a_run_is_listed_in_its_manifest(exports):
    run = exports / "r"
    files = ownership.read_manifest(str(run))["files"]
    assert {"target.tflite", "ensemble_savedmodel",
            "export_report.json"} <= set(files)
    on_disk = {p.name for p in run.iterdir()}
    assert set(files) == on_disk - {"one_keras_run.json"}


def test_an_export_outside_a_run_marks_nothing(exports):
    assert (exports / "deploy" / "target.tflite").is_file()
    assert not (exports / "deploy" / "one_keras_run.json").exists()


def test_restart_removes_the_runs_exports_and_their_report(tmp_path,
                                                            exports):
    run = _copy(exports / "r", tmp_path / "r")
    saved_model = run / "ensemble_savedmodel"
    (saved_model / "notes.txt").write_text("mine")
    (run / "mine.tflite").write_text("mine")

    RunDirectory(str(run)).discard()

    assert not (run / "target.tflite").exists()
    assert not (run / "export_report.json").exists()
    # A listed folder goes only as far as it holds what an export writes.
    assert _listing(saved_model) == ["notes.txt"]
    assert (run / "mine.tflite").read_text() == "mine"
    assert ownership.read_manifest(str(run))["files"] == [
        "ensemble_savedmodel"]


@pytest.mark.parametrize("listed", [True, False])
def test_restart_never_leaves_an_older_inputs_json_beside_its_config(
        tmp_path, tiny_run, monkeypatch, listed):
    """A `--restart` killed once its `config.json` is written: the folder
    holds this run's `inputs.json`, not the run's it replaced, also where
    the manifest (of an earlier version) does not list `inputs.json`."""
    run = _copy(tiny_run.output_dir, tmp_path / "r")
    old = json.loads((run / "inputs.json").read_text())
    (run / "inputs.json").write_text(json.dumps(
        {**old, "class_names": [f"old{i}" for i in range(10)]}))
    if not listed:
        manifest = json.loads((run / "one_keras_run.json").read_text())
        manifest["files"].remove("inputs.json")
        (run / "one_keras_run.json").write_text(json.dumps(manifest))
    write_config = RunDirectory.write_config

    def killed_after(self, settings):
        write_config(self, settings)
        raise KeyboardInterrupt

    monkeypatch.setattr(RunDirectory, "write_config", killed_after)
    with pytest.raises(KeyboardInterrupt):
        experiment.run(_config(run, restart=True))

    assert json.loads((run / "inputs.json").read_text()) == old
    assert "inputs.json" in ownership.owned_names(str(run))

"""`RunDirectory`: a training run's output directory as one object.

It owns the run's files (named once in `one_keras.runs.layout`), its lock,
its backups and their `ResumeState`, the checks of a rerun (a finished run,
a resumable one: settings, classes, Keras backend; `one_keras.runs.resume`
says what may resume), the atomic saves into it
(`one_keras.runs.keras_files`), the reading of what it holds (which model
file to load, its deployables, its settings) and the export report merged
into it. `one_keras.training.experiment.run` trains through it,
evaluation, export and prediction read through it; as Keras'
`BackupAndRestore` callback owns its backup folder.
`one_keras.runs.output_path.check_output_path` keeps every other tool's
output off a run's files.

Into its `path` a run writes first `one_keras_run.json`, its manifest
(`one_keras.runs.ownership`: what the run owns, what it refuses to write
into), then `config.json` (the settings), `inputs.json` (what later
commands need of its inputs: class names, data location, KD's teacher),
`checkpoint.keras` (every epoch), `backup/` (`one_keras.runs.backup`),
`log.csv`, `tensorboard/`, and at the end `model.keras` (the training
model), `target.keras` (what to deploy) and `report.json`; `run.lock`
while it runs.
"""

import contextlib
import os
import re
import socket
import uuid

from one_keras.runs import layout as run_layout
from one_keras.runs import lock as run_lock
from one_keras.runs import ownership
from one_keras.runs import resume
from one_keras.runs import recorded_settings
# Light to import (Keras and its backend load on the first backup, save or
# backend check): reading a run, `one-plot` and `--help` need no Keras.
from one_keras.runs.keras_files import save_keras
from one_keras.runs.state import ResumeState
from one_keras.utils import atomic_files
from one_keras.utils.json_files import read_json
from one_keras.utils.json_files import write_json


# The `.keras` files of a run that are not deployables.
TRAINING_FILES = (run_layout.MODEL_NAME, run_layout.CHECKPOINT_NAME)
# Temporaries of a killed save: `save_keras`, `write_json` and older
# versions' `tempfile.mkstemp(suffix=".keras")`.
PARTIAL_FILE = re.compile(r"^(.+\.partial\.keras|.+\.json\.tmp|"
                          r"log\.csv\.tmp|curves\.png\.tmp|"
                          r"tmp[a-z0-9_]{8}\.keras)$")


class RunDirectory:
    """A training run's output directory.

    Args:
        path: str or `os.PathLike`. The directory (it may not exist yet).
    """

    def __init__(self, path):
        self.path = os.fspath(path)

    @classmethod
    def of_worker(cls, config, strategy):
        """Where this worker writes: `config.output_dir`, or under
        `multi_worker` for a worker other than the chief
        `output_dir/workers/<task type>_<task id>`.

        Args:
            config: `one_keras.training.train_config.TrainConfig`.
            strategy: the run's `tf.distribute` strategy (or JAX stand-in).

        Returns:
            A `RunDirectory`.
        """
        resolver = getattr(strategy, "cluster_resolver", None)
        if config.strategy != "multi_worker" or resolver is None or \
                strategy.extended.should_checkpoint:
            return cls(config.output_dir)
        return cls(os.path.join(config.output_dir, run_layout.WORKERS_NAME,
                                f"{resolver.task_type}_{resolver.task_id}"))

    @classmethod
    def of_model(cls, model_path):
        """The run directory a model belongs to: the path itself when it
        is a directory, else the folder of the `.keras` file.

        Args:
            model_path: str or `os.PathLike`.

        Returns:
            A `RunDirectory`.
        """
        model_path = os.fspath(model_path)
        if os.path.isdir(model_path):
            return cls(model_path)
        return cls(os.path.dirname(os.path.abspath(model_path)))

    def __repr__(self):
        return f"RunDirectory({self.path!r})"

    def file(self, name):
        """The path of `name` (a `one_keras.runs.layout` name) in the run."""
        return os.path.join(self.path, name)

    @property
    def config_path(self):
        return self.file(run_layout.CONFIG_NAME)

    @property
    def inputs_path(self):
        """Its `inputs.json`: what later commands need of its inputs."""
        return self.file(run_layout.INPUTS_NAME)

    @property
    def report_path(self):
        return self.file(run_layout.REPORT_NAME)

    @property
    def backup_dir(self):
        return self.file(run_layout.BACKUP_NAME)

    @property
    def log_path(self):
        return self.file(run_layout.LOG_NAME)

    @property
    def checkpoint_path(self):
        return self.file(run_layout.CHECKPOINT_NAME)

    @property
    def tensorboard_dir(self):
        return self.file(run_layout.TENSORBOARD_NAME)

    @property
    def curves_path(self):
        return self.file(run_layout.CURVES_NAME)

    @property
    def model_path(self):
        """Its training model, `model.keras` (methods' classes inside)."""
        return self.file(run_layout.MODEL_NAME)

    @property
    def export_report_path(self):
        return self.file(run_layout.EXPORT_REPORT_NAME)

    def deployable_path(self, name):
        """The file of its deployable `name` (`target` -> `target.keras`)."""
        return self.file(run_layout.deployable_file(name))

    def locked(self, warn=print):
        """A context that holds the run's `run.lock` (`one_keras.runs.lock`:
        a second run here is refused, a dead run's lock taken over)."""
        return run_lock.locked(self.path, warn=warn)

    # What the run owns (`one_keras.runs.ownership`).

    def check_writable(self):
        """Raises unless a run may write here: the folder is absent, empty
        or a run's (marked, or of an older version), and not `/`, a link,
        or inside another run (`ownership.check`).

        Raises:
            ValueError: in one line naming the fix.
        """
        ownership.check(self.path)

    def mark(self):
        """Writes its manifest, `one_keras_run.json`, unless it has one (a
        run of an older version: listing its files present)."""
        ownership.mark(self.path)

    def record_files(self, *names):
        """Lists `names` (layout names) in its manifest before the run
        writes them; `discard` removes only what is listed."""
        ownership.record(self.path, names)

    def record_training_files(self):
        """`record_files` of what training writes: `config.json`,
        `inputs.json`, `log.csv`, `checkpoint.keras`, `backup/`,
        `tensorboard/`."""
        self.record_files(
            run_layout.CONFIG_NAME, run_layout.INPUTS_NAME,
            run_layout.LOG_NAME,
            run_layout.CHECKPOINT_NAME, run_layout.BACKUP_NAME,
            run_layout.TENSORBOARD_NAME)

    def record_final_files(self, deployables):
        """`record_files` of what a finished run writes: `model.keras`,
        `curves.png`, `report.json` and `<name>.keras` of each deployable.

        Args:
            deployables: iterable of str. The deployables' names.
        """
        self.record_files(
            run_layout.MODEL_NAME, run_layout.CURVES_NAME,
            run_layout.REPORT_NAME,
            *(run_layout.deployable_file(name) for name in deployables))

    def record_export_files(self, artifact=None):
        """Lists an export's `artifact` (a file or SavedModel folder name)
        and `export_report.json` in its manifest before the export writes
        them, when the folder is a run (marked, or of an older version): a
        run owns the exports written into it, and `discard` removes them.
        Nothing when it is not a run.

        Args:
            artifact: str or `None`. The artifact's name in the folder;
                `None` lists the report only (a failed attempt).
        """
        if not ownership.is_run(self.path):
            return
        self.record_files(*(name for name in (
            artifact, run_layout.EXPORT_REPORT_NAME) if name))

    def unmark_if_unused(self):
        """Removes its manifest when it lists nothing and the folder holds
        nothing else (a start that failed before writing).

        Returns:
            bool. Whether the folder is as empty as the run found it.
        """
        return os.path.isdir(self.path) and ownership.unmark_if_unused(
            self.path)

    # What the run holds.

    def read_config(self):
        """Its `config.json` (the flat settings, under today's names:
        `recorded_settings.current_names`), or `None` if unreadable."""
        return recorded_settings.current_names(read_json(self.config_path))

    def write_config(self, settings):
        """Writes `config.json` atomically."""
        write_json(self.config_path, settings)

    def read_inputs(self):
        """Its `inputs.json` (class names, data location, KD's teacher:
        `one_keras.training.train_inputs.inputs_record`), or `None` (a run
        of an earlier version, or unreadable)."""
        return read_json(self.inputs_path)

    def write_inputs(self, record):
        """Writes `inputs.json` atomically."""
        write_json(self.inputs_path, record)

    def read_report(self):
        """Its `report.json`, or `None` if missing or unreadable."""
        return read_json(self.report_path)

    def write_report(self, report):
        """Writes `report.json` atomically."""
        write_json(self.report_path, report)

    def save_keras(self, model, name):
        """Saves `model` as the run's file `name`, atomically (see
        `save_keras`)."""
        save_keras(model, self.file(name))

    def check_free_space(self, model, copies=1):
        """Raises an `OSError` unless the disk here has room for `copies`
        saves of `model` (`one_keras.runs.backup.check_free_space`)."""
        from one_keras.runs import backup as backup_lib
        size = backup_lib.state_bytes(model)
        backup_lib.check_free_space(self.path, copies * size,
                                    file_bytes=size)

    def save_checkpoint(self, model):
        """Saves `checkpoint.keras` (every epoch), atomically."""
        save_keras(model, self.checkpoint_path)

    def save_training_model(self, model):
        """Saves `model.keras`, the trained training model, atomically."""
        save_keras(model, self.model_path)

    def save_deployable(self, name, model):
        """Saves the deployable `name` as `<name>.keras`, atomically."""
        save_keras(model, self.deployable_path(name))

    def deployables(self):
        """The names of the deployables it holds (`target`, `ensemble`,
        ...): its `.keras` files but the training ones, sorted."""
        if not os.path.isdir(self.path):
            return []
        return sorted(
            name[:-len(".keras")] for name in os.listdir(self.path)
            if name.endswith(".keras") and name not in TRAINING_FILES
            and not PARTIAL_FILE.match(name)
            and os.path.isfile(self.file(name)))

    def saved_model_path(self, training_only=False):
        """The model file to load: `model.keras` (the training model), else
        (unless `training_only`) `target.keras` (the deployed target).

        Args:
            training_only: bool. Only the training model will do (export
                builds its modes from it).

        Returns:
            str. The path of the file.

        Raises:
            ValueError: the run holds none of them, naming the fix.
        """
        names = (run_layout.MODEL_NAME,) if training_only else (
            run_layout.MODEL_NAME, run_layout.TARGET_NAME)
        for name in names:
            if os.path.isfile(self.file(name)):
                return self.file(name)
        holding = " or ".join(f"`{name}`" for name in names)
        raise ValueError(
            "`model` must be a `.keras` file or a training output directory "
            f"holding {holding}. Received: model={self.path!r} (none "
            "found; train one with `python -m one_keras.train`)")

    def record_export(self, entry, installed=True):
        """Adds an export's report `entry` to its `export_report.json`,
        keyed by `entry["artifact"]`.

        `exports` describes the artifacts on disk: an entry goes there only
        when its artifact was installed (and the artifact's last failed
        attempt, if any, is dropped). A failed attempt, which left the file
        on disk as it was, goes to `failed_attempts` instead, leaving the
        file's own entry alone.

        Exports into one folder may run at once: each reads, merges and
        replaces the report under the folder's exclusive lock
        (`one_keras.runs.lock.exclusive`), through a temporary file of its
        own, so no entry is lost.

        Args:
            entry: dict. JSON-serialisable, with an `artifact` name.
            installed: bool. Whether the artifact was installed. Defaults
                to `True`.
        """
        path = self.export_report_path
        with run_lock.exclusive(self.path):
            report = read_json(path) or {}
            if not isinstance(report, dict) or \
                    not isinstance(report.get("exports"), dict):
                report = {"exports": {}}
            failed = report.get("failed_attempts")
            failed = failed if isinstance(failed, dict) else {}
            if installed:
                report["exports"][entry["artifact"]] = entry
                failed.pop(entry["artifact"], None)
            else:
                failed[entry["artifact"]] = entry
            if failed:
                report["failed_attempts"] = failed
            else:
                report.pop("failed_attempts", None)
            write_json(path, report, temporary=(
                f"{path}.{socket.gethostname()}-{os.getpid()}-"
                f"{uuid.uuid4().hex[:8]}.tmp"))

    def export_entry(self, artifact):
        """The `export_report.json` entry of the artifact named `artifact`
        that is on disk (an installed export's), or `None`."""
        report = read_json(self.export_report_path)
        exports = report.get("exports") if isinstance(report, dict) else None
        entry = exports.get(artifact) if isinstance(exports, dict) else None
        return entry if isinstance(entry, dict) else None

    # Backups.

    def backup_states(self):
        """Its backups, newest first (`one_keras.backup.list_states`)."""
        from one_keras.runs import backup as backup_lib
        return backup_lib.list_states(self.backup_dir)

    def restore(self, model, warn=print, max_epoch=None):
        """Loads the newest usable backup into `model`.

        Args:
            model: built `keras.Model`, compiled with its optimizer.
            warn: callable taking a line (skipped backups).
            max_epoch: int or `None`. Only backups of this epoch or an
                earlier one (workers agreeing on one).

        Returns:
            The `ResumeState` (epoch 0 when none was usable).

        Raises:
            ValueError: a backup of another model, in one line naming the
                ways out.
        """
        from one_keras.runs import backup as backup_lib
        try:
            epoch, metadata = backup_lib.restore_newest(
                model, self.backup_dir, warn=warn, max_epoch=max_epoch)
        except backup_lib.IncompatibleBackupError as error:
            raise ValueError(self.unresumable(str(error))) from None
        return ResumeState.from_backup(epoch, metadata)

    def epoch_backup(self, state, should_save=None):
        """The callback that backs up every epoch.

        Args:
            state: callable. `state(epoch)` returns the `ResumeState` to
                record with the backup of `epoch`.
            should_save: callable or `None`. See `backup.EpochBackup`.

        Returns:
            A `one_keras.backup.EpochBackup`.
        """
        from one_keras.runs import backup as backup_lib
        return backup_lib.EpochBackup(
            self.backup_dir, lambda epoch: state(epoch).metadata(),
            should_save=should_save)

    # Checks of a rerun (`one_keras.runs.resume`).

    def finished_report(self, config, warn=print):
        """The report of a finished run here, or `None`
        (`one_keras.runs.resume.finished_report`)."""
        return resume.finished_report(self, config, warn=warn)

    def resumable_changes(self, config, states, num_classes, backend=None):
        """Recovery settings that differ from the run to resume,
        `{k: [old, new]}` (`one_keras.runs.resume.resumable_changes`)."""
        return resume.resumable_changes(self, config, states, num_classes,
                                        backend=backend)

    def unresumable(self, reason):
        """The one-line refusal of a run here whose backups cannot be
        resumed (`one_keras.runs.resume.unresumable`)."""
        return resume.unresumable(self, reason)

    # Clean-up.

    def discard(self):
        """Deletes what an earlier run wrote here (`--restart`): the names
        its manifest lists (`one_keras.runs.ownership.owned_names`), and of
        its `backup/` and `tensorboard/` only the files a run writes there
        (a folder holding anything else stays, with that). The exports an
        export listed go too, a SavedModel folder as far as it holds a
        SavedModel's files, and their entries in `export_report.json` (the
        file goes when no entry is left): they came from the models this
        run replaces. Its `run.lock`, `workers/` and any file not listed
        stay.
        """
        from one_keras.runs import backup as backup_lib
        owned = ownership.owned_names(self.path)
        for name in owned:
            target = self.file(name)
            if name == run_layout.EXPORT_REPORT_NAME:
                continue  # Last: it describes the exports removed here.
            if os.path.islink(target) or os.path.isfile(target):
                os.remove(target)
            elif name == run_layout.BACKUP_NAME:
                _remove_files(target, backup_lib.is_backup_file)
            elif name == run_layout.TENSORBOARD_NAME:
                _remove_files(target, _is_summary_file)
            elif os.path.isdir(target):
                _remove_files(target, _is_saved_model_file)
        if run_layout.EXPORT_REPORT_NAME in owned:
            self._forget_removed_exports()
        if ownership.is_marked(self.path):
            ownership.forget(self.path, [
                name for name in owned if not os.path.lexists(
                    self.file(name))])

    def _forget_removed_exports(self):
        """Drops the `export_report.json` entries whose artifact is gone
        (`_holds_export`); removes the report when none is left."""
        path = self.export_report_path
        with run_lock.exclusive(self.path):
            report = read_json(path)
            if not isinstance(report, dict):
                atomic_files.remove(path)
                return
            for section in ("exports", "failed_attempts"):
                entries = report.get(section)
                if isinstance(entries, dict):
                    report[section] = {
                        name: entry for name, entry in entries.items()
                        if _holds_export(self.file(name))}
                if not report.get(section):
                    report.pop(section, None)
            if report:
                write_json(path, report)
            else:
                atomic_files.remove(path)

    def remove_partial_files(self):
        """Deletes the temporaries that a killed save left here and in
        `backup/` (named as `PARTIAL_FILE` or `backup.PARTIAL`)."""
        from one_keras.runs import backup as backup_lib
        for directory in (self.path, self.backup_dir):
            if not os.path.isdir(directory):
                continue
            for name in os.listdir(directory):
                if PARTIAL_FILE.match(name) or name == backup_lib.PARTIAL:
                    os.remove(os.path.join(directory, name))

    def trim_log(self, epochs):
        """Keeps the header and the rows of the first `epochs` epochs of
        `log.csv` (see `trim_log`)."""
        trim_log(self.log_path, epochs)


def _is_summary_file(name):
    """Whether `name` is a file Keras' `TensorBoard` callback writes."""
    return name.startswith("events.out.tfevents.")


def _holds_export(path):
    """Whether `path` holds an artifact still: a file, or a folder with a
    SavedModel (not only a user's files that `discard` left)."""
    if os.path.isdir(path) and not os.path.islink(path):
        return os.path.isfile(os.path.join(path, "saved_model.pb"))
    return os.path.lexists(path)


def _is_saved_model_file(name):
    """Whether `name` is a file a SavedModel export writes."""
    return name in ("saved_model.pb", "fingerprint.pb") or \
        name.startswith("variables.")


def _remove_files(folder, is_run_file):
    """Removes the files under `folder` that `is_run_file(name)` accepts,
    then the folders left empty, `folder` last; links are removed, never
    followed."""
    if os.path.islink(folder):
        os.remove(folder)
        return
    for root, folders, files in os.walk(folder, topdown=False):
        for name in files:
            if is_run_file(name):
                os.remove(os.path.join(root, name))
        for name in folders:
            inner = os.path.join(root, name)
            if os.path.islink(inner):
                continue
            with contextlib.suppress(OSError):
                os.rmdir(inner)  # Only when empty.
    with contextlib.suppress(OSError):
        os.rmdir(folder)


def trim_log(path, epochs):
    """Keeps the header and the rows of the first `epochs` epochs of the
    CSV log `path`: the rows of epochs that a resume trains again go.

    Args:
        path: str. A run's `log.csv`; nothing happens when it is missing.
        epochs: int. The epochs whose rows stay.
    """
    if not os.path.exists(path):
        return
    with open(path, newline="") as handle:  # Keras writes "\r\n": kept.
        lines = handle.readlines()
    kept = lines[:1] + [line for line in lines[1:]
                        if line.split(",", 1)[0].strip().isdigit()
                        and int(line.split(",", 1)[0]) < epochs]
    if kept != lines:
        with atomic_files.open_replacing(path, "w", newline="") as handle:
            handle.writelines(kept)

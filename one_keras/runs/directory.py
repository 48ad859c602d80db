"""`RunDirectory`: a training run's output directory as one object.

It owns the run's files (named once in `one_keras.runs.layout`), its lock,
its backups and their `ResumeState`, the checks of a rerun (a finished run,
a resumable one: settings, classes, Keras backend), the atomic saves into
it, the loading of what it holds (its models, its deployables, its
settings) and the export report merged into it. `one_keras.training.experiment.run`
trains through it, evaluation, export and prediction read through it; as
Keras' `BackupAndRestore` callback owns its backup folder.
`check_output_path` keeps every other tool's output off a run's files.

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
import shutil
import socket
import uuid

from one_keras.runs import layout as run_layout
from one_keras.runs import lock as run_lock
from one_keras.runs import ownership
from one_keras.runs import recorded_settings
from one_keras.runs.state import ResumeState
# Light to import (Keras and its backend load on the first backup, save or
# backend check): reading a run, `one-plot` and `--help` need no Keras.
from one_keras.utils import atomic_files
from one_keras.utils.json_files import read_json
from one_keras.utils.json_files import write_json


# Fields that may change between a run and its resumption: how to get the
# data, how much to print, and the learning rate (the fix for a NaN loss).
RESUMABLE_CHANGES = ("verbose", "download", "data_dir", "lr")
# ... and that a rerun of a finished run may give (it trains nothing).
FINISHED_RUN_CHANGES = ("verbose", "download", "data_dir")
# Where the run is, not how it trains (`runs/a/` is `runs/a`), and whether
# to discard the run there.
LOCATION_FIELDS = ("output_dir", "restart")
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
        """Its `inputs.json` (`one_keras.training.train_inputs.inputs_record`: class
        names, data location, KD's teacher), or `None` (a run of an
        earlier version, or unreadable)."""
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

    def load_model(self, training_only=False):
        """Loads `saved_model_path(training_only)`, not compiled
        (`load_keras_file`; `one_keras.methods.saved_models.load_model` registers
        the methods' classes that a training model needs first)."""
        return load_keras_file(self.saved_model_path(training_only))

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

    # Checks of a rerun.

    def finished_report(self, config, warn=print):
        """The report of a finished run here, or `None` (also with
        `config.restart`).

        Args:
            config: `one_keras.training.train_config.TrainConfig`. The run to start.
            warn: callable taking a line: says that the run has finished.

        Returns:
            The report dict, or `None`.

        Raises:
            ValueError: the finished run had other settings, or
                `report.json` is not a report of this package.
        """
        if not os.path.exists(self.report_path):
            return None
        report = self.read_report()
        if report is None or not {"config",
                                  "target_accuracy"} <= report.keys():
            raise ValueError(
                f"`output_dir` holds a report.json that no finished "
                f"one_keras run wrote (unreadable, or without `config` and "
                f"`target_accuracy`), which a run would overwrite. Move "
                f"{self.report_path} away or use another --output_dir. "
                f"Received: output_dir={self.path}")
        if config.restart:
            return None
        from one_keras.utils import backends  # Imports Keras.
        versions = report.get("versions")
        trained_on = versions.get("backend") if isinstance(
            versions, dict) else None
        if trained_on is not None and trained_on != backends.backend():
            raise ValueError(
                f"`output_dir` holds a run finished on the Keras backend "
                f"{trained_on!r}, and this process runs "
                f"{backends.backend()!r}: its report is not this backend's "
                f"result. Use another --output_dir, or --restart to train "
                f"it again on {backends.backend()!r}. Received: "
                f"output_dir={self.path}")
        changed = _changed_settings(report.get("config", {}), config,
                                    FINISHED_RUN_CHANGES)
        if changed:
            raise ValueError(
                f"`output_dir` holds a finished run with other settings "
                f"({', '.join(changed)}); its report is {self.report_path}. "
                f"Use another --output_dir, --restart to train it again, or "
                f"delete {self.path}. Received: output_dir={self.path}")
        warn(f"`output_dir` holds a finished run with these settings; "
             f"nothing to train. Its report is {self.report_path}.")
        return report

    def resumable_changes(self, config, states, num_classes, backend=None):
        """Recovery settings that differ from the run to resume,
        `{k: [old, new]}`.

        The run's settings are its `config.json`, else those its newest
        backup recorded (`states`, from `backup_states`).

        Args:
            config: `one_keras.training.train_config.TrainConfig`. The run to start.
            states: list. Its backups, as `backup_states` returns them.
            num_classes: int. Classes of the data `config` reads.
            backend: str or `None`. The Keras backend that would resume it
                (`None`: the active one).

        Returns:
            A dict: each changed recovery setting but `verbose`,
            `[old, new]`.

        Raises:
            ValueError: other settings, another number of classes (e.g. a
                `--data_dir` of other classes), another Keras backend than
                its backups record, or no readable settings.
        """
        recorded = [ResumeState.from_backup(epoch, metadata)
                    for epoch, _, metadata in states if metadata]
        trained_on = next((s.backend for s in recorded if s.backend), None)
        from one_keras.utils import backends  # Imports Keras.
        backend = backend or backends.backend()
        if trained_on is not None and trained_on != backend:
            # Its input pipeline (tf.data or NumPy) and numerics differ: the
            # resumed run would match no uninterrupted run.
            raise ValueError(self.unresumable(
                f"it trained on the Keras backend {trained_on!r} and this "
                f"process runs {backend!r}, whose input pipeline and "
                f"numerics differ (set KERAS_BACKEND={trained_on} to "
                f"resume it)"))
        saved = self.read_config()
        if saved is None:
            saved = next((s.config for s in recorded if s.config), None)
        if saved is None:
            raise ValueError(self.unresumable(
                "its config.json is unreadable and its backups record no "
                "settings, so they cannot be checked"))
        trained_under = recorded_dtype_policy(saved)
        if trained_under is not None and \
                trained_under != config.dtype_policy:
            # Its weights and optimizer state follow another arithmetic: the
            # resumed run would match no uninterrupted run.
            raise ValueError(self.unresumable(
                f"it trained under the dtype policy {trained_under!r} and "
                f"this run would resume it under {config.dtype_policy!r} "
                f"(--dtype_policy={trained_under} resumes it)"))
        changed = _changed_settings(saved, config, RESUMABLE_CHANGES)
        if changed:
            raise ValueError(
                f"`output_dir` holds an unfinished run with other settings "
                f"({', '.join(changed)}), which would be resumed; only "
                f"{', '.join(RESUMABLE_CHANGES)} may change. Use another "
                f"--output_dir, --restart to train from epoch 0 over it, or "
                f"delete {self.path}. Received: output_dir={self.path}")
        classes = next((s.num_classes for s in recorded
                        if s.num_classes is not None), num_classes)
        if classes != num_classes:
            raise ValueError(self.unresumable(
                f"it trained on {classes} classes and the data "
                f"(--data_dir={config.data_dir!r}) has {num_classes}"))
        current = config.settings()
        return {k: [saved[k], current[k]] for k in
                _changed_settings(saved, config, ("verbose",))}

    def unresumable(self, reason):
        """The one-line refusal of a run whose backups cannot be resumed.

        Args:
            reason: str. Why its backups cannot be resumed.

        Returns:
            str. The message, which names the ways out.
        """
        return (f"`output_dir` holds an unfinished run that cannot be "
                f"resumed with these settings: {reason}. Rerun with its "
                f"settings, use another --output_dir, or pass --restart to "
                f"train from epoch 0 over it. Received: "
                f"output_dir={self.path}")

    # Clean-up.

    def discard(self):
        """Deletes what an earlier run wrote here (`--restart`): the names
        its manifest lists (`one_keras.runs.ownership.owned_names`), and of
        its `backup/` and `tensorboard/` only the files a run writes there
        (a folder holding anything else stays, with that). Its `run.lock`,
        `workers/` and any file not listed stay.
        """
        from one_keras.runs import backup as backup_lib
        owned = ownership.owned_names(self.path)
        for name in owned:
            target = self.file(name)
            if os.path.islink(target) or os.path.isfile(target):
                os.remove(target)
            elif name == run_layout.BACKUP_NAME:
                _remove_files(target, backup_lib.is_backup_file)
            elif name == run_layout.TENSORBOARD_NAME:
                _remove_files(target, _is_summary_file)
        if ownership.is_marked(self.path):
            ownership.forget(self.path, [
                name for name in owned if not os.path.lexists(
                    self.file(name))])

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


def check_output_path(path, replaceable, what, name="output", hint=""):
    """Raises unless `path` may take a tool's output; nothing is touched.

    `path` must be new, or hold what this tool wrote before (`replaceable`),
    and never be a file a training run writes: one of `layout.RUN_FILES` in
    a run directory (a folder holding `run.lock` or two of `RUN_FILES` and
    `RUN_FOLDERS`), or anything under its `RUN_FOLDERS` (`backup/`,
    `tensorboard/`, `workers/`).

    Args:
        path: str. The output path.
        replaceable: callable. `replaceable(path)` is true for an existing
            file (or folder) that this tool wrote and may replace.
        what: str. What the tool writes, for the message (e.g.
            `"tflite artifact"`).
        name: str. The flag or argument, quoted in the message.
        hint: str. Where to write instead, added to the message.

    Raises:
        ValueError: `path` is a run's file, or something the tool did not
            write, in one line naming the fix.
    """
    path = os.path.abspath(os.fspath(path))
    instead = f"Pass another --{name}{f' ({hint})' if hint else ''}."
    run_file = _run_file_of(path)
    if run_file:
        raise ValueError(
            f"`{name}` must not be a file a training run writes; {path!r} "
            f"is {run_file}, and is left alone. {instead} Received: "
            f"{name}={path}")
    if not os.path.lexists(path) or replaceable(path):
        return
    kind = "a directory" if os.path.isdir(path) else "a file"
    raise ValueError(
        f"`{name}` must be a new path or an existing {what} to replace; "
        f"{path!r} is {kind} that is not one, and is left alone. {instead} "
        f"Received: {name}={path}")


def _run_file_of(path):
    """What `path` is in a training run (e.g. "log.csv of the training run
    in /runs/a"), or `""`."""
    parts = path.split(os.sep)
    for depth in range(len(parts) - 1, 0, -1):
        folder, child = os.sep.join(parts[:depth]) or os.sep, parts[depth]
        is_last = depth == len(parts) - 1
        if (child in run_layout.RUN_FOLDERS or (
                is_last and child in run_layout.RUN_FILES)) and \
                _is_run_directory(folder, path):
            where = child if is_last else f"under {child}/"
            return f"{where} of the training run in {folder}"
    return ""


def _is_run_directory(folder, path):
    """Whether `folder` is a training run's: it holds `run.lock` or its
    manifest, or two of
    `RUN_FILES` and `RUN_FOLDERS` (one alone, e.g. a `config.json`, may be
    anyone's). `path` itself does not count."""
    found = [name for name in run_layout.RUN_FILES + run_layout.RUN_FOLDERS
             if os.path.join(folder, name) != path
             and os.path.lexists(os.path.join(folder, name))]
    return (run_layout.LOCK_NAME in found or run_layout.MANIFEST_NAME in
            found or len(found) >= 2)


def _changed_settings(saved, config, ignored):
    """Fields of `config` that differ from the `saved` dict, except
    `ignored`."""
    current = config.settings()
    # `mixed_precision` is recorded resolved, as `dtype_policy`.
    policy = recorded_dtype_policy(saved)
    saved = {k: v for k, v in saved.items()
             if k not in ("mixed_precision", "dtype_policy")}
    if policy is not None:
        saved["dtype_policy"] = policy
    return sorted(k for k in current if k not in ignored
                  and k != "mixed_precision"
                  and k not in LOCATION_FIELDS and k in saved
                  and saved[k] != current[k])


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


def load_model(path, training_only=False):
    """Loads a `.keras` file, or the model a training run saved
    (`RunDirectory.load_model`), not compiled.

    Args:
        path: str. A `.keras` file, or a training output directory.
        training_only: bool. See `RunDirectory.saved_model_path`.

    Returns:
        The `keras.Model`.

    Raises:
        ValueError: naming `model` and the fix (see `load_keras_file`).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        return RunDirectory(path).load_model(training_only)
    return load_keras_file(path)


def load_keras_file(path):
    """Loads a whole `.keras` file, not compiled, with safe mode on.

    Args:
        path: str. The file (e.g. `saved_model_path`'s).

    Returns:
        The `keras.Model`.

    Raises:
        ValueError: naming `model`: the file is missing, truncated, or not a
            Keras model.
    """
    import keras

    # Registers one_keras' generic layers (older deployed files hold its
    # fused BatchNormalization). A run's training model (`model.keras`)
    # also needs its method's classes, which `one_keras.methods.saved_models`
    # registers (this module sits below the methods: KD loads its teacher
    # through it).
    import one_keras.models.layers  # noqa: F401
    from one_keras.utils import validation

    if not os.path.isfile(path):
        raise ValueError(
            "`model` must be a `.keras` file or a training output directory "
            f"holding `{run_layout.MODEL_NAME}` or `{run_layout.TARGET_NAME}`"
            f". Received: model={path!r} (not found)")
    validation.check_keras_file(path)
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds on a bad file.
        raise ValueError(_unreadable_model(path, error)) from error


def _unreadable_model(path, error):
    """The one-line refusal of a `.keras` file Keras could not load."""
    unknown = re.search(r"Could not locate class '([^']+)'", str(error))
    if unknown:  # Its message goes on with the model's whole config.
        return (f"`model` holds the class {unknown.group(1)!r}, which no "
                "imported module registers: load a training model with "
                "`one_keras.methods.saved_models.load_model` (it imports "
                "`one_keras.methods`, which registers the methods' "
                f"classes). Received: model={path!r}")
    first = str(error).splitlines()[0] if str(error) else ""
    if len(first) > 300:
        first = first[:300] + "..."
    return ("`model` could not be read as a Keras model; pass a `.keras` "
            "file or the run directory a training run wrote. Received: "
            f"model={path!r} ({type(error).__name__}: {first})")


def save_keras(model, path):
    """Saves a `.keras` file atomically: a crash never leaves half a file.

    The temporary is `<name>.partial.keras`, which the next run deletes if
    a kill left it behind.

    Args:
        model: `keras.Model`.
        path: str. The `.keras` file to write or replace.

    Raises:
        OSError: the disk lacks the room (checked first) or the save failed;
            `path` is then as it was.
    """
    from one_keras.runs import backup as backup_lib
    temporary = f"{os.path.splitext(path)[0]}.partial.keras"
    backup_lib.check_free_space(os.path.dirname(path) or ".",
                                backup_lib.state_bytes(model))
    with atomic_files.replacing(path, temporary) as temporary:
        model.save(temporary)


def recorded_dtype_policy(settings):
    """The policy a saved run's settings (`config.json`) trained under.

    Args:
        settings: dict. A run's flat settings.

    Returns:
        str, or `None` where an earlier version recorded only
        `mixed_precision=True` (the device's mixed policy, not named).
    """
    if "dtype_policy" in settings:
        return settings["dtype_policy"]
    return None if settings.get("mixed_precision") else "float32"

"""A training run's output directory: its files, resuming it, saving into it.

`one_keras.experiment.run` writes, into `output_dir`: `CONFIG_NAME` (the
settings), `CHECKPOINT_NAME` (every epoch), `BACKUP_NAME/`
(`one_keras.backup`), `LOG_NAME`, `TENSORBOARD_NAME/`, and at the end
`MODEL_NAME` (the training model), `TARGET_NAME` (what to deploy) and
`REPORT_NAME`. `one_keras.run_lock` guards it while a run is in it.
"""

import contextlib
import os
import re
import shutil

from one_keras import backup as backup_lib
from one_keras.json_files import read_json
from one_keras.run_layout import BACKUP_NAME
from one_keras.run_layout import CHECKPOINT_NAME
from one_keras.run_layout import CONFIG_NAME
from one_keras.run_layout import CURVES_NAME
from one_keras.run_layout import LOG_NAME
from one_keras.run_layout import MODEL_NAME
from one_keras.run_layout import REPORT_NAME
from one_keras.run_layout import TARGET_NAME
from one_keras.run_layout import TENSORBOARD_NAME
from one_keras.run_layout import WORKERS_NAME

# Fields that may change between a run and its resumption: how to get the
# data, how much to print, and the learning rate (the fix for a NaN loss).
RESUMABLE_CHANGES = ("verbose", "download", "data_dir", "lr")
# ... and that a rerun of a finished run may give (it trains nothing).
FINISHED_RUN_CHANGES = ("verbose", "download", "data_dir")
# Where the run is, not how it trains (`runs/a/` is `runs/a`), and whether
# to discard the run there.
LOCATION_FIELDS = ("output_dir", "restart")
# Temporaries of a killed save: `save_keras`, `write_json` and older
# versions' `tempfile.mkstemp(suffix=".keras")`.
PARTIAL_FILE = re.compile(r"^(.+\.partial\.keras|.+\.json\.tmp|"
                          r"tmp[a-z0-9_]{8}\.keras)$")


def worker_output_dir(config, strategy):
    """Where this worker writes: `config.output_dir`, or under
    `multi_worker` for a worker other than the chief
    `output_dir/workers/<task type>_<task id>`.

    Args:
        config: `one_keras.run_config.TrainConfig`.
        strategy: the run's `tf.distribute` strategy (or JAX stand-in).

    Returns:
        str.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if config.strategy != "multi_worker" or resolver is None or \
            strategy.extended.should_checkpoint:
        return config.output_dir
    return os.path.join(config.output_dir, WORKERS_NAME,
                        f"{resolver.task_type}_{resolver.task_id}")


def _changed_settings(saved, config, ignored):
    """Fields of `config` that differ from the `saved` dict, except `ignored`.
    """
    current = config.settings()
    return sorted(k for k in current if k not in ignored
                  and k not in LOCATION_FIELDS and k in saved
                  and saved[k] != current[k])


def finished_report(config, output_dir, warn=print):
    """The report of a finished run in `output_dir`, or `None` (also with
    `config.restart`).

    Args:
        config: `one_keras.run_config.TrainConfig`. The run to start.
        output_dir: str. Its output directory.
        warn: callable taking a line: says that the run has finished.

    Returns:
        The report dict, or `None`.

    Raises:
        ValueError: the finished run had other settings, or `report.json`
            is not a report of this package.
    """
    report_path = os.path.join(output_dir, REPORT_NAME)
    if not os.path.exists(report_path):
        return None
    report = read_json(report_path)
    if report is None or not {"config", "target_accuracy"} <= report.keys():
        raise ValueError(
            f"`output_dir` holds a report.json that no finished one_keras "
            f"run wrote (unreadable, or without `config` and "
            f"`target_accuracy`), which a run would overwrite. Move "
            f"{report_path} away or use another --output_dir. Received: "
            f"output_dir={output_dir}")
    if config.restart:
        return None
    changed = _changed_settings(report.get("config", {}), config,
                                FINISHED_RUN_CHANGES)
    if changed:
        raise ValueError(
            f"`output_dir` holds a finished run with other settings "
            f"({', '.join(changed)}); its report is {report_path}. Use "
            f"another --output_dir, --restart to train it again, or delete "
            f"{output_dir}. Received: output_dir={output_dir}")
    warn(f"`output_dir` holds a finished run with these settings; nothing "
         f"to train. Its report is {report_path}.")
    return report


def resumable_changes(config, output_dir, states, num_classes):
    """Recovery settings that differ from the run to resume, `{k: [old, new]}`.

    The run's settings are its `config.json`, else those its newest backup
    recorded (`states`, from `backup.list_states`).

    Args:
        config: `one_keras.run_config.TrainConfig`. The run to start.
        output_dir: str. The unfinished run's output directory.
        states: list. Its backups, as `backup.list_states` returns them.
        num_classes: int. Classes of the data `config` reads.

    Returns:
        A dict: each changed recovery setting but `verbose`, `[old, new]`.

    Raises:
        ValueError: other settings or another number of classes (e.g. a
            `--data_dir` of other classes), or no readable settings.
    """
    recorded = [metadata for _, _, metadata in states if metadata]
    saved = read_json(os.path.join(output_dir, CONFIG_NAME))
    if saved is None:
        saved = next((m["config"] for m in recorded if "config" in m), None)
    if saved is None:
        raise ValueError(unresumable(
            output_dir, "its config.json is unreadable and its backups "
            "record no settings, so they cannot be checked"))
    changed = _changed_settings(saved, config, RESUMABLE_CHANGES)
    if changed:
        raise ValueError(
            f"`output_dir` holds an unfinished run with other settings "
            f"({', '.join(changed)}), which would be resumed; only "
            f"{', '.join(RESUMABLE_CHANGES)} may change. Use another "
            f"--output_dir, --restart to train from epoch 0 over it, or "
            f"delete {output_dir}. Received: output_dir={output_dir}")
    classes = next((m["num_classes"] for m in recorded
                    if "num_classes" in m), num_classes)
    if classes != num_classes:
        raise ValueError(unresumable(
            output_dir, f"it trained on {classes} classes and the data "
            f"(--data_dir={config.data_dir!r}) has {num_classes}"))
    current = config.settings()
    return {k: [saved[k], current[k]] for k in
            _changed_settings(saved, config, ("verbose",))}


def unresumable(output_dir, reason):
    """The one-line refusal of a run whose backups cannot be resumed.

    Args:
        output_dir: str. The run's output directory.
        reason: str. Why its backups cannot be resumed.

    Returns:
        str. The message, which names the ways out.
    """
    return (f"`output_dir` holds an unfinished run that cannot be resumed "
            f"with these settings: {reason}. Rerun with its settings, use "
            f"another --output_dir, or pass --restart to train from epoch 0 "
            f"over it. Received: output_dir={output_dir}")


def discard_run(output_dir):
    """Deletes what an earlier run wrote to `output_dir` (`--restart`).

    Args:
        output_dir: str. The run's output directory. Its `run.lock`,
            `workers/` and any file not of the run's layout stay.
    """
    for name in (BACKUP_NAME, TENSORBOARD_NAME):
        shutil.rmtree(os.path.join(output_dir, name), ignore_errors=True)
    for name in (CONFIG_NAME, CHECKPOINT_NAME, LOG_NAME, REPORT_NAME,
                 MODEL_NAME, TARGET_NAME, CURVES_NAME):
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(output_dir, name))


def remove_partial_files(output_dir):
    """Deletes the temporaries that a killed save left in `output_dir`.

    Args:
        output_dir: str. The run's output directory (and its `backup/`):
            files named as `PARTIAL_FILE` or `backup.PARTIAL` go.
    """
    for directory in (output_dir, os.path.join(output_dir, BACKUP_NAME)):
        if not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            if PARTIAL_FILE.match(name) or name == backup_lib.PARTIAL:
                os.remove(os.path.join(directory, name))


def trim_log(path, epochs):
    """Keeps the header and the rows of the first `epochs` epochs of the
    CSV log `path`: the rows of epochs that a resume trains again go.

    Args:
        path: str. The run's `log.csv`; nothing happens when it is missing.
        epochs: int. The epochs whose rows stay.
    """
    if not os.path.exists(path):
        return
    with open(path) as handle:
        lines = handle.readlines()
    kept = lines[:1] + [line for line in lines[1:]
                        if line.split(",", 1)[0].strip().isdigit()
                        and int(line.split(",", 1)[0]) < epochs]
    if kept != lines:
        with open(f"{path}.tmp", "w") as handle:
            handle.writelines(kept)
        os.replace(f"{path}.tmp", path)


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
    temporary = f"{os.path.splitext(path)[0]}.partial.keras"
    backup_lib.check_free_space(os.path.dirname(path) or ".",
                                backup_lib.state_bytes(model))
    try:
        model.save(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)

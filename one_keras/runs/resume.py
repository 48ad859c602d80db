"""What may resume, and from what: the checks of a rerun in a run directory.

A rerun into a run directory (`one_keras.runs.RunDirectory`) either finds
a finished run (`finished_report`: its report, when the settings are the
same), or resumes an unfinished one from its backups
(`resumable_changes`: only the recovery settings `RESUMABLE_CHANGES` may
change, and never the classes, the Keras backend or the dtype policy), or
is refused in one line naming the ways out (`unresumable`).
"""

import os

from one_keras.runs.state import ResumeState


# Fields that may change between a run and its resumption: how to get the
# data, how much to print, and the learning rate (the fix for a NaN loss).
RESUMABLE_CHANGES = ("verbose", "download", "data_dir", "lr")
# ... and that a rerun of a finished run may give (it trains nothing).
FINISHED_RUN_CHANGES = ("verbose", "download", "data_dir")
# Where the run is, not how it trains (`runs/a/` is `runs/a`), and whether
# to discard the run there.
LOCATION_FIELDS = ("output_dir", "restart")


def finished_report(run_dir, config, warn=print):
    """The report of a finished run in `run_dir`, or `None` (also with
    `config.restart`).

    Args:
        run_dir: `RunDirectory`. Where the run is to start.
        config: `one_keras.training.train_config.TrainConfig`. The run to start.
        warn: callable taking a line: says that the run has finished.

    Returns:
        The report dict, or `None`.

    Raises:
        ValueError: the finished run had other settings, or
            `report.json` is not a report of this package.
    """
    if not os.path.exists(run_dir.report_path):
        return None
    report = run_dir.read_report()
    if report is None or not {"config",
                              "target_accuracy"} <= report.keys():
        raise ValueError(
            f"`output_dir` holds a report.json that no finished "
            f"one_keras run wrote (unreadable, or without `config` and "
            f"`target_accuracy`), which a run would overwrite. Move "
            f"{run_dir.report_path} away or use another --output_dir. "
            f"Received: output_dir={run_dir.path}")
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
            f"output_dir={run_dir.path}")
    changed = _changed_settings(report.get("config", {}), config,
                                FINISHED_RUN_CHANGES)
    if changed:
        raise ValueError(
            f"`output_dir` holds a finished run with other settings "
            f"({', '.join(changed)}); its report is {run_dir.report_path}. "
            f"Use another --output_dir, --restart to train it again, or "
            f"delete {run_dir.path}. Received: output_dir={run_dir.path}")
    warn(f"`output_dir` holds a finished run with these settings; "
         f"nothing to train. Its report is {run_dir.report_path}.")
    return report


def resumable_changes(run_dir, config, states, num_classes,
                      backend=None):
    """Recovery settings that differ from the run to resume (in
    `run_dir`), `{k: [old, new]}`.

    The run's settings are its `config.json`, else those its newest
    backup recorded (`states`, from `RunDirectory.backup_states`).

    Args:
        run_dir: `RunDirectory`. The run to resume.
        config: `one_keras.training.train_config.TrainConfig`. The run to start.
        states: list. Its backups, as `RunDirectory.backup_states`
            returns them.
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
        raise ValueError(unresumable(
            run_dir,
            f"it trained on the Keras backend {trained_on!r} and this "
            f"process runs {backend!r}, whose input pipeline and "
            f"numerics differ (set KERAS_BACKEND={trained_on} to "
            f"resume it)"))
    saved = run_dir.read_config()
    if saved is None:
        saved = next((s.config for s in recorded if s.config), None)
    if saved is None:
        raise ValueError(unresumable(
            run_dir,
            "its config.json is unreadable and its backups record no "
            "settings, so they cannot be checked"))
    trained_under = recorded_dtype_policy(saved)
    if trained_under is not None and \
            trained_under != config.dtype_policy:
        # Its weights and optimizer state follow another arithmetic: the
        # resumed run would match no uninterrupted run.
        raise ValueError(unresumable(
            run_dir,
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
            f"delete {run_dir.path}. Received: output_dir={run_dir.path}")
    classes = next((s.num_classes for s in recorded
                    if s.num_classes is not None), num_classes)
    if classes != num_classes:
        raise ValueError(unresumable(
            run_dir,
            f"it trained on {classes} classes and the data "
            f"(--data_dir={config.data_dir!r}) has {num_classes}"))
    current = config.settings()
    return {k: [saved[k], current[k]] for k in
            _changed_settings(saved, config, ("verbose",))}


def unresumable(run_dir, reason):
    """The one-line refusal of a run whose backups cannot be resumed.

    Args:
        run_dir: `RunDirectory`. The run.
        reason: str. Why its backups cannot be resumed.

    Returns:
        str. The message, which names the ways out.
    """
    return (f"`output_dir` holds an unfinished run that cannot be "
            f"resumed with these settings: {reason}. Rerun with its "
            f"settings, use another --output_dir, or pass --restart to "
            f"train from epoch 0 over it. Received: "
            f"output_dir={run_dir.path}")


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

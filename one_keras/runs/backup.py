"""Per-epoch training states that survive a kill at any instant.

A state is `backup_dir/epoch-NNNNN.weights.h5` (model and optimizer
variables) with its `epoch-NNNNN.json` (epoch and run metadata). The JSON is
written first and the weights file is renamed into place last, both through
a temporary file, so a killed save leaves only whole states (and a temporary
that the next save replaces). The newest `keep` states are kept: when the
newest cannot be read, the one before it is restored. The JSON records the
shape of every variable: a state of another model is refused, never
skipped (skipping it would train from epoch 0 over the run's progress).
"""

import errno
import os
import re
import shutil

import keras
import numpy as np

from one_keras.utils.json_files import read_json
from one_keras.utils.json_files import write_json


STATE = re.compile(r"^epoch-(\d+)\.weights\.h5$")
METADATA = re.compile(r"^epoch-(\d+)\.json$")
PARTIAL = "partial.weights.h5"
LEGACY_WEIGHTS = "latest.weights.h5"  # keras.callbacks.BackupAndRestore.
LEGACY_METADATA = "training_metadata.json"
# Free space kept beyond a file's expected size.
MARGIN_BYTES = 16 << 20


class IncompatibleBackupError(ValueError):
    """A state holds another model than the one to restore it into."""


class EpochBackup(keras.callbacks.Callback):
    """Backs up the training state after every epoch, atomically.

    Args:
        backup_dir: str. Directory of the states.
        metadata: callable or `None`. `metadata(epoch)` returns a dict stored
            with the state of `epoch` (the number of finished epochs).
        should_save: callable or `None`. The epoch's state is skipped when
            `should_save()` is false (e.g. the loss stopped being finite).
        keep: int. Newest states kept. Defaults to `2`.
    """

    def __init__(self, backup_dir, metadata=None, should_save=None, keep=2):
        super().__init__()
        self.backup_dir = backup_dir
        self.metadata = metadata
        self.should_save = should_save
        self.keep = keep

    def on_epoch_end(self, epoch, logs=None):
        if self.should_save is not None and not self.should_save():
            return
        metadata = self.metadata(epoch + 1) if self.metadata else {}
        save_state(self.model, self.backup_dir, epoch + 1, metadata,
                   keep=self.keep)


def save_state(model, backup_dir, epoch, metadata, keep=2):
    """Writes the state after `epoch` epochs; a kill never leaves half of it.

    Args:
        model: `keras.Model` with its optimizer.
        backup_dir: str. Directory of the states.
        epoch: int. Number of finished epochs.
        metadata: dict. JSON-serialisable run metadata stored with it.
        keep: int. Newest states kept; older ones are deleted.
    """
    os.makedirs(backup_dir, exist_ok=True)
    # HDF5 can crash the process (not raise) when the disk fills mid-write.
    newest = list_states(backup_dir)[:1]
    needed = max([state_bytes(model)] +
                 [os.path.getsize(weights) for _, weights, _ in newest])
    check_free_space(backup_dir, needed)
    stem = os.path.join(backup_dir, f"epoch-{epoch:05d}")
    write_json(f"{stem}.json", {**metadata, "epoch": epoch,
                                "shapes": _shapes(_variables(model))})
    partial = os.path.join(backup_dir, PARTIAL)
    _remove(partial)  # A killed save's, or a link: never written through.
    try:
        model.save_weights(partial, overwrite=True)
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
    except BaseException as error:
        _remove(partial)
        if isinstance(error, Exception) and not isinstance(error, OSError):
            check_free_space(backup_dir, needed)  # h5py: a full disk?
        raise
    os.replace(partial, f"{stem}.weights.h5")
    states = [state for state in list_states(backup_dir)
              if STATE.match(os.path.basename(state[1]))]
    for old_epoch, weights, _ in states[keep:]:
        os.remove(weights)
        _remove(os.path.join(backup_dir, f"epoch-{old_epoch:05d}.json"))


def is_backup_file(name):
    """Whether `name` is a file `save_state` (or an older version's
    `BackupAndRestore`) writes in a backup folder."""
    return bool(STATE.match(name) or METADATA.match(name)) or name in (
        PARTIAL, LEGACY_WEIGHTS, LEGACY_METADATA) or name.endswith(
        ".json.tmp")


def state_bytes(model):
    """Bytes of `model`'s variables and optimizer state: a file's size."""
    return int(sum(np.prod(variable.shape) * np.dtype(variable.dtype).itemsize
                   for variable in _variables(model)))


def check_free_space(directory, needed, file_bytes=None):
    """Raises the OS's own "No space left" (or "File too large") error
    before a write that would fill the disk (or pass the process's file
    size limit, `ulimit -f`).

    HDF5 can crash the process, not raise, when a write fails midway.

    Args:
        directory: str. Where the file goes (it exists).
        needed: int. Expected bytes of the file(s); `MARGIN_BYTES` and 10%
            are added.
        file_bytes: int or `None`. Expected bytes of the largest one file
            (`None`: `needed`), checked against the file size limit.

    Raises:
        OSError: `errno.ENOSPC`, naming the free and needed space, or
            `errno.EFBIG`, naming the limit.
    """
    check_file_size_limit(needed if file_bytes is None else file_bytes)
    free = shutil.disk_usage(directory).free
    wanted = int(needed * 1.1) + MARGIN_BYTES
    if free < wanted:
        raise OSError(
            errno.ENOSPC,
            f"{os.strerror(errno.ENOSPC)}: {directory} has "
            f"{free / 2**20:.1f} MiB free and the next save needs about "
            f"{wanted / 2**20:.1f} MiB. Free some space and rerun the same "
            "command: it resumes from the last backup")


def check_file_size_limit(file_bytes):
    """Raises `OSError(errno.EFBIG)` unless a file of about `file_bytes`
    (plus 10% and 1 MiB) fits the process's file size limit
    (`RLIMIT_FSIZE`, `ulimit -f`).

    Args:
        file_bytes: int. Expected bytes of the file.
    """
    try:
        import resource
    except ImportError:  # Windows: no such limit.
        return
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    wanted = int(file_bytes * 1.1) + (1 << 20)  # With the format's own.
    if limit != resource.RLIM_INFINITY and limit < wanted:
        raise OSError(
            errno.EFBIG,
            f"{os.strerror(errno.EFBIG)}: this process may write files of "
            f"{limit / 2**20:.2f} MiB at most (ulimit -f) and the next save "
            f"needs about {wanted / 2**20:.1f} MiB. Raise the limit (ulimit "
            "-f unlimited) and rerun the same command")


def list_states(backup_dir):
    """The states in `backup_dir`, newest first.

    Returns:
        A list of `(epoch, weights_path, metadata)`; `metadata` is `None`
        when its JSON is missing or unreadable. A backup of
        `keras.callbacks.BackupAndRestore` (older runs) comes last.
    """
    if not os.path.isdir(backup_dir):
        return []
    states = []
    for name in os.listdir(backup_dir):
        match = STATE.match(name)
        if match:
            epoch = int(match.group(1))
            states.append((epoch, os.path.join(backup_dir, name),
                           read_json(os.path.join(
                               backup_dir, f"epoch-{epoch:05d}.json"))))
    states.sort(key=lambda state: state[0], reverse=True)
    legacy = os.path.join(backup_dir, LEGACY_WEIGHTS)
    metadata = read_json(os.path.join(backup_dir, LEGACY_METADATA))
    if os.path.exists(legacy) and metadata and "epoch" in metadata:
        states.append((int(metadata["epoch"]), legacy, metadata))
    return states


def restore_newest(model, backup_dir, warn=print, max_epoch=None):
    """Loads the newest readable state with finite values into `model`.

    States that fail to load, lack their metadata or hold NaN or infinite
    values are skipped with one warning line. When none is usable, the
    model keeps the values it had and the epoch is 0.

    Args:
        model: built `keras.Model`, compiled with its optimizer.
        backup_dir: str. Directory of the states.
        warn: callable. Receives the warning line.
        max_epoch: int or `None`. Only states of at most this many epochs.

    Returns:
        `(epoch, metadata)` of the restored state, or `(0, {})`.

    Raises:
        IncompatibleBackupError: a state holds variables of other shapes
            or number than `model` (e.g. another number of classes).
    """
    states = [state for state in list_states(backup_dir)
              if max_epoch is None or state[0] <= max_epoch]
    if not states:
        return 0, {}
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    variables = _variables(model)
    initial = [variable.numpy() for variable in variables]
    skipped = []
    for epoch, weights, metadata in states:
        name = os.path.relpath(weights, backup_dir)
        if metadata is None:
            skipped.append(f"{name} (its metadata is missing)")
            continue
        if "shapes" in metadata:
            difference = _difference(metadata["shapes"], variables)
            if difference:
                raise IncompatibleBackupError(
                    f"{name} holds another model: {difference}")
        try:
            model.load_weights(weights)
        except ValueError as error:  # Keras: variables that do not fit.
            if "shapes" in metadata:  # Fits by its shapes: unreadable.
                skipped.append(f"{name} (ValueError: "
                               f"{str(error).splitlines()[0][:80]})")
                continue
            raise IncompatibleBackupError(
                f"{name} holds another model: "
                f"{str(error).splitlines()[0][:200]}") from None
        except Exception as error:  # h5py raises OSError, KeyError, ...
            skipped.append(f"{name} ({type(error).__name__}: "
                           f"{str(error).splitlines()[0][:80]})")
            continue
        if not all(np.all(np.isfinite(variable.numpy()))
                   for variable in variables):
            skipped.append(f"{name} (NaN or infinite values)")
            continue
        if skipped:
            warn(f"warning: skipped unusable backups {'; '.join(skipped)}; "
                 f"resuming from {name}, after epoch {epoch}.")
        return epoch, metadata
    for variable, value in zip(variables, initial):
        variable.assign(value)
    warn(f"warning: no usable backup in {backup_dir} "
         f"({'; '.join(skipped)}); training starts from epoch 0.")
    return 0, {}


def _shapes(variables):
    return [list(variable.shape) for variable in variables]


def _difference(shapes, variables):
    """How the recorded `shapes` differ from `variables`'; "" if they fit."""
    if len(shapes) != len(variables):
        return (f"{len(shapes)} variables (model and optimizer), the model "
                f"to resume has {len(variables)}")
    for shape, variable in zip(shapes, variables):
        if list(shape) != list(variable.shape):
            return (f"`{variable.path}` has shape {tuple(shape)} there and "
                    f"{tuple(variable.shape)} in the model to resume")
    return ""


def _variables(model):
    variables = list(model.weights)
    optimizer = getattr(model, "optimizer", None)  # None: not compiled.
    if optimizer is not None:
        variables += [v for v in optimizer.variables
                      if v.dtype != "string"]
    return variables


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass

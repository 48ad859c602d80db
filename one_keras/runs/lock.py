"""A lock file that keeps a second run out of an output directory in use."""

import contextlib
import json
import os
import socket
import time

from one_keras.runs.layout import LOCK_NAME

try:
    import fcntl
except ImportError:  # Windows: no flock; take-overs are then not atomic.
    fcntl = None

GUARD_NAME = ".run.lock.guard"  # Only where a directory cannot be locked.


@contextlib.contextmanager
def locked(directory, warn=print):
    """Holds `directory/run.lock` (owner's pid and host) while in the block.

    A lock whose owner runs on this host and is dead (a killed run) is taken
    over with one warning line. Takers of one directory go one at a time
    (an flock on the directory), so of many that find the same dead lock
    together exactly one takes it over; the others are refused.

    Args:
        directory: str. The output directory (created if missing).
        warn: callable. Receives the warning line.

    Raises:
        ValueError: another live run, or a run on another host, holds it.
    """
    path = acquire(directory, warn=warn)
    try:
        yield path
    finally:
        release(path)


def acquire(directory, warn=print):
    """Takes the lock of `directory`; see `locked`.

    Returns:
        The lock file's path.
    """
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, LOCK_NAME)
    owner = {"pid": os.getpid(), "host": socket.gethostname(),
             "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    temporary = f"{path}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.remove(temporary)  # A link there is never written through.
    with open(temporary, "x") as handle:
        json.dump(owner, handle)
    try:
        with _one_taker_at_a_time(directory):
            return _take(directory, path, temporary, warn)
    finally:
        os.remove(temporary)


def _take(directory, path, temporary, warn):
    """Creates `path` from `temporary`, or takes over a dead owner's lock;
    run by one taker of `directory` at a time."""
    for _ in range(3):
        if _create(temporary, path):
            return path
        holder = _read(path)
        if holder == {}:
            continue  # Released meanwhile.
        if holder is not None and not owner_is_gone(holder):
            raise ValueError(
                f"`output_dir` is in use by another run (pid "
                f"{holder.get('pid')} on {holder.get('host')}, started "
                f"{holder.get('started')}). Wait for it, use another "
                f"--output_dir, or delete {path} if that run is gone. "
                f"Received: output_dir={directory}")
        warn(f"warning: taking over the lock of a run that is gone "
             f"({path}: {holder or 'unreadable'}).")
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
    raise ValueError(f"Could not lock `output_dir`: {path} keeps "
                     f"reappearing. Received: output_dir={directory}")


def exclusive(directory):
    """Holds an exclusive lock of `directory` while in the block: writers
    that read, merge and replace a file there (an export report) go one at
    a time. It does not keep a run out (that is `locked`), and it is held
    only for the moment of one update.

    Args:
        directory: str. An existing directory.
    """
    return _one_taker_at_a_time(directory)


@contextlib.contextmanager
def _one_taker_at_a_time(directory):
    """Holds an exclusive flock on `directory` (or, where a directory cannot
    be locked, e.g. flock emulated on NFS, on `directory/.run.lock.guard`):
    reading, checking and removing a dead lock is then one step."""
    if fcntl is None:
        yield
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
    except OSError:
        os.close(descriptor)
        descriptor = os.open(os.path.join(directory, GUARD_NAME),
                             os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # Again: a no-op if held.
        yield
    finally:
        os.close(descriptor)  # Closing releases the flock.


def _create(temporary, path):
    """Puts `temporary` at `path` unless `path` exists; atomic."""
    try:
        os.link(temporary, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # No hard links here: exclusive create instead.
        pass
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    with open(temporary) as source, os.fdopen(descriptor, "w") as target:
        target.write(source.read())
    return True


def release(path):
    """Removes the lock file at `path` if this process holds it."""
    holder = _read(path)
    if holder and holder.get("pid") == os.getpid() and \
            holder.get("host") == socket.gethostname():
        os.remove(path)


def _read(path):
    try:
        with open(path) as handle:
            holder = json.load(handle)
    except FileNotFoundError:
        return {}  # Released meanwhile: free.
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def owner_is_gone(holder):
    """Whether a lock's (or a staging folder's) owner is known to be gone.

    Args:
        holder: dict or `None`. The owner's `pid` and `host`.

    Returns:
        `True` when `holder` is empty or its process is dead on this host;
        `False` while it lives, or runs on another host (cannot tell).
    """
    if not holder:
        return True
    if holder.get("host") != socket.gethostname():
        return False  # Cannot tell; the user decides.
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return True
    except (KeyError, TypeError, ValueError):
        return True
    except PermissionError:
        return False
    return False

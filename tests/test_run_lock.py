"""The output-directory lock: one run at a time, stale locks taken over."""

import json
import os
import socket
import subprocess
import sys

import pytest

from one_keras import run_lock


def _hold(directory, pid, host=None):
    (directory / run_lock.LOCK_NAME).write_text(json.dumps(
        {"pid": pid, "host": host or socket.gethostname()}))


def test_lock_is_held_in_the_block_and_released_after(tmp_path):
    with run_lock.locked(str(tmp_path / "run")) as path:
        holder = json.loads(open(path).read())
        assert holder["pid"] == os.getpid()
        with pytest.raises(ValueError, match="in use by another run"):
            run_lock.acquire(str(tmp_path / "run"))
    assert os.listdir(tmp_path / "run") == []


@pytest.mark.parametrize("host", [None, "another-host"])
def test_live_or_remote_owner_is_refused_in_one_line(tmp_path, host):
    _hold(tmp_path, os.getppid(), host)
    with pytest.raises(ValueError) as error:
        run_lock.acquire(str(tmp_path))
    assert "\n" not in str(error.value)
    assert f"delete {tmp_path / run_lock.LOCK_NAME}" in str(error.value)


@pytest.mark.parametrize("content", ["dead", "garbage"])
def test_stale_lock_is_taken_over_with_a_warning(tmp_path, content):
    if content == "dead":
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        _hold(tmp_path, dead.pid)
    else:
        (tmp_path / run_lock.LOCK_NAME).write_text("{")
    warnings = []
    with run_lock.locked(str(tmp_path), warn=warnings.append):
        pass
    assert len(warnings) == 1 and "taking over" in warnings[0]
    assert not (tmp_path / run_lock.LOCK_NAME).exists()

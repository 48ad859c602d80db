"""The output-directory lock: one run at a time, stale locks taken over."""

import json
import multiprocessing
import os
import pathlib
import socket
import subprocess
import sys
import time

import pytest

from one_keras.runs import layout as run_layout
from one_keras.runs import lock as run_lock


def _hold(directory, pid, host=None):
    (directory / run_layout.LOCK_NAME).write_text(json.dumps(
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
    assert f"delete {tmp_path / run_layout.LOCK_NAME}" in str(error.value)


@pytest.mark.parametrize("content", ["dead", "garbage"])
def test_stale_lock_is_taken_over_with_a_warning(tmp_path, content):
    if content == "dead":
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        _hold(tmp_path, dead.pid)
    else:
        (tmp_path / run_layout.LOCK_NAME).write_text("{")
    warnings = []
    with run_lock.locked(str(tmp_path), warn=warnings.append):
        pass
    assert len(warnings) == 1 and "taking over" in warnings[0]
    assert not (tmp_path / run_layout.LOCK_NAME).exists()


def _contend(directories, start, attempted, wins):
    """One of the racing processes: takes each directory's lock (or is
    refused), holds it until every process has tried, then lets it go."""
    for trial, directory in enumerate(directories):
        start.wait()
        path = None
        try:
            # A warning as slow as a busy terminal's, between the check
            # and the take-over: where a second taker used to slip in.
            path = run_lock.acquire(directory,
                                    warn=lambda line: time.sleep(0.002))
        except ValueError:
            pass
        if path is not None:
            with wins.get_lock():
                wins[trial] += 1
        attempted.wait()
        if path is not None:
            run_lock.release(path)


def test_racing_takeovers_of_a_stale_lock_leave_one_holder(tmp_path):
    """12 processes take over one stale lock together, 20 times: each time
    exactly one of them holds it (reading, checking and removing the stale
    lock used to be three steps, and two holders won 8 times in 40)."""
    context = multiprocessing.get_context("fork")  # No re-import: fast.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    processes, trials = 12, 20
    directories = [str(tmp_path / f"trial{t}") for t in range(trials)]
    for directory in directories:
        os.makedirs(directory)
        _hold(pathlib.Path(directory), dead.pid)
    start = context.Barrier(processes + 1)
    attempted = context.Barrier(processes + 1)
    wins = context.Array("i", trials)
    racers = [context.Process(target=_contend,
                              args=(directories, start, attempted, wins))
              for _ in range(processes)]
    for racer in racers:
        racer.start()
    try:
        for _ in range(trials):
            start.wait(timeout=30)
            attempted.wait(timeout=30)
    finally:
        for racer in racers:
            racer.join(timeout=30)
    assert [racer.exitcode for racer in racers] == [0] * processes
    assert list(wins) == [1] * trials

"""A tool stopped by Ctrl-C or SIGTERM ends in one line, 130 or 143."""

import pathlib
import signal
import sys

import pytest
from absl.testing import flagsaver

from one_keras.cli import console
from tests.cli_tools import loaded_tool


ROOT = pathlib.Path(__file__).resolve().parents[1]


def _stop(error):
    def main(argv):
        del argv
        raise error
    return main


@pytest.mark.parametrize("error, code, line", [
    (KeyboardInterrupt(), 130, "tool.py: interrupted"),
    (console.Terminated(128 + signal.SIGTERM), 143, "tool.py: terminated"),
])
def test_a_stopped_tool_says_one_line(capsys, monkeypatch, error, code,
                                      line):
    monkeypatch.setattr(sys, "argv", ["tool.py"])
    with pytest.raises(SystemExit) as exit_info:
        console.guarded(_stop(error))(["tool.py"])
    assert exit_info.value.code == code
    assert capsys.readouterr().err.strip().splitlines() == [line]


def test_sigterm_raises_terminated_so_cleanups_run():
    previous = signal.signal(signal.SIGTERM, console._terminate)
    cleaned = []
    try:
        with pytest.raises(console.Terminated) as exit_info:
            try:
                signal.raise_signal(signal.SIGTERM)
            finally:
                cleaned.append(True)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert exit_info.value.code == 143 and cleaned == [True]


def test_ctrl_c_in_evaluate_is_one_line(capsys, monkeypatch, tmp_path):
    from one_keras.methods import saved_models

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(saved_models, "load_model", interrupted)
    monkeypatch.setattr(sys, "argv", ["evaluate.py"])
    with loaded_tool(ROOT / "one_keras" / "cli" / "evaluate.py",
                     "evaluate_tool") as tool, \
            flagsaver.flagsaver(model=str(tmp_path)), \
            pytest.raises(SystemExit) as exit_info:
        console.guarded(tool.main)(["evaluate.py"])
    assert exit_info.value.code == 130
    assert capsys.readouterr().err.strip().splitlines() == [
        "evaluate.py: interrupted"]


# Ctrl-C raises KeyboardInterrupt even where this test's process was started
# with SIGINT ignored (a background job, which the tool would inherit and
# rightly keep), as in a terminal.
_SLOW_CLEANUP_TOOL = """
import os, pathlib, signal, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from one_keras.cli import console

def main(argv):
    try:
        print("ready", flush=True)
        time.sleep(60)
    finally:
        print("cleaning", flush=True)
        time.sleep(1.5)  # The second Ctrl-C lands here.
        pathlib.Path(os.environ["MARKER"]).write_text("released")

console.run(main, backend=False)
"""


def test_a_second_ctrl_c_lets_the_cleanups_finish_and_exits_130(tmp_path):
    import os
    import subprocess
    import time

    marker = tmp_path / "released"
    tool = subprocess.Popen(
        [sys.executable, "-c", _SLOW_CLEANUP_TOOL],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MARKER": str(marker)})
    try:
        assert tool.stdout.readline().strip() == "ready"
        tool.send_signal(signal.SIGINT)
        assert tool.stdout.readline().strip() == "cleaning"
        time.sleep(0.2)
        tool.send_signal(signal.SIGINT)
        _, err = tool.communicate(timeout=30)
    finally:
        if tool.poll() is None:
            tool.kill()
    assert tool.returncode == 130, err
    assert marker.read_text() == "released"
    assert err.strip().splitlines()[-1].endswith(": interrupted")

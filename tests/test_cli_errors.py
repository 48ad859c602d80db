"""Every command line tool ends a failure with one line, `prog: error: ...`.
"""

import subprocess
import sys

import pytest
from absl import app
from absl import flags
from absl.testing import flagsaver

from one_keras.cli import console
from one_keras.cli import train  # noqa: F401  (defines the training flags)


def _one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("argv, expected", [
    (["--epochs=0"], "flag --epochs=0: 0 is not a positive integer"),
    (["--no_such_flag"], "no_such_flag"),
    (["stray"], "unexpected argument 'stray'"),
])
def test_flag_errors_are_one_line(capsys, monkeypatch, argv, expected):
    monkeypatch.setattr(sys, "argv", ["train.py"])
    with flagsaver.flagsaver(), pytest.raises(SystemExit) as exit_info:
        console.parse_flags(["train.py", *argv])
    assert exit_info.value.code == 1
    line = _one_error_line(capsys)
    assert line.startswith("train.py: error: ") and expected in line


def test_help_exits_zero(capsys):
    with flagsaver.flagsaver(), pytest.raises(SystemExit) as exit_info:
        # `app.define_help_flags()` defines them once a process: a test
        # that ran `app.run` inside a flagsaver has removed them again.
        for flag in (app.HelpFlag(), app.HelpshortFlag(),
                     app.HelpfullFlag()):
            if flag.name not in flags.FLAGS:
                flags.DEFINE_flag(flag)
        console.parse_flags(["train.py", "--helpshort"])
    assert exit_info.value.code == 0
    assert "--helpfull" in capsys.readouterr().out


def test_os_errors_are_one_line(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["tool.py"])

    def main(argv):
        raise PermissionError(13, "Permission denied", "/read-only/x")

    with flagsaver.flagsaver(), pytest.raises(SystemExit) as exit_info:
        console.run(main)
    assert exit_info.value.code == 1
    assert _one_error_line(capsys) == (
        "tool.py: error: [Errno 13] Permission denied: '/read-only/x'")


@pytest.mark.slow  # Two TensorFlow processes.
def test_tools_report_os_errors_in_one_line(tmp_path):
    """The real tools, in subprocesses: an output path that cannot exist."""
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    runs = {
        "evaluate.py": ["-m", "one_keras.evaluate", "--model=/none.keras",
                        f"--output={tmp_path / 'missing' / 'r.json'}"],
        "train.py": ["-m", "one_keras.train", "--epochs=1", "--depth=8",
                     "--width=4", f"--output_dir={blocker / 'run'}"],
    }
    for prog, args in runs.items():
        result = subprocess.run([sys.executable, *args], capture_output=True,
                                text=True, timeout=300)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1, result.stderr[-2000:]
        assert lines[-1].startswith(f"{prog}: error: "), lines[-5:]
        assert "Traceback" not in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["a_file"]


@pytest.mark.parametrize("make, expected", [
    (lambda tmp: "/dev/zero", "is not a regular file"),
    (lambda tmp: str(tmp), "is not a regular file"),
    (lambda tmp: _write(tmp / "big.flags", b"#" * (2 << 20)),
     "more than a flagfile's"),
    (lambda tmp: _write(tmp / "bin.flags", b"--epochs=1\n\0\xff"),
     "is not a text file"),
    # A flagfile naming /dev/zero, as `--flagfile /dev/zero` does.
    (lambda tmp: _write(tmp / "outer.flags", b"--flagfile=/dev/zero\n"),
     "/dev/zero is not a regular file"),
])
def test_a_flagfile_that_is_no_text_file_is_refused(
        capsys, monkeypatch, tmp_path, make, expected):
    """Issue 37, finding 13: `--flagfile=/dev/zero` hung, eating memory."""
    monkeypatch.setattr(sys, "argv", ["train.py"])
    path = make(tmp_path)
    for argv in ([f"--flagfile={path}"], ["--flagfile", path]):
        with flagsaver.flagsaver(), pytest.raises(SystemExit) as exit_info:
            console.parse_flags(["train.py", *argv])
        assert exit_info.value.code == 1
        line = _one_error_line(capsys)
        assert "`flagfile` must be a text file" in line and expected in line


def test_a_text_flagfile_nesting_another_is_read(tmp_path):
    inner = _write(tmp_path / "inner.flags", b"--epochs=3\n")
    outer = _write(tmp_path / "outer.flags",
                   f"# a comment\n--flagfile={inner}\n".encode())
    with flagsaver.flagsaver():
        console.parse_flags(["train.py", f"--flagfile={outer}"])
        assert flags.FLAGS.epochs == 3


def _write(path, data):
    path.write_bytes(data)
    return str(path)

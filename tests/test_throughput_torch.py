"""benchmarks/throughput.py finds PyTorch, or says how to add it, at once.

No benchmark runs here: a bad `--torch_python` must stop the script before
the TensorFlow benchmarks start.
"""

import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "throughput.py"


def fake_python(tmp_path, name, script):
    """An executable that stands in for a Python interpreter."""
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return str(path)


def find_torch_python(requested):
    """Runs `find_torch_python(requested)` of the script in a fresh process.

    (Importing the script here would define its flags in this process.)
    """
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); "
            "import throughput; "
            "print(json.dumps(throughput.find_torch_python("
            "json.loads(sys.argv[2]))))")
    result = subprocess.run(
        [sys.executable, "-c", code, str(SCRIPT.parent),
         json.dumps(requested)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    *printed, found = result.stdout.strip().splitlines()
    return json.loads(found), printed


@pytest.mark.parametrize("interpreter,message", [
    ("PYTHON_WITH_TORCH", "is not an executable program"),
    ("no_torch", "cannot import torch"),
])
def test_bad_torch_python_is_one_line_before_any_benchmark(
        tmp_path, interpreter, message):
    if interpreter == "no_torch":
        interpreter = fake_python(tmp_path, "python", "exit 1")
    output = tmp_path / "results"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), f"--torch_python={interpreter}",
         f"--output_dir={output}"], capture_output=True, text=True,
        timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"throughput.py: error: --torch_python={interpreter} {message}")
    assert "leave the flag out" in lines[0]
    assert not output.exists()
    assert result.stdout == ""


def test_a_python_with_torch_is_used(tmp_path):
    python = fake_python(tmp_path, "python", "echo 2.5.0+cpu")
    assert find_torch_python(python) == (python, [])


def test_default_is_this_python_when_it_has_torch():
    found, printed = find_torch_python(None)
    if importlib.util.find_spec("torch") is not None:
        assert (found, printed) == (sys.executable, [])
    else:
        assert found is None
        assert len(printed) == 1
        assert "benchmarking TensorFlow only" in printed[0]
        assert "--torch_python=" in printed[0]

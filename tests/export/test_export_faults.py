"""Issue 32's export findings: mixed precision, JAX backend, concurrent
reports, killed and interrupted exports."""

import json
import multiprocessing
import os
import pathlib
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from one_keras.export import export_model
from one_keras.export import formats
from one_keras.export.exporting import float32_model
from one_keras.export.exporting import remove_stale_staging
from one_keras.runs import RunDirectory
from tests.export.conftest import digits_normalization
from tests.export.conftest import tiny_model


ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bfloat16_model(digits_model):
    """The trained digits model, computing in bfloat16 (a
    `--mixed_precision` run on CPU)."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = tiny_model(normalization=digits_normalization())
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.set_weights(digits_model.get_weights())
    assert model.network.get_layer("branch0_logits").compute_dtype == \
        "bfloat16"
    return model


def test_float32_model_computes_in_float32_with_the_same_weights(
        bfloat16_model):
    from one_keras.export import serving

    mixed = serving.build_serving_model(bfloat16_model)
    model = float32_model(mixed)
    dtypes = {layer.compute_dtype for layer in model._flatten_layers()}
    assert dtypes == {"float32"}
    for a, b in zip(model.get_weights(), mixed.get_weights()):
        np.testing.assert_array_equal(a, b)
    images = np.random.default_rng(0).uniform(0, 255, (8, 8, 8, 1))
    np.testing.assert_allclose(
        model.predict(images, verbose=0)["probabilities"],
        mixed.predict(images, verbose=0)["probabilities"], atol=0.05)
    plain = float32_model(model)
    assert plain is model  # Already float32: left as it is.


@pytest.mark.parametrize("format,quantize", [
    ("onnx", "none"), ("tflite", "none"), ("tflite", "int8")])
def test_mixed_precision_run_exports_in_float32(bfloat16_model, tmp_path,
                                                format, quantize):
    path = tmp_path / ("m" + formats.get(format).suffix)
    entry = export_model(bfloat16_model, path, format=format,
                         quantize=quantize, dataset="digits",
                         num_samples=64, latency_repeats=2)
    assert entry["passed"], entry
    if format == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path))
        dtypes = {np.dtype(d["dtype"]).name
                  for d in interpreter.get_tensor_details()}
        assert dtypes <= {"float32", "int32", "int8"}, dtypes
        assert ("int8" in dtypes) == (quantize == "int8")
        ops = {op["op_name"] for op in interpreter._get_ops_details()}
        assert not [op for op in ops if op.startswith("Flex")], ops
    else:
        import onnx

        graph = onnx.load(str(path)).graph
        float32, int64 = 1, 7  # onnx.TensorProto's data types.
        assert {t.data_type for t in graph.initializer} <= {float32, int64}
        casts = [a.i for n in graph.node if n.op_type == "Cast"
                 for a in n.attribute if a.name == "to"]
        assert set(casts) <= {float32, int64}, casts


def _write_entries(folder, index, count):
    for step in range(count):
        RunDirectory(folder).record_export(
            {"artifact": f"w{index}_{step}.tflite", "padding": "x" * 2000})


def test_concurrent_exports_keep_every_report_entry(tmp_path):
    """Exports into one folder (processes here) each merge their entries
    under the folder's lock, through a temporary of their own."""
    report = str(tmp_path / "export_report.json")
    context = multiprocessing.get_context("fork")  # Writers import nothing.
    writers = [context.Process(target=_write_entries,
                               args=(str(tmp_path), i, 60))
               for i in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
    assert [writer.exitcode for writer in writers] == [0] * 4
    with open(report) as handle:
        entries = json.load(handle)["exports"]
    assert len(entries) == 4 * 60
    assert sorted(os.listdir(tmp_path)) == ["export_report.json"]


def _children(pid):
    """Pids of the processes whose parent is `pid` (Linux /proc)."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry))
    return children


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait(condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow  # Two TensorFlow processes.
@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM,
                                    signal.SIGKILL])
def test_a_stopped_int8_export_leaves_no_child_and_no_temporary(
        digits_model_path, tmp_path, signum):
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [str(ROOT / "export" / "export.py"),
            f"--model={digits_model_path}", "--dataset=digits",
            "--quantize=int8", "--num_samples=32",
            f"--output={out / 'm.tflite'}"]
    # Ctrl-C raises KeyboardInterrupt even where this test's process was
    # started with SIGINT ignored (a background job), as in a terminal.
    start = ("import runpy, signal, sys; "
             "signal.signal(signal.SIGINT, signal.default_int_handler); "
             f"sys.argv = {argv!r}; "
             "runpy.run_path(sys.argv[0], run_name='__main__')")
    export = subprocess.Popen(
        [sys.executable, "-c", start], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert _wait(lambda: _children(export.pid), 120), \
            export.communicate()
        children = _children(export.pid)
        time.sleep(1.0)  # The converter child is under way.
        export.send_signal(signum)
        _, err = export.communicate(timeout=60)
    finally:
        export.kill()
    assert _wait(lambda: not any(_alive(c) for c in children), 20), \
        "the converter child outlived its export"
    if signum == signal.SIGKILL:
        # Nothing runs in a killed process: the next export cleans up.
        remove_stale_staging(str(out))
    else:
        assert export.returncode == 128 + signum
        assert err.strip().splitlines()[-1] == (
            "export.py: " + ("interrupted" if signum == signal.SIGINT
                             else "terminated"))
        assert "Traceback" not in err
    assert os.listdir(out) == []


@pytest.mark.slow  # A JAX process and a TensorFlow child.
def test_onnx_export_on_the_jax_backend(digits_model_path, tmp_path):
    output = tmp_path / "m.onnx"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "jax"}
    result = subprocess.run(
        [sys.executable, "-m", "one_keras.cli.export",
         f"--model={digits_model_path}", "--dataset=digits", "--format=onnx",
         "--num_samples=64", f"--output={output}"],
        env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert output.is_file() and "| onnx | single | none |" in result.stdout
    entry = json.loads((tmp_path / "export_report.json").read_text())[
        "exports"]["m.onnx"]
    assert entry["passed"] and entry["max_abs_diff_probabilities"] <= 1e-4

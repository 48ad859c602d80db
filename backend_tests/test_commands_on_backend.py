"""`evaluate`, `predict` and the flatness command on this backend, in an
environment that may have no TensorFlow: a tiny run of each registered
method (the slow tier) or of ONE, then each command on it, in one line
where a runtime is missing."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image
from absl import app

from one_keras.cli import console  # noqa: F401  (absl.app's flags: kept)
from one_keras.data.digits import load_digits_arrays
from one_keras.export import formats
from one_keras.inference import prediction
from one_keras.inference.images import read_image
from one_keras.inference.predictor import softmax
from one_keras.methods.registry import REGISTRY
from one_keras.training import experiment
from tests.cli_tools import loaded_tool
from tests.cli_tools import run_main


TOOLS_DIR = pathlib.Path(prediction.__file__).parents[1] / "cli"
TOOLS = {"evaluate": TOOLS_DIR / "evaluate.py",
         "predict": TOOLS_DIR / "predict.py",
         "flatness": TOOLS_DIR / "flatness.py"}
TINY = dict(depth=8, width=4, epochs=1, steps_per_epoch=1, eval_steps=1,
            batch_size=8, eval_batch_size=64, verbose=0, seed=3)
app.define_help_flags()  # Defined here, not inside a tool's `loaded_tool`.
def train(root, method="one", **options):
    """A tiny digits run of `method`; returns its directory."""
    run = root / method
    experiment.run(experiment.TrainConfig(
        method=method, options=options, output_dir=str(run), **TINY))
    return run


def run_tool(tool, capsys, monkeypatch, **flag_values):
    """Runs a command line tool in this process.

    Returns:
        `(exit code, stdout lines, stderr lines)`.
    """
    monkeypatch.setattr("sys.argv", [f"{tool}.py"])
    with loaded_tool(TOOLS[tool], f"{tool}_cli") as module:
        code = run_main(module, **flag_values)
    captured = capsys.readouterr()
    return (code, captured.out.strip().splitlines(),
            captured.err.strip().splitlines())


@pytest.fixture(scope="module")
def one_run(tmp_path_factory):
    return train(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def digit_images(tmp_path_factory):
    """Four test digits as 8x8 grayscale PNGs, and a file that is not an
    image."""
    folder = tmp_path_factory.mktemp("digits")
    _, (images, _) = load_digits_arrays()
    for index in range(4):
        Image.fromarray(images[index, ..., 0].round().astype(np.uint8)).save(
            folder / f"digit{index}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def check_predictions(out, err, run, folder, deployable="target"):
    """One line per digit, named by digits, with the probabilities of the
    run's deployable on the raw pixels; the text file skipped in one line.
    """
    assert len(out) == 4, out
    assert [line for line in err if "warning" in line] == [
        line for line in err if "notes.txt" in line]
    assert len([line for line in err if "notes.txt" in line]) == 1
    model = keras.saving.load_model(run / f"{deployable}.keras")
    for line in out:
        path, classes = line.split(": ")
        label, probability = classes.split(", ")[0].split()
        image = read_image(path, (8, 8, 1))
        logits = keras.ops.convert_to_numpy(
            model.predict(image[None], verbose=0))
        probabilities = softmax(logits)[0]
        assert label == str(int(np.argmax(probabilities)))
        assert float(probability) == pytest.approx(
            float(probabilities.max()), abs=1e-4)
    assert {pathlib.Path(line.split(": ")[0]).name for line in out} == {
        f"digit{i}.png" for i in range(4)}


def test_evaluate_reports_what_training_reported(one_run, capsys,
                                                 monkeypatch, tmp_path):
    """The same first 64 test digits as the run's own evaluation."""
    code, out, err = run_tool(
        "evaluate", capsys, monkeypatch, model=one_run, eval_steps=1,
        eval_batch_size=64, output=tmp_path / "eval.json")
    assert code == 0, err
    assert any(line.startswith("target") for line in out), out
    report = json.loads((one_run / "report.json").read_text())
    evaluated = json.loads((tmp_path / "eval.json").read_text())
    for field in ("target_accuracy", "ensemble_accuracy"):
        assert evaluated[field] == pytest.approx(report[field], abs=1e-6)


def test_predict_labels_images_with_a_run(one_run, digit_images, capsys,
                                          monkeypatch, tmp_path):
    code, out, err = run_tool("predict", capsys, monkeypatch, model=one_run,
                              input=[str(digit_images)], top_k=3,
                              output=tmp_path / "p.csv")
    assert code == 0, err
    check_predictions(out, err, one_run, digit_images)
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 5


def test_flatness_runs(one_run, capsys, monkeypatch, tmp_path):
    code, out, err = run_tool(
        "flatness", capsys, monkeypatch, model=[str(one_run / "model.keras")],
        output_dir=tmp_path / "flatness", num_directions=1,
        num_magnitudes=2, max_train_examples=32)
    assert code == 0, err
    written = json.loads((tmp_path / "flatness" / "flatness.json")
                         .read_text())
    assert len(written["models"]["model"]["directions"]) == 1
    assert out[-1].startswith("wrote ")


@pytest.mark.parametrize("kind", formats.names())
def test_an_artifact_without_its_runtime_is_one_line(
        kind, digit_images, capsys, monkeypatch, tmp_path):
    exporter = formats.get(kind)
    module, package = exporter.runtime_module, exporter.runtime_package
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here")
    path = tmp_path / exporter.default_name("m")
    if kind == "savedmodel":
        path.mkdir()
        (path / "saved_model.pb").write_bytes(b"")
    else:
        path.write_bytes(b"")
    code, out, err = run_tool("predict", capsys, monkeypatch, model=path,
                              input=[str(digit_images)])
    assert code == 1 and not out and len(err) == 1, err
    assert f"runs under {module}, which is not installed" in err[0]
    assert f"pip install {package}" in err[0]


@pytest.fixture(scope="module")
def method_runs(tmp_path_factory):
    """A tiny run of every registered method (KD learns from vanilla's)."""
    root = tmp_path_factory.mktemp("methods")
    runs = {"vanilla": train(root, "vanilla")}
    options = {"kd": {"teacher": str(runs["vanilla"] / "target.keras")},
               "snapshot": {"num_snapshots": 1}}
    for method in REGISTRY:
        if method not in runs:
            runs[method] = train(root, method, **options.get(method, {}))
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("method", list(REGISTRY))
def test_every_method_predicts(method, method_runs, digit_images, capsys,
                               monkeypatch):
    run = method_runs[method]
    code, out, err = run_tool("predict", capsys, monkeypatch, model=run,
                              input=[str(digit_images)])
    assert code == 0, err
    check_predictions(out, err, run, digit_images)


@pytest.mark.slow
@pytest.mark.parametrize("method", list(REGISTRY))
def test_every_method_evaluates(method, method_runs, capsys, monkeypatch):
    code, out, err = run_tool("evaluate", capsys, monkeypatch,
                              model=method_runs[method], eval_steps=1,
                              eval_batch_size=64)
    assert code == 0, err
    assert any("0." in line for line in out), out


# Loads every deployed file given on the command line in a process that
# never imports one_keras, and saves its logits on fixed raw pixels.
_RELOAD_WITHOUT_ONE_KERAS = """
import sys
import keras
import numpy as np
images = np.load(sys.argv[1])
logits = {path: np.asarray(keras.saving.load_model(path).predict(
    images, verbose=0)) for path in sys.argv[3:]}
assert not any(name.startswith("one_keras") for name in sys.modules)
np.savez(sys.argv[2], **{str(i): logits[p] for i, p in enumerate(sys.argv[3:])})
"""


@pytest.mark.slow
def test_every_deployable_loads_without_one_keras(method_runs, tmp_path):
    # On this backend (JAX in CI, no TensorFlow), as the deployment issue
    # asks: each `<name>.keras` a run wrote loads with plain Keras, safe
    # mode on, and gives the logits it gives here.
    files = [path for run in method_runs.values()
             for name in json.loads((run / "report.json").read_text())[
                 "deployables"]
             for path in [run / f"{name}.keras"]]
    assert len(files) >= 2 * len(REGISTRY) - 1
    _, (images, _) = load_digits_arrays()
    raw = np.asarray(images[:5], dtype="float32")
    np.save(tmp_path / "images.npy", raw)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", _RELOAD_WITHOUT_ONE_KERAS,
         str(tmp_path / "images.npy"), str(tmp_path / "logits.npz"),
         *map(str, files)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    reloaded = np.load(tmp_path / "logits.npz")
    for index, path in enumerate(files):
        here = keras.saving.load_model(path).predict(raw, verbose=0)
        np.testing.assert_allclose(reloaded[str(index)], here, atol=1e-5,
                                   err_msg=str(path))

"""Every registered method from training to deployment, driven by the
registry (as timm's tests loop over `list_models()`): a new method in
`one_keras.methods.registry.REGISTRY` is covered without a new test.

For each method a tiny digits run is trained once (module fixture); then it
is evaluated, each deployable it declares is exported and checked against
Keras on the same raw images, and every `<name>.keras` it wrote is loaded
with plain Keras (safe_mode on) in one fresh process that never imports
one_keras.
"""

import dataclasses
import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from one_keras import data
from one_keras.export import formats
from one_keras.export import serving
from one_keras.methods import saved_models
from one_keras.methods.registry import REGISTRY
from one_keras.reports import model_evaluation
from one_keras.reports import run_report
from one_keras.runs import layout as run_layout
from one_keras.training import experiment


export_model_lib = importlib.import_module("one_keras.export.exporting")

METHODS = sorted(REGISTRY)
EVAL_BATCH = 64
# Option values a one-epoch run needs, by option name (any method that has
# the option gets it): a teacher (the first run trained) and one snapshot.
TINY_OPTIONS = {"num_snapshots": 1}


def _train(method, output_dir, teacher):
    fields = {f.name for f in dataclasses.fields(REGISTRY[method].options)}
    options = {name: value for name, value in TINY_OPTIONS.items()
               if name in fields}
    if "teacher" in fields:
        options["teacher"] = teacher
    return experiment.run(experiment.TrainConfig(
        method=method, depth=8, width=4, epochs=1, steps_per_epoch=1,
        batch_size=32, eval_batch_size=EVAL_BATCH, eval_steps=1,
        output_dir=str(output_dir), verbose=0, options=options))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Method name -> (run directory, report), one tiny run each; methods
    that need a teacher are trained last, from the first run."""
    root = tmp_path_factory.mktemp("every_method")
    needs_teacher = {m for m in METHODS if "teacher" in {
        f.name for f in dataclasses.fields(REGISTRY[m].options)}}
    order = [m for m in METHODS if m not in needs_teacher] + \
        sorted(needs_teacher)
    trained = {}
    for method in order:
        teacher = str(trained[order[0]][0]) if trained else None
        output_dir = root / method
        trained[method] = (output_dir, _train(method, output_dir, teacher))
    return trained


@pytest.fixture(scope="module")
def loaded(runs):
    """Method name -> its run's `model.keras`, loaded once for the module's
    tests that only read it (loading costs about a second a method)."""
    return {method: saved_models.load_model(run_dir)
            for method, (run_dir, _) in runs.items()}


@pytest.fixture(scope="module")
def digits():
    return data.load_dataset("digits")


def _deployable_files(run_dir):
    return sorted(name for name in os.listdir(run_dir)
                  if name.endswith(".keras") and name not in (
                      run_layout.MODEL_NAME, run_layout.CHECKPOINT_NAME))


@pytest.mark.parametrize("method", METHODS)
def test_a_run_writes_and_reports_every_deployable(runs, loaded, method):
    run_dir, report = runs[method]
    model = loaded[method]
    declared = model.describe_deployables()
    assert "target" in declared
    assert _deployable_files(run_dir) == sorted(
        run_layout.deployable_file(name) for name in declared)
    assert report["deployables"] == declared
    text = run_report.format_report(report)
    for name, description in declared.items():
        assert 0.0 <= report[f"{name}_accuracy"] <= 1.0
        assert f"{name} ({description})" in text
    assert "ONE-E" not in text or method == "one"


@pytest.mark.parametrize("method", METHODS)
def test_evaluate_agrees_with_the_run(runs, loaded, digits, method):
    run_dir, report = runs[method]
    evaluated = model_evaluation.evaluate_model(
        loaded[method], digits, EVAL_BATCH, steps=1)
    for name in report["deployables"]:
        assert evaluated[f"{name}_accuracy"] == pytest.approx(
            report[f"{name}_accuracy"])
    # The deployed target alone, fed raw pixels, scores the same (the other
    # files compute the same logits: test_deployed_files_load_...).
    alone = model_evaluation.evaluate_model(
        saved_models.load_model(run_dir / run_layout.TARGET_NAME), digits,
        EVAL_BATCH, steps=1)
    assert alone["input"] == "raw"
    assert alone["target_accuracy"] == pytest.approx(report["target_accuracy"])


@pytest.mark.parametrize("method", METHODS)
def test_export_serves_the_modes_the_method_has(loaded, method, tmp_path):
    # The fast tier checks the modes and the refusals (before any export);
    # every mode to every format is the slow test below.
    model = loaded[method]
    modes = serving.available_modes(model)
    assert modes == tuple(mode for mode in serving.MODES if
                          serving.MODE_DEPLOYABLES[mode] in
                          model.describe_deployables())
    for mode in set(serving.MODES) - set(modes):
        with pytest.raises(ValueError, match="modes this model has"):
            export_model_lib.export_model(model, tmp_path / mode, mode=mode,
                                          format="savedmodel",
                                          dataset="digits")
    assert not any(tmp_path.iterdir())


@pytest.mark.slow  # A fresh Python per file; CI runs it.
def test_deployed_files_load_without_one_keras(runs, digits, tmp_path):
    """Every `<name>.keras` of every run, loaded with plain Keras in one
    fresh process (on Keras' NumPy backend) that never imports one_keras, maps raw pixels to
    the logits of the method model's deployable on the normalised pixels."""
    images, _ = data.split_arrays(digits, "test", limit=16)
    np.save(tmp_path / "images.npy", images)
    files = [str(run_dir / name) for run_dir, _ in runs.values()
             for name in _deployable_files(run_dir)]
    script = (
        "import json, sys\n"
        "import keras, numpy as np\n"
        "files = json.loads(sys.argv[1])\n"
        "images = np.load(sys.argv[2])\n"
        "out = {}\n"
        "for i, path in enumerate(files):\n"
        "    model = keras.saving.load_model(path, safe_mode=True)\n"
        "    out[str(i)] = keras.ops.convert_to_numpy(model(images))\n"
        "np.savez(sys.argv[3], **out)\n"
        "assert not any(m.startswith(('one_keras', 'tensorflow'))\n"
        "               for m in sys.modules)\n")
    # Keras' NumPy backend: neither TensorFlow (which wrote them) nor any
    # other framework is needed to run them, and it starts in seconds.
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
           "KERAS_BACKEND": "numpy"}
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(files),
         str(tmp_path / "images.npy"), str(tmp_path / "logits.npz")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    logits = np.load(tmp_path / "logits.npz")
    index = 0
    for run_dir, _ in runs.values():
        model = saved_models.load_model(run_dir)
        normalised = data.normalize(images, model.normalization).numpy()
        cores = model.deployable_cores()
        for name in _deployable_files(run_dir):
            want = np.asarray(cores[name[:-len(".keras")]](normalised))
            np.testing.assert_allclose(logits[str(index)], want, atol=1e-4,
                                       err_msg=f"{run_dir.name}/{name}")
            index += 1


@pytest.mark.slow
@pytest.mark.parametrize("format", formats.names())
@pytest.mark.parametrize("method", METHODS)
def test_every_deployable_exports_to_every_format(runs, method, format,
                                                  tmp_path):
    run_dir, _ = runs[method]
    model = saved_models.load_model(run_dir)
    exporter = formats.get(format)
    for mode in serving.available_modes(model):
        entry = export_model_lib.export_model(
            model, tmp_path / exporter.default_name(mode), mode=mode,
            format=format,
            dataset="digits", num_samples=64, latency_repeats=1)
        assert entry["passed"], entry


def test_a_target_keras_of_an_earlier_version_is_told_apart(
        runs, loaded, digits, tmp_path):
    # Earlier versions saved the bare network: normalised pixels in.
    run_dir, report = runs[METHODS[0]]
    old = tmp_path / "target.keras"
    loaded[METHODS[0]].target_model().save(old)
    evaluated = model_evaluation.evaluate_model(
        saved_models.load_model(old), digits, EVAL_BATCH, steps=1)
    assert evaluated["input"] == "normalised"
    assert evaluated["target_accuracy"] == pytest.approx(
        report["target_accuracy"])
    with pytest.raises(ValueError, match="does not normalise raw pixels"):
        export_model_lib.export_model(old, tmp_path / "t.onnx",
                                      format="onnx", dataset="digits")


def test_a_run_stores_what_later_commands_need(runs):
    """Issue 37: the class names, the data location and KD's teacher are
    stored at training time (`inputs.json`), not re-read later."""
    for method, (run_dir, _) in runs.items():
        inputs = json.loads((run_dir / run_layout.INPUTS_NAME).read_text())
        assert inputs["dataset"] == "digits"
        assert inputs["class_names"] == [str(d) for d in range(10)]
        assert ("teacher" in inputs) == (method == "kd"), method
    teacher = json.loads((runs["kd"][0] / run_layout.INPUTS_NAME)
                         .read_text())["teacher"]
    # A run directory teaches from its training model, normalised its way.
    assert teacher["path"] in {os.path.abspath(d) for d, _ in runs.values()}
    assert teacher["input"] == "normalised"
    assert set(teacher["normalization"]) == {"mean", "std"}

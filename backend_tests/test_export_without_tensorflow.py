"""The export command on an install without TensorFlow: `--help` works,
an export says in one line that it needs TensorFlow."""

import os
import pathlib
import subprocess
import sys

import pytest

from one_keras.training import experiment
from one_keras.utils import backends
from tests.test_contributing_extensions import registered  # noqa: F401


ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = dict(depth=8, width=4, epochs=1, steps_per_epoch=2, eval_steps=1,
            batch_size=16, verbose=0, seed=3)


def _export(*flags):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(ROOT / "export" / "export.py"), *flags],
        capture_output=True, text=True, env=env, timeout=300)


def test_export_help_lists_the_formats():
    result = _export("--help")
    assert result.returncode == 0, result.stderr
    assert "--format" in result.stdout and "tf_saved_model" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny digits run trained on this backend."""
    run = tmp_path_factory.mktemp("export") / "run"
    experiment.run(experiment.TrainConfig(**TINY, output_dir=str(run)))
    return run


@pytest.mark.skipif(backends.tensorflow_installed(),
                    reason="TensorFlow is installed here")
@pytest.mark.parametrize("flags", [("--dataset=cifar10",),
                                   ("--format=onnx",)])
def test_export_says_in_one_line_that_it_needs_tensorflow(run, flags):
    result = _export(f"--model={run}", *flags)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("export.py: error: ")
    assert "needs TensorFlow, which is not installed" in lines[0]
    assert not [name for name in os.listdir(run)
                if name.endswith((".tflite", ".onnx", "_savedmodel"))
                or name == "export_report.json"]


@pytest.mark.skipif(backends.tensorflow_installed(),
                    reason="TensorFlow is installed here")
def test_a_loaded_models_tfds_data_says_it_needs_tensorflow(registered,
                                                            tmp_path):
    # A format that needs no TensorFlow (docs/contributing.md's `.npz`) and
    # a loaded model: the data it names is what needs TensorFlow.
    from one_keras import methods
    from one_keras.export import export_model

    model = methods.build_method_model("vanilla", "resnet", num_classes=10,
                                       depth=8, width=4)
    with pytest.raises(backends.BackendError,
                       match="'cifar10'.*needs TensorFlow"):
        export_model(model, tmp_path / "out" / "target.npz", format="npz",
                     dataset="cifar10")
    assert not (tmp_path / "out").exists()

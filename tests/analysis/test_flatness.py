"""The flatness test (paper Fig. 3) on a tiny model."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from one_keras import methods
from one_keras.analysis import flatness


ARCH = {"num_classes": 4, "input_shape": (8, 8, 3), "depth": 8, "width": 4}


def arrays(count, seed):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(count, 8, 8, 3)).astype("float32"),
            np.arange(count) % 4)


def test_directions_have_unit_norm_over_all_weights():
    model = methods.build_method_model("vanilla", **ARCH).deployed_model()
    weights = flatness.perturbable_weights(model)
    assert not any("moving_" in w.path for w in weights)
    directions = flatness.random_directions(weights, 3, seed=1)
    for direction in directions:
        assert [d.shape for d in direction] == [tuple(w.shape)
                                                for w in weights]
        norm = np.sqrt(sum(np.sum(d.astype("float64") ** 2)
                           for d in direction))
        np.testing.assert_allclose(norm, 1.0, rtol=1e-5)
    assert not np.allclose(directions[0][0], directions[1][0])


def test_run_flatness_writes_json_and_png(tmp_path):
    model = methods.build_method_model("one", **ARCH)
    train, test = arrays(16, 0), arrays(8, 1)
    before = [w.numpy() for w in model.weights]
    report = flatness.run_flatness({"one": model}, train, test,
                                   str(tmp_path), [0.0, 1.0, 20.0],
                                   num_directions=2, seed=0)
    assert (tmp_path / "flatness.png").stat().st_size > 0
    with open(tmp_path / "flatness.json") as handle:
        written = json.load(handle)
    assert written == json.loads(json.dumps(report))
    assert set(written) == {"magnitudes", "num_directions", "seed",
                            "models"}
    result = written["models"]["one"]
    assert set(result) == {"magnitudes", "num_weights", "weight_norm",
                           "directions"}
    assert len(result["directions"]) == 2
    target = model.target_model()
    logits = target.predict(train[0], verbose=0)
    ce = float(np.mean(keras.ops.convert_to_numpy(
        keras.losses.sparse_categorical_crossentropy(
            train[1], logits, from_logits=True))))
    error = 100 * np.mean(target.predict(test[0], verbose=0).argmax(-1)
                          != test[1])
    for curve in result["directions"]:
        assert len(curve["train_ce"]) == len(curve["test_error"]) == 3
        np.testing.assert_allclose(curve["train_ce"][0], ce, rtol=1e-5)
        np.testing.assert_allclose(curve["test_error"][0], error)
        # A step of 20 x the unit direction changes the function.
        assert curve["train_ce"][2] != pytest.approx(ce, rel=1e-3)
    assert result["num_weights"] == sum(
        int(np.prod(w.shape)) for w in flatness.perturbable_weights(target))
    for weight, value in zip(model.weights, before):  # restored
        np.testing.assert_array_equal(weight.numpy(), value)


def test_magnitudes_must_be_non_negative():
    model = methods.build_method_model("vanilla", **ARCH)
    with pytest.raises(ValueError, match="`magnitudes` must be"):
        flatness.perturbation_curves(model, arrays(4, 0), arrays(4, 1),
                                     [-1.0])


@pytest.mark.slow
def test_command_line_on_digits(tmp_path):
    model = methods.build_method_model(
        "dml", num_classes=10, input_shape=(8, 8, 1), depth=8, width=4)
    model.save(tmp_path / "dml.keras")
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    completed = subprocess.run(
        [sys.executable, "-m", "one_keras.cli.flatness",
         f"--model={tmp_path / 'dml.keras'}", "--dataset=digits",
         "--num_magnitudes=3", "--num_directions=2",
         "--max_train_examples=64", f"--output_dir={tmp_path / 'out'}"],
        cwd=root, env={**os.environ, "PYTHONPATH": root},
        capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "dml: train CE" in completed.stdout
    with open(tmp_path / "out" / "flatness.json") as handle:
        report = json.load(handle)
    assert report["magnitudes"] == [0.0, 2.5, 5.0]
    assert len(report["models"]["dml"]["directions"]) == 2
    assert (tmp_path / "out" / "flatness.png").exists()


def test_models_of_the_same_file_name_keep_distinct_names(tmp_path):
    """`--model a/target.keras --model b/target.keras` printed and plotted
    one "target" (issue 37, #10)."""
    paths = [str(tmp_path / "a" / "target.keras"),
             str(tmp_path / "b" / "target.keras"),
             str(tmp_path / "x" / "a" / "ensemble.keras"),
             str(tmp_path / "y" / "a" / "ensemble.keras")]
    assert flatness.model_names(paths) == [
        "a/target", "b/target", "x/a/ensemble", "y/a/ensemble"]
    assert flatness.model_names(paths[:1] + paths[2:3]) == ["target",
                                                            "ensemble"]
    assert flatness.model_names(paths[:2], ["one", "two"]) == ["one", "two"]
    with pytest.raises(ValueError, match="own --name"):
        flatness.model_names(paths[:2], ["one", "one"])
    with pytest.raises(ValueError, match="one --name per --model"):
        flatness.model_names(paths[:2], ["one"])
    with pytest.raises(ValueError, match="each model once"):
        flatness.model_names([paths[0], paths[0]])

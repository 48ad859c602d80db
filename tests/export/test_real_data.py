"""Real data end to end: a run's own images calibrate and verify exports.

A tiny folder of PNG photos (3 classes, 32x32) trains a model through
`experiment.run`; export and evaluation then find the data through the run's
config.json, with no dataset named. tfds runs go through
`tfds.testing.mock_data`.
"""

import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from one_keras import data
from one_keras.export import export_model
from one_keras.export import verify
from one_keras.methods import saved_models
from one_keras.reports import model_evaluation
from one_keras.runs import saved_run
from one_keras.training import experiment

# Photo folders trained and exported end to end: CI runs them (`slow`).
pytestmark = pytest.mark.slow


TRAIN_PER_CLASS = 6
TEST_PER_CLASS = 4
CLASSES = ("red", "green", "blue")


def write_image_folder(root, seed=0):
    """PNGs `root/{train,test}/<class>/*.png`: each class a noisy colour."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", TRAIN_PER_CLASS),
                         ("test", TEST_PER_CLASS)):
        for channel, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                image = rng.integers(0, 90, (32, 32, 3))
                image[..., channel] += 160
                png = tf.io.encode_png(image.astype("uint8"))
                (folder / f"{index}.png").write_bytes(png.numpy())
    return root


def tiny_config(**fields):
    return experiment.TrainConfig(depth=8, width=4, batch_size=4,
                                  eval_batch_size=8, verbose=0, **fields)


@pytest.fixture(scope="module")
def photo_run(tmp_path_factory):
    """A run trained for 1 epoch on the PNG folder; its directory."""
    folder = write_image_folder(tmp_path_factory.mktemp("photos"))
    run_dir = tmp_path_factory.mktemp("run")
    experiment.run(tiny_config(dataset="image_folder", data_dir=str(folder),
                               image_size=32, epochs=1,
                               output_dir=str(run_dir)))
    return run_dir


def keras_top1(run_dir, mode, images):
    """Top-1 classes of the trained Keras model on raw test images."""
    model = saved_models.load_model(run_dir)
    outputs = model.predict(
        data.normalize(images, model.normalization).numpy(), verbose=0)
    logits = (outputs["branch_logits"][:, 0] if mode == "single"
              else outputs["teacher_logits"])
    return np.argmax(logits, -1)


def test_int8_tflite_verified_on_the_folders_test_images(photo_run):
    path = photo_run / "target_int8.tflite"
    entry = export_model(str(photo_run), path, quantize="int8",
                         latency_repeats=1)
    num_test = TEST_PER_CLASS * len(CLASSES)
    assert entry["dataset"] == "image_folder"
    assert entry["num_samples"] == num_test
    assert entry["check"] == "top1_agreement" and entry["passed"], entry
    assert entry["top1_agreement"] >= verify.INT8_MIN_AGREEMENT
    assert 0.0 <= entry["export_accuracy"] <= 1.0
    # Independently: the artifact on the folder's own test images agrees
    # with Keras, and reproduces the accuracy it reported.
    dataset = saved_run.load_run_dataset(photo_run)
    images, labels = data.split_arrays(dataset, "test")
    assert images.shape == (num_test, 32, 32, 3) and images.max() > 150
    exported = np.argmax(verify.load_runner("tflite", path)(images)[
        "probabilities"], -1)
    agreement = np.mean(exported == keras_top1(photo_run, "single", images))
    assert agreement >= verify.INT8_MIN_AGREEMENT
    assert entry["export_accuracy"] == pytest.approx(
        np.mean(exported == labels))


def test_onnx_ensemble_and_evaluate_use_the_runs_data(photo_run):
    entry = export_model(str(photo_run / "model.keras"),
                         photo_run / "ensemble.onnx", mode="ensemble",
                         format="onnx", latency_repeats=1)
    assert entry["passed"] and entry["dataset"] == "image_folder"
    images, labels = data.split_arrays(saved_run.load_run_dataset(photo_run),
                                       "test")
    assert entry["keras_accuracy"] == pytest.approx(np.mean(
        keras_top1(photo_run, "ensemble", images) == labels))
    # `python -m one_keras.evaluate --model RUN` does this.
    report = model_evaluation.evaluate_model(saved_models.load_model(photo_run),
                                         saved_run.load_run_dataset(photo_run))
    trained = json.loads((photo_run / "report.json").read_text())
    assert report["target_accuracy"] == pytest.approx(
        trained["target_accuracy"])
    assert report["ensemble_accuracy"] == pytest.approx(
        trained["ensemble_accuracy"])


def test_bare_keras_file_names_the_flag_to_add(photo_run, tmp_path):
    bare = tmp_path / "model.keras"
    bare.write_bytes((photo_run / "model.keras").read_bytes())
    with pytest.raises(ValueError, match="add --dataset") as error:
        saved_run.load_run_dataset(bare)
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="add --dataset"):
        export_model(str(bare), tmp_path / "out" / "m.onnx", format="onnx")
    assert not (tmp_path / "out").exists()
    # Naming the data works without a run.
    dataset = saved_run.load_run_dataset(
        bare, "image_folder", image_size=32,
        data_dir=saved_run.read_run_config(photo_run)["data_dir"])
    assert dataset.input_shape == (32, 32, 3)
    assert dataset.num_test == TEST_PER_CLASS * len(CLASSES)


def test_tfds_run_exports_and_evaluates_on_its_dataset(tmp_path):
    run_dir = tmp_path / "run"
    with tfds.testing.mock_data(num_examples=8):
        experiment.run(tiny_config(dataset="cifar10", data_dir=str(tmp_path),
                                   epochs=1, steps_per_epoch=1, eval_steps=1,
                                   output_dir=str(run_dir)))
        dataset = saved_run.load_run_dataset(run_dir / "model.keras")
        entry = export_model(str(run_dir), run_dir / "target.onnx",
                             format="onnx", latency_repeats=1)
        report = model_evaluation.evaluate_model(saved_models.load_model(run_dir),
                                             dataset)
        with pytest.raises(ValueError, match="input shape"):
            export_model(str(run_dir), tmp_path / "digits.onnx",
                         format="onnx", dataset="digits")
    assert dataset.name == "cifar10" and dataset.input_shape == (32, 32, 3)
    assert entry["passed"] and entry["dataset"] == "cifar10"
    assert entry["num_samples"] == 8 and "cifar10 test" in entry["data"]
    assert "keras_accuracy" in entry
    assert 0.0 <= report["target_accuracy"] <= 1.0

"""Training runs on the JAX (or torch) backend, with or without TensorFlow:
the digits demo, image folders with the paper's augmentation, resume,
several devices, mixed precision and the errors of what needs TensorFlow."""

import importlib.util
import json

import keras
import numpy as np
import pytest
from PIL import Image

from one_keras.data import numpy_pipeline
from one_keras.methods.registry import REGISTRY
from one_keras.reports import run_report
from one_keras.training import experiment
from one_keras.utils import backends


TINY = dict(depth=8, width=4, epochs=2, steps_per_epoch=2, eval_steps=1,
            batch_size=16, verbose=0, seed=3)
JAX = pytest.mark.skipif(keras.backend.backend() != "jax",
                         reason="needs the jax backend")


class Interrupt(Exception):
    pass


class StopAfterEpoch(keras.callbacks.Callback):
    """Ends the run after `epoch` (its backup is written), as a kill does."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Interrupt


def image_folder(root, sizes=(16, 16), per_class=6, classes=3):
    """A tiny `train/` + `test/` folder of random PNGs."""
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("test", 2)):
        for label in range(classes):
            folder = root / split / f"class{label}"
            folder.mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 256, sizes + (3,), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{index}.png")
    return root


def test_backend_is_not_tensorflow():
    assert keras.backend.backend() in ("jax", "torch")
    assert not backends.is_tensorflow()


@pytest.mark.skipif(backends.tensorflow_installed(),
                    reason="TensorFlow is installed here")
def test_tfds_dataset_says_it_needs_tensorflow(tmp_path):
    config = experiment.TrainConfig(dataset="cifar10", **TINY,
                                    output_dir=str(tmp_path / "run"))
    with pytest.raises(backends.BackendError,
                       match="needs TensorFlow, which is not installed"):
        experiment.run(config)


def test_digits_demo_meets_its_accuracy(tmp_path):
    """The README's demo (`configs/digits.flags` defaults) on this
    backend."""
    report = experiment.run(experiment.TrainConfig(
        output_dir=str(tmp_path / "demo"), verbose=0))
    assert report["target_accuracy"] >= 0.95
    assert report["ensemble_accuracy"] >= 0.95
    assert report["versions"]["backend"] == keras.backend.backend()
    for name in ("model.keras", "target.keras", "log.csv", "config.json"):
        assert (tmp_path / "demo" / name).exists(), name
    target = keras.saving.load_model(tmp_path / "demo" / "target.keras")
    trainable = sum(int(np.prod(w.shape)) for w in target.trainable_weights)
    assert trainable == report["params_target"]


@pytest.mark.parametrize("sizes,recipe", [
    ((16, 16), "pad_crop_flip"), ((80, 96), "random_resized_crop_flip")])
def test_image_folder_trains_with_the_papers_augmentation(tmp_path, sizes,
                                                          recipe):
    folder = image_folder(tmp_path / "photos", sizes)
    size = 16 if recipe == "pad_crop_flip" else 72
    report = experiment.run(experiment.TrainConfig(
        dataset="image_folder", data_dir=str(folder), image_size=size,
        **{**TINY, "batch_size": 4}, output_dir=str(tmp_path / "run")))
    assert report["augment"] == recipe
    assert 0.0 <= report["target_accuracy"] <= 1.0


def test_digits_train_with_the_random_resized_crop(tmp_path):
    # The digits are float32 with one channel, which Pillow's RGB resize
    # refused ("Cannot handle this data type: (1, 1, 1), |u1").
    report = experiment.run(experiment.TrainConfig(
        augment="random_resized_crop_flip", **TINY,
        output_dir=str(tmp_path / "run")))
    assert report["augment"] == "random_resized_crop_flip"
    assert 0.0 <= report["target_accuracy"] <= 1.0


def test_augmented_batches_are_seeded_and_resumable(tmp_path):
    folder = image_folder(tmp_path / "photos", (12, 12))
    dataset = numpy_pipeline.load_numpy_dataset(
        "image_folder", str(folder), image_size=12)
    assert dataset.augmentation == "pad_crop_flip"
    first = numpy_pipeline.train_batches(dataset, 5, seed=1)
    again = numpy_pipeline.train_batches(dataset, 5, seed=1)
    np.testing.assert_array_equal(first[0][0], again[0][0])
    first.on_epoch_end()
    resumed = numpy_pipeline.train_batches(dataset, 5, seed=1,
                                           start_epoch=1)
    for index in range(len(first)):
        np.testing.assert_array_equal(first[index][0], resumed[index][0])
        np.testing.assert_array_equal(first[index][1], resumed[index][1])
    other_seed = numpy_pipeline.train_batches(dataset, 5, seed=2)
    assert not np.array_equal(other_seed[0][0], again[0][0])
    # Every image once per epoch, the last batch partial.
    labels = np.concatenate([again[i][1] for i in range(len(again))])
    np.testing.assert_array_equal(np.sort(labels),
                                  np.sort(dataset.y_train))


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    config = dict(TINY, epochs=3, deterministic=True)
    straight = tmp_path / "straight"
    experiment.run(experiment.TrainConfig(**config, output_dir=str(straight)))
    killed = tmp_path / "killed"
    with pytest.raises(Interrupt):
        experiment.run(experiment.TrainConfig(**config, output_dir=str(killed)),
                       callbacks=[StopAfterEpoch(1)])
    report = experiment.run(experiment.TrainConfig(**config,
                                                   output_dir=str(killed)))
    assert report["resumed_at_epoch"] == 2
    expected = keras.saving.load_model(straight / "model.keras")
    resumed = keras.saving.load_model(killed / "model.keras")
    for want, got in zip(expected.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@JAX
def test_data_parallel_equals_one_device(tmp_path):
    """Two CPU devices (conftest's XLA_FLAGS) split every batch; BatchNorm
    then normalises over the global batch, as on one device."""
    import jax

    assert jax.device_count() == 2
    reports = {}
    for strategy in ("one_device", "data_parallel"):
        reports[strategy] = experiment.run(experiment.TrainConfig(
            **TINY, strategy=strategy, deterministic=True,
            output_dir=str(tmp_path / strategy)))
    assert reports["data_parallel"]["replicas"] == 2
    assert reports["one_device"]["replicas"] == 1
    models = [keras.saving.load_model(tmp_path / s / "model.keras")
              for s in ("one_device", "data_parallel")]
    for one, two in zip(*(m.get_weights() for m in models)):
        np.testing.assert_allclose(two, one, rtol=1e-4, atol=1e-5)


@JAX
def test_data_parallel_splits_partial_batches_and_counts_each_image_once(
        tmp_path):
    """9 training and 3 test images in batches over 2 devices: the last
    training batch is filled up to 2 images, the last test batch is padded
    with a copy weighted 0, and accuracies count each test image once."""
    folder = image_folder(tmp_path / "photos", (12, 12), per_class=3)
    for extra in (tmp_path / "photos" / "test").glob("class*/1.png"):
        extra.unlink()
    dataset = numpy_pipeline.load_numpy_dataset(
        "image_folder", str(folder), image_size=12)
    last = int(dataset.y_test[-1])
    np.testing.assert_array_equal(np.sort(dataset.y_test), [0, 1, 2])
    train = numpy_pipeline.train_batches(dataset, 4, seed=0,
                                         batch_multiple=2)
    assert [len(train[i][1]) for i in range(len(train))] == [4, 4, 2]
    test = numpy_pipeline.eval_batches(dataset, 2, batch_multiple=2)
    images, labels, weights = test[1]
    np.testing.assert_array_equal(labels, [last, last])
    np.testing.assert_array_equal(weights, [1.0, 0.0])
    always_last = keras.Sequential([
        keras.Input((12, 12, 3)), keras.layers.Flatten(),
        keras.layers.Dense(3, kernel_initializer="zeros",
                           bias_initializer=keras.initializers.Constant(
                               np.eye(3)[last]))])
    # Right on the last image only: 1/3, where counting its copy gave 2/4.
    accuracy = run_report.deployed_accuracy(always_last, test, 3)
    assert accuracy["target_accuracy"] == pytest.approx(1 / 3)
    report = experiment.run(experiment.TrainConfig(
        dataset="image_folder", data_dir=str(folder), image_size=12,
        depth=8, width=4, epochs=1, batch_size=4, eval_batch_size=2,
        verbose=0, strategy="data_parallel",
        output_dir=str(tmp_path / "run")))
    assert report["replicas"] == 2
    for name in ("target_accuracy", "ensemble_accuracy"):
        assert report[name] * 3 == pytest.approx(round(report[name] * 3))


@JAX
def test_batch_size_that_does_not_split_is_refused_in_one_line(tmp_path):
    config = experiment.TrainConfig(**{**TINY, "batch_size": 15},
                                    strategy="data_parallel",
                                    output_dir=str(tmp_path / "run"))
    with pytest.raises(ValueError, match="`batch_size` must be a multiple "
                                         "of the 2 devices.*batch_size=14"):
        experiment.run(config)


def test_strategy_of_tensorflow_is_refused_in_one_line(tmp_path):
    config = experiment.TrainConfig(**TINY, strategy="mirrored",
                                    output_dir=str(tmp_path / "run"))
    with pytest.raises(ValueError, match="does not run on the Keras "
                                         "backend"):
        experiment.run(config)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_losses_are_finite_and_improve(policy):
    from one_keras.methods.one import build_one_resnet

    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    model = build_one_resnet(depth=8, width=4, num_classes=4,
                             input_shape=(8, 8, 3))
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    if policy == "mixed_float16":
        assert isinstance(model.optimizer,
                          keras.optimizers.LossScaleOptimizer)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(32, 8, 8, 3)).astype("float32")
    labels = rng.integers(0, 4, 32)
    history = model.fit(images, labels, batch_size=16, epochs=6, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]


@pytest.mark.slow  # Compiles a bfloat16 step per method: minutes in all.
@pytest.mark.parametrize("method", [  # ONE in CI; the others `heavy`.
    pytest.param(method, marks=() if method == "one" else pytest.mark.heavy)
    for method in sorted(REGISTRY)])
def test_every_method_trains_100_classes_under_mixed_bfloat16(method):
    """Issue 40, through the registry: a script sets `mixed_bfloat16`;
    every method trains a step and evaluates with a top-5 accuracy (which
    refused bfloat16 logits on TensorFlow) and deploys float32 logits."""
    import dataclasses

    from one_keras.methods import build_method_model
    from one_keras.models import deployment

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    arch = dict(num_classes=100, input_shape=(8, 8, 3), depth=8, width=4)
    names = {f.name for f in dataclasses.fields(REGISTRY[method].options)}
    options = {"num_snapshots": 1} if "num_snapshots" in names else {}
    if "teacher" in names:
        options["teacher"] = build_method_model(
            "vanilla", **arch).deployed_model()
    model = build_method_model(method, **arch, **options)
    model.compile(optimizer=keras.optimizers.SGD(0.05), metrics=[
        keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5")])
    rng = np.random.default_rng(0)
    images = rng.normal(size=(8, 8, 8, 3)).astype("float32")
    labels = rng.integers(0, 100, 8)
    logs = model.fit(images, labels, batch_size=8, verbose=0).history
    assert np.isfinite(logs["loss"]).all()
    results = model.evaluate(images, labels, verbose=0, return_dict=True)
    assert 0.0 <= results["top5"] <= 1.0
    target = deployment.stock_copy(model.deployables()["target"])
    assert keras.ops.convert_to_numpy(target(images)).dtype == np.float32


def test_out_of_range_labels_fail_in_one_line():
    from one_keras.methods.one import build_one_resnet

    model = build_one_resnet(depth=8, width=4, num_classes=3,
                             input_shape=(8, 8, 3))
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match=r"class labels in \[0, 2\]"):
        model.fit(np.zeros((4, 8, 8, 3), "float32"), np.array([0, 1, 2, 3]),
                  verbose=0)


def test_sync_bn_model_trains_and_loads(tmp_path):
    from one_keras.methods.one import build_one_resnet

    model = build_one_resnet(depth=8, width=4, num_classes=3,
                             input_shape=(8, 8, 3), sync_bn=True)
    model.compile(optimizer="sgd")
    model.fit(np.zeros((4, 8, 8, 3), "float32"), np.array([0, 1, 2, 0]),
              verbose=0)
    path = tmp_path / "sync.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    config = loaded.network.get_layer("gate_bn").get_config()
    assert config["synchronized"] is True


def test_report_is_json_with_backend(tmp_path):
    report = experiment.run(experiment.TrainConfig(
        **TINY, output_dir=str(tmp_path / "run")))
    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    assert saved["versions"]["backend"] == report["versions"]["backend"]
    assert ("tensorflow" in saved["versions"]) == (
        importlib.util.find_spec("tensorflow") is not None)

"""Shared fixtures: one small ONE model trained on the digits."""

# pytest-xdist's controller loads this file when the command line names
# tests under tests/export/ (tests/conftest.py leaves TensorFlow to the
# workers): it imports Keras' backend quietly, as the tools do.
from one_keras.cli import console


console.import_backend_quietly()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from one_keras import data  # noqa: E402
from one_keras.data.digits import load_digits_arrays  # noqa: E402
from one_keras.export import formats  # noqa: E402
from one_keras.methods.one import build_one_resnet  # noqa: E402
from tests import tracing  # noqa: E402


def load_digits(split):
    """Raw 0-255 digits of `split` ("train" or "test") and their labels."""
    train, test = load_digits_arrays()
    return train if split == "train" else test


def normalize(images, normalization):
    return data.normalize(images, normalization).numpy()


@pytest.fixture(autouse=True)
def _tflite_in_this_process(request, monkeypatch):
    """TFLite conversions run in the test's process: a fresh TensorFlow
    process costs seconds to start, and a few tiny conversions leak little.
    Tests marked `tflite_subprocess` keep the default, a fresh process."""
    if request.node.get_closest_marker("tflite_subprocess") is None:
        monkeypatch.setattr(formats.REGISTRY["tflite"], "separate_process",
                            False)


def digits_normalization():
    images, _ = load_digits("train")
    scaled = images / 255.0
    return {"mean": [float(scaled.mean())], "std": [float(scaled.std())]}


def tiny_model(num_branches=3, normalization=None):
    """Depth 8, width 4 ONE ResNet for 8x8x1 digits."""
    return build_one_resnet(depth=8, width=4, num_classes=10,
                            num_branches=num_branches, input_shape=(8, 8, 1),
                            weight_decay=0.0, normalization=normalization)


@pytest.fixture(scope="session")
def digits_model_path(tmp_path_factory):
    """A 3-branch model trained for a few seconds on digits, saved."""
    keras.utils.set_random_seed(0)
    model = tiny_model(normalization=digits_normalization())
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    images, labels = load_digits("train")
    with tracing.traced():
        model.fit(normalize(images, model.normalization), labels,
                  batch_size=64, epochs=3, verbose=0)
    test_images, test_labels = load_digits("test")
    logits = model.predict(normalize(test_images, model.normalization),
                           verbose=0)["branch_logits"][:, 0]
    accuracy = float(np.mean(np.argmax(logits, -1) == test_labels))
    assert accuracy >= 0.9, f"fixture model under-trained: {accuracy:.3f}"
    path = tmp_path_factory.mktemp("run") / "model.keras"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def digits_model(digits_model_path):
    from one_keras.methods import saved_models

    return saved_models.load_model(digits_model_path)

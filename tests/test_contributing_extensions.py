"""docs/contributing.md's worked examples of a backbone and an export
format: each is one file plus one registry entry, and then trains,
exports, verifies and predicts through the code that reads the registries,
with no other edit."""

import importlib.util
import os
import re

import keras
import numpy as np
import pytest
from PIL import Image

from one_keras import methods
from one_keras.data.digits import load_digits_arrays
from one_keras.export import export_model
from one_keras.export import formats
from one_keras.inference import prediction
from one_keras.inference.images import list_images
from one_keras.inference.predictor import load_predictor
from one_keras.models import architecture_options
from one_keras.models import build_plain_network
from one_keras.models import model_names
from one_keras.models import registry as backbones


DOC = os.path.join(os.path.dirname(__file__), "..", "docs",
                   "contributing.md")


def doc_module(section, name, tmp_path):
    """The one Python block of `section` of docs/contributing.md, saved as
    `name.py` and imported."""
    with open(DOC) as handle:
        text = handle.read().split(f"## {section}\n")[1].split("\n## ")[0]
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1, f"{section!r} must hold one Python block"
    path = tmp_path / f"{name}.py"
    path.write_text(blocks[0])
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def registered(tmp_path, monkeypatch):
    """The doc's backbone and format, each added by its one registry
    entry."""
    vgg2 = doc_module("Add a backbone", "vgg2", tmp_path)
    monkeypatch.setitem(backbones.BACKBONES, "vgg2", backbones.Backbone(
        vgg2.build_vgg2_trunk, vgg2.vgg2_branch_builder,
        backbones.CIFAR_SHAPE, {}, options=("width",)))
    npz = doc_module("Add an export format", "keras_npz", tmp_path)
    exporter = npz.KerasNPZFormat()
    monkeypatch.setitem(formats.REGISTRY, exporter.name, exporter)
    return exporter


def test_doc_backbone_and_format_train_export_verify_and_predict(
        registered, tmp_path):
    keras.utils.set_random_seed(0)
    assert "vgg2" in model_names()
    assert architecture_options("vgg2") == ("width",)
    plain = build_plain_network("vgg2", 10, (8, 8, 1), width=4)
    assert plain.layers[-1].name == "branch0_logits"
    assert sum(isinstance(layer, keras.layers.Conv2D)
               for layer in plain.layers) == 2

    # A ONE model on the new backbone, trained for a step.
    (images, labels), _ = load_digits_arrays()
    scaled = images / 255.0
    normalization = {"mean": [float(scaled.mean())],
                     "std": [float(scaled.std())]}
    model = methods.build_method_model(
        "one", "vgg2", num_classes=10, input_shape=(8, 8, 1), width=4,
        normalization=normalization)
    model.compile(optimizer="sgd")
    normalised = (scaled - normalization["mean"][0]) / normalization["std"][0]
    logs = model.fit(normalised[:8], labels[:8], batch_size=8, epochs=1,
                     verbose=0).history
    assert np.isfinite(logs["loss"][0])

    # Exported in the new format (no TensorFlow asked for), verified by
    # its own runner, recorded in export_report.json.
    assert formats.get("npz") is registered
    assert not registered.needs_tensorflow
    path = tmp_path / "run" / registered.default_name("target")
    entry = export_model(model, path, format="npz", dataset="digits",
                         num_samples=32, latency_repeats=1)
    assert entry["passed"] and entry["format"] == "keras_npz", entry
    assert entry["top1_agreement"] == 1.0
    assert path.is_file() and formats.for_path(path) is registered

    # Predicted with the artifact, as with any other.
    folder = tmp_path / "images"
    folder.mkdir()
    for index in range(3):
        Image.fromarray(images[index, ..., 0].astype("uint8")).save(
            folder / f"digit_{index}.png")
    predictor = load_predictor(str(path))
    assert predictor.format == "keras_npz"
    assert predictor.input_shape == (8, 8, 1)
    assert predictor.num_classes == 10
    results = list(prediction.predict_files(
        predictor, list_images([str(folder)]), top_k=2))
    assert len(results) == 3
    pixels = images[:3].astype("uint8").astype("float32")  # As saved.
    want = formats.runner_for(path)(pixels)
    np.testing.assert_allclose([[p for _, p in r.top] for r in results],
                               np.sort(want["probabilities"])[:, ::-1][:, :2],
                               atol=1e-5)

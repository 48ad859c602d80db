"""docs/contributing.md's worked example: a new method is one new file
plus one registry line, and then trains through `experiment.run`."""

import importlib.util
import os
import re

import keras

from one_keras import methods
from one_keras.training import experiment


DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs",
                   "contributing.md")


def example_module_source():
    """The Python block of the section "Add a method"."""
    with open(DOC) as handle:
        section = handle.read().split("## Add a method")[1].split("\n## ")[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the section must hold one Python block"
    return blocks[0]


def test_example_method_is_one_file_and_one_registry_line(tmp_path,
                                                          monkeypatch):
    path = tmp_path / "label_smoothing.py"
    path.write_text(example_module_source())
    spec = importlib.util.spec_from_file_location("label_smoothing", path)
    label_smoothing = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(label_smoothing)
    # The one registry line.
    monkeypatch.setitem(methods.REGISTRY, label_smoothing.METHOD.name,
                        label_smoothing.METHOD)

    model = methods.build_method_model(
        "label_smoothing", num_classes=4, input_shape=(8, 8, 3), depth=8,
        width=4, smoothing=0.2)
    assert model.smoothing == 0.2
    report = experiment.run(experiment.TrainConfig(
        dataset="digits", method="label_smoothing",
        options={"smoothing": 0.3}, depth=8, width=4, epochs=1,
        steps_per_epoch=2, eval_steps=1, batch_size=4, verbose=0,
        output_dir=str(tmp_path / "run")))
    assert report["method"] == "label_smoothing"
    assert 0.0 <= report["target_accuracy"] <= 1.0
    restored = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert type(restored).__name__ == "LabelSmoothingModel"
    assert restored.smoothing == 0.3

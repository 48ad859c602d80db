"""The flagfiles in configs/ build their model and train one step.

Every ResNet config runs, and one config of each zoo model (the others
differ from it only in the dataset, which the ResNet configs cover; their
flags are checked in test_zoo_configs.py). tfds datasets are replaced by
`tfds.testing.mock_data` (random examples). The step runs at batch 2, and
ImageNet models at 32x32, so that it stays short on a CPU: neither changes
the layers or weights of the model the config builds.
"""

import glob
import os

import pytest
import tensorflow_datasets as tfds
from absl.testing import flagsaver

from one_keras import train
from one_keras import training

CONFIGS = sorted(glob.glob(os.path.join(
    os.path.dirname(__file__), "..", "configs", "*.flags")))
ZOO_REPRESENTATIVES = {"cifar100_resnext29.flags",
                       "cifar10_densenet_bc190.flags",
                       "imagenet_resnet18.flags", "imagenet_resnext50.flags"}
# Same ResNet-32 as cifar100_resnet32 (kept fast: it also covers top-5).
SLOW = {"cifar100_resnet110.flags", "cifar100_resnet110_code.flags",
        "cifar10_resnet32.flags", "svhn.flags",
        *ZOO_REPRESENTATIVES}


def _model_name(path):
    for line in open(path):
        if line.startswith("--model="):
            return line.strip().split("=", 1)[1]
    return "resnet"


def _params(paths):
    for path in paths:
        name = os.path.basename(path)
        if _model_name(path) != "resnet" and name not in ZOO_REPRESENTATIVES:
            continue
        marks = [pytest.mark.slow] if name in SLOW else []
        yield pytest.param(path, id=name, marks=marks)


def test_every_paper_row_has_a_config():
    names = {os.path.basename(p) for p in CONFIGS}
    assert {"cifar10_resnet32.flags", "cifar100_resnet32.flags",
            "cifar100_resnet110.flags", "svhn.flags",
            "digits.flags"} <= names


@pytest.mark.parametrize("path", _params(CONFIGS))
def test_config_trains_one_step(tmp_path, path):
    text = open(path).read()
    assert "# Run: python -m one_keras.train --flagfile configs/" in text
    with flagsaver.flagsaver():
        small = (["--image_size=32"] if "imagenet" in os.path.basename(path)
                 else [])
        train.FLAGS(["train", f"--flagfile={path}", "--steps_per_epoch=1",
                     "--eval_steps=1", "--epochs=1", "--verbose=0",
                     "--batch_size=2", "--eval_batch_size=2",
                     f"--output_dir={tmp_path}", f"--data_dir={tmp_path}",
                     *small])
        config = train.config_from_flags()
    with tfds.testing.mock_data(num_examples=4):
        report = training.run(config)
    assert report["dataset"] == config.dataset
    assert len(report["branch_accuracy"]) == config.num_branches
    assert (tmp_path / "target.keras").exists()

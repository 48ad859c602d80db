"""The flagfiles in configs/ train one step, and their comments are true.

Every ResNet config runs, and one config of each zoo model (the others
differ from it only in the dataset, which the ResNet configs cover; their
flags are checked in test_zoo_configs.py). tfds datasets are replaced by
`tfds.testing.mock_data` (random examples).

The step goes through `experiment.run` with every flag of the file, at batch
2, ImageNet models at 32x32, and with the network scaled down to a small
member of its family (the same builder, block type and width; `SMALL`):
tracing a full DenseNet-BC-190 or ResNet-110 step takes minutes on a CPU
and checks nothing more about the config. The full-size networks are built
and their parameters counted by the model tests (tests/models/); the counts
that a flagfile's comment states are checked here against the same table.
"""

import dataclasses
import glob
import os
import pathlib
import re

import pytest
import tensorflow_datasets as tfds
from absl.testing import flagsaver

from one_keras.cli import train
from one_keras.models import registry
from one_keras.models import resnet_imagenet
from one_keras.models import resnext_imagenet
from one_keras.training import experiment
from tests.models import zoo_checks


CONFIGS = sorted(glob.glob(os.path.join(
    os.path.dirname(__file__), "..", "configs", "*.flags")))
ZOO_REPRESENTATIVES = {"cifar100_resnext29.flags",
                       "cifar10_densenet_bc190.flags",
                       "imagenet_resnet18.flags", "imagenet_resnext50.flags"}
# The small member of each family the step trains: architecture overrides
# of the zoo models, one block per stage for the ImageNet ones (their
# builders take only the paper's depths), and the CIFAR ResNet's depth.
SMALL = {
    "resnext29_8x64d": {"depth": 11, "cardinality": 2, "bottleneck_width": 2,
                        "widen_factor": 1},
    "densenet_bc_190_40": {"depth": 10, "growth_rate": 4},
    "resnet18": {},
    "resnext50_32x4d": {"cardinality": 2, "bottleneck_width": 2},
}
ONE_BLOCK_PER_STAGE = {"resnet18": (resnet_imagenet, 18),
                       "resnext50_32x4d": (resnext_imagenet, 50)}
RESNET_DEPTH = 8
# The flagfiles whose step the fast tier trains (`_params`).
FAST_CONFIGS = {"digits.flags", "svhn.flags", "cifar10_resnet32.flags"}
CLASSES = {"cifar10": 10, "cifar100": 100, "svhn_cropped": 10,
           "imagenet2012": 1000}
PARAMETERS = re.compile(
    r"Parameters \(trainable, (\d+) classes\): deployed target ([\d,]+), "
    r"ONE with 3 branches \+ gate ([\d,]+)\.")


def _model_name(path):
    for line in pathlib.Path(path).read_text().splitlines():
        if line.startswith("--backbone="):
            return line.strip().split("=", 1)[1]
    return "resnet"


def _params(paths):
    for path in paths:
        name = os.path.basename(path)
        if _model_name(path) != "resnet" and name not in ZOO_REPRESENTATIVES:
            continue
        # Eager CPU kernels lack the gradient of grouped convolutions, and
        # tracing their step takes 15-20 s: CI runs them.
        # The fast tier keeps one flagfile a dataset family; CI trains them
        # all (`slow`).
        marks = [] if name in FAST_CONFIGS else [pytest.mark.slow]
        yield pytest.param(path, id=name, marks=marks)


def _config(path, output_dir):
    """The flagfile's `TrainConfig`, one step at batch 2."""
    with flagsaver.flagsaver():
        small = (["--image_size=32"] if "imagenet" in os.path.basename(path)
                 else [])
        train.FLAGS(["train", f"--flagfile={path}", "--steps_per_epoch=1",
                     "--eval_steps=1", "--epochs=1", "--verbose=0",
                     "--batch_size=2", "--eval_batch_size=2",
                     f"--output_dir={output_dir}",
                     f"--data_dir={output_dir}", *small])
        return train.config_from_flags()


def _comment(path):
    lines = pathlib.Path(path).read_text().splitlines()
    return " ".join(line.lstrip("# ").strip() for line in lines
                    if line.startswith("#"))


def test_every_paper_row_has_a_config():
    names = {os.path.basename(p) for p in CONFIGS}
    assert {"cifar10_resnet32.flags", "cifar100_resnet32.flags",
            "cifar100_resnet110.flags", "svhn.flags",
            "digits.flags"} <= names


@pytest.mark.parametrize("path", _params(CONFIGS))
def test_config_trains_one_step(tmp_path, monkeypatch, path):
    assert ("Run: python -m one_keras.train --flagfile configs/"
            in _comment(path))
    config = _config(path, tmp_path)
    if config.backbone == "resnet":
        config = dataclasses.replace(config, depth=RESNET_DEPTH)
    else:
        spec = registry.BACKBONES[config.backbone]
        monkeypatch.setitem(registry.BACKBONES, config.backbone,
                            dataclasses.replace(spec, architecture={
                                **spec.architecture, **SMALL[config.backbone]}))
        if config.backbone in ONE_BLOCK_PER_STAGE:
            module, depth = ONE_BLOCK_PER_STAGE[config.backbone]
            monkeypatch.setitem(module.BLOCKS_PER_STAGE, depth, (1, 1, 1, 1))
    with tfds.testing.mock_data(num_examples=4):
        report = experiment.run(config)
    assert report["dataset"] == config.dataset
    assert report["recipe"] == config.recipe
    assert report["config"]["batch_size"] == 2
    assert len(report["branch_accuracy"]) == \
        config.method_options().num_branches
    assert (tmp_path / "target.keras").exists()


@pytest.mark.parametrize("path", [
    pytest.param(p, id=os.path.basename(p)) for p in CONFIGS
    if "Parameters (trainable" in pathlib.Path(p).read_text()])
def test_stated_parameter_counts_are_the_built_networks(tmp_path, path):
    found = PARAMETERS.search(_comment(path))
    assert found, "the comment's parameter line lost its form"
    classes, deployed, one = (int(g.replace(",", "")) for g in found.groups())
    config = _config(path, tmp_path)
    assert classes == CLASSES[config.dataset]
    assert (deployed, one) == zoo_checks.PARAMETER_COUNTS[config.backbone,
                                                          classes]

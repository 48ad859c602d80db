"""CIFAR ResNet split for ONE: parameter counts of docs/zoo.md."""

import keras
import numpy as np
import pytest

from one_keras.methods.one import build_one_resnet
from one_keras.reports.parameters import count_trainable


# (depth, block, classes) -> (deployed, 3-branch ONE), trainable parameters.
REFERENCE_COUNTS = {
    (32, "basic", 100): (472_756, 1_193_189),
    (32, "basic", 10): (466_906, 1_175_639),
    (110, "basic", 100): (1_736_564, 4_380_581),
    (110, "basic", 10): (1_730_714, 4_363_031),
    (110, "bottleneck", 100): (1_727_284, 4_363_653),
    (110, "bottleneck", 10): (1_704_154, 4_294_263),
}


@pytest.mark.parametrize("depth,block,classes", [
    # ResNet-110 takes seconds a build: CI builds it.
    pytest.param(*key, marks=[pytest.mark.slow] if key[0] == 110 else [])
    for key in REFERENCE_COUNTS])
def test_parameter_counts_match_reference(depth, block, classes):
    deployed, one = REFERENCE_COUNTS[(depth, block, classes)]
    model = build_one_resnet(depth=depth, num_classes=classes, block=block)
    plain = build_one_resnet(depth=depth, num_classes=classes, block=block,
                             num_branches=1)

    assert count_trainable(model) == one
    assert count_trainable(model.target_model()) == deployed
    assert count_trainable(plain.target_model()) == deployed


def test_moving_statistics_add_what_reference_says():
    model = build_one_resnet(depth=32, num_classes=100)
    target = model.target_model()
    assert target.count_params() - count_trainable(target) == 2_464
    assert model.network.count_params() - count_trainable(model) == 5_286


def test_trunk_output_shape_of_resnet32():
    model = build_one_resnet(depth=32, num_classes=10)
    trunk = model.network.get_layer("stage2_block5_out").output
    assert tuple(trunk.shape[1:]) == (16, 16, 32)


@pytest.mark.parametrize("block", ["basic", "bottleneck"])
def test_output_shapes(block):
    model = build_one_resnet(depth=8, num_classes=5, num_branches=4,
                             input_shape=(16, 16, 3), block=block, width=4)
    outputs = model(np.random.rand(2, 16, 16, 3).astype("float32"))
    assert tuple(outputs["branch_logits"].shape) == (2, 4, 5)
    assert tuple(outputs["gate"].shape) == (2, 4)
    assert tuple(outputs["teacher_logits"].shape) == (2, 5)
    np.testing.assert_allclose(np.sum(outputs["gate"], axis=1), 1.0,
                               rtol=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    ({"depth": 10}, "`depth` must be of the form `6 \\* n \\+ 2`"),
    ({"depth": 2}, "`depth` must be of the form"),
    ({"block": "wide"}, "`block` must be one of 'basic', 'bottleneck'"),
    ({"num_branches": 0}, "`num_branches` must be an integer >= 1"),
    ({"gate": "max"}, "`gate` must be one of 'learned', 'average'"),
    ({"temperature": 0.0}, "`temperature` must be a number > 0"),
    ({"num_classes": 1}, "`num_classes` must be an integer >= 2"),
])
def test_bad_arguments(kwargs, match):
    arguments = {"depth": 8, "width": 4, "input_shape": (8, 8, 3), **kwargs}
    with pytest.raises(ValueError, match=match):
        build_one_resnet(**arguments)


def test_layers_have_fixed_names():
    model = build_one_resnet(depth=8, num_classes=3, width=4,
                             input_shape=(8, 8, 3))
    names = {layer.name for layer in model.network.layers}
    assert {"stem_conv", "gate", "teacher_logits", "branch_logits",
            "branch0_logits", "branch2_logits"} <= names
    assert isinstance(model.network.get_layer("gate_dense"),
                      keras.layers.Dense)

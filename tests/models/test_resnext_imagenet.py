"""ImageNet ResNeXt-50 (32x4d) split for ONE: counts, shapes, target."""

import pytest
import zoo_checks


# torchvision resnext50_32x4d: 25,028,904.
DEPLOYED, ONE = zoo_checks.PARAMETER_COUNTS["resnext50_32x4d", 1000]


@pytest.fixture
def model(zoo_model):
    return zoo_model("resnext50_32x4d", 1000, input_shape=(64, 64, 3))


def test_parameter_counts_match_paper(model):
    assert zoo_checks.trainable_count(model.target_model()) == DEPLOYED
    assert zoo_checks.trainable_count(model) == ONE
    assert abs(DEPLOYED - 25.0e6) / 25.0e6 < 0.02


def test_outputs_and_target(model):
    zoo_checks.check_outputs_and_target(model, (64, 64, 3), 1000, 3)


def test_grouped_convolutions_and_split(model):
    network = model.network
    assert network.get_layer("stage1_block1_conv2").groups == 32
    assert network.get_layer("stage1_block1_conv2").filters == 128
    assert network.get_layer("branch0_stage4_block1_conv2").filters == 1024
    assert tuple(network.get_layer("gate_pool").input.shape) == (
        None, 4, 4, 1024)

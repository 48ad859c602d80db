"""ImageNet ResNet-18 split for ONE: torchvision's count, shapes, target."""

import pytest
import zoo_checks

from one_keras.methods.one import build_one_model
from one_keras.models import resnet_imagenet

# torchvision resnet18: 11,689,512.
DEPLOYED, ONE = zoo_checks.PARAMETER_COUNTS["resnet18", 1000]


@pytest.fixture
def model(zoo_model):
    # Counts do not depend on the image size; 64x64 keeps the forward fast.
    return zoo_model("resnet18", 1000, input_shape=(64, 64, 3))


def test_parameter_counts_match_paper(model):
    assert zoo_checks.trainable_count(model.target_model()) == DEPLOYED
    assert zoo_checks.trainable_count(model) == ONE
    assert abs(DEPLOYED - 11.7e6) / 11.7e6 < 0.02


def test_outputs_and_target(model):
    zoo_checks.check_outputs_and_target(model, (64, 64, 3), 1000, 3)


def test_split_after_stage3_at_224():
    model = build_one_model("resnet18", num_classes=10, num_branches=2)
    network = model.network
    assert tuple(network.input.shape) == (None, 224, 224, 3)
    assert tuple(network.get_layer("gate_pool").input.shape) == (
        None, 14, 14, 256)
    assert tuple(network.get_layer("branch1_pool").input.shape) == (
        None, 7, 7, 512)


def test_depth_must_be_18_or_34():
    with pytest.raises(ValueError, match="`depth` must be one of 18, 34"):
        resnet_imagenet.resnet_imagenet_branch_builder(10, depth=50)

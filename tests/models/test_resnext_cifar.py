"""CIFAR ResNeXt-29 (8x64d) split for ONE: exact counts, shapes, target."""

import pytest
import zoo_checks

from one_keras.methods.one import build_one_model
from one_keras.models import resnext_cifar

# classes -> (deployed, 3-branch ONE) trainable parameters. The paper's
# 34.4M is the 10-class count (34.43M); with 100 classes it is 34.52M.
COUNTS = {classes: zoo_checks.PARAMETER_COUNTS["resnext29_8x64d", classes]
          for classes in (10, 100)}


@pytest.fixture
def full_model(zoo_model):
    """The full-size ONE model for a class count, built once per session."""
    return lambda classes: zoo_model("resnext29_8x64d", classes)


@pytest.mark.slow
@pytest.mark.parametrize("classes", sorted(COUNTS))
def test_parameter_counts_match_paper(full_model, classes):
    model = full_model(classes)
    deployed, one = COUNTS[classes]
    assert zoo_checks.trainable_count(model.target_model()) == deployed
    assert zoo_checks.trainable_count(model) == one
    assert abs(deployed - 34.4e6) / 34.4e6 < 0.02


@pytest.mark.slow
def test_full_model_outputs_and_target(full_model):
    model = full_model(10)
    zoo_checks.check_outputs_and_target(model, (32, 32, 3), 10, 3)


def test_trunk_ends_after_stage2_and_branch_is_stage3():
    model = build_one_model("resnext29_8x64d", num_classes=10, depth=11,
                            cardinality=2, bottleneck_width=4, widen_factor=1)
    network = model.network
    assert tuple(network.get_layer("gate_pool").input.shape) == (
        None, 16, 16, 128)
    assert network.get_layer("branch2_stage3_block1_conv2").groups == 2
    assert tuple(network.get_layer("branch0_pool").input.shape) == (
        None, 8, 8, 256)


def test_small_variant_outputs_and_target():
    model = build_one_model("resnext29_8x64d", num_classes=5, depth=11,
                            cardinality=2, bottleneck_width=4, widen_factor=1,
                            input_shape=(16, 16, 3))
    zoo_checks.check_outputs_and_target(model, (16, 16, 3), 5, 3)


def test_depth_must_be_9n_plus_2():
    with pytest.raises(ValueError, match="`depth` must be of the form"):
        resnext_cifar.resnext_cifar_branch_builder(10, depth=30)


@pytest.mark.slow
def test_grouped_convolutions_train():
    # Grouped convolutions run through XLA on CPU; check their gradients.
    model = build_one_model("resnext29_8x64d", num_classes=5, depth=11,
                            cardinality=2, bottleneck_width=4, widen_factor=1,
                            input_shape=(16, 16, 3))
    zoo_checks.check_fit_step(model, (16, 16, 3), 5)

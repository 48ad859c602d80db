"""CIFAR DenseNet-BC (L=190, k=40) split for ONE: counts, shapes, target."""

import pytest
import zoo_checks

from one_keras.methods.one import build_one_model
from one_keras.models import densenet_cifar

# classes -> (deployed, 3-branch ONE) trainable parameters. The paper's
# 25.6M is the 10-class count (25.62M); with 100 classes it is 25.82M.
COUNTS = {classes: zoo_checks.PARAMETER_COUNTS["densenet_bc_190_40", classes]
          for classes in (10, 100)}


@pytest.fixture
def full_model(zoo_model):
    """The full-size ONE model for a class count, built once per session."""
    return lambda classes: zoo_model("densenet_bc_190_40", classes)


@pytest.mark.slow
@pytest.mark.parametrize("classes", sorted(COUNTS))
def test_parameter_counts_match_paper(full_model, classes):
    model = full_model(classes)
    deployed, one = COUNTS[classes]
    assert zoo_checks.trainable_count(model.target_model()) == deployed
    assert zoo_checks.trainable_count(model) == one
    assert abs(deployed - 25.6e6) / 25.6e6 < 0.02


@pytest.mark.slow
def test_full_model_outputs_and_target(full_model):
    model = full_model(10)
    zoo_checks.check_outputs_and_target(model, (32, 32, 3), 10, 3)


def test_trunk_ends_after_transition2_and_branch_has_final_bn():
    # depth 10: one bottleneck layer per block; k=4 -> 8 + 4 = 12 -> 6,
    # 6 + 4 = 10 -> 5 channels at the trunk output, 5 + 4 = 9 at the head.
    model = build_one_model("densenet_bc_190_40", num_classes=3, depth=10,
                            growth_rate=4)
    network = model.network
    assert tuple(network.get_layer("gate_pool").input.shape) == (
        None, 8, 8, 5)
    assert network.get_layer("branch1_final_bn").input.shape[-1] == 9
    with pytest.raises(ValueError):
        network.get_layer("final_bn")


def test_small_variant_outputs_and_target():
    model = build_one_model("densenet_bc_190_40", num_classes=5, depth=16,
                            growth_rate=4, input_shape=(16, 16, 3))
    zoo_checks.check_outputs_and_target(model, (16, 16, 3), 5, 3)


@pytest.mark.parametrize("depth", [100.0, 101, 4])
def test_depth_must_be_6n_plus_4(depth):
    with pytest.raises(ValueError, match="`depth` must be of the form"):
        densenet_cifar.densenet_cifar_branch_builder(10, depth=depth)

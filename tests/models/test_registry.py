"""The backbone registry: names, plain networks, argument checks."""

import keras
import numpy as np
import pytest
import zoo_checks

from one_keras.methods.one import build_one_model
from one_keras.models import architecture_arguments
from one_keras.models import architecture_options
from one_keras.models import backbone_parts
from one_keras.models import build_plain_network
from one_keras.models import model_names
from one_keras.training import train_config


def test_model_names():
    assert model_names()[0] == "resnet"  # The default backbone.
    assert len(set(model_names())) == len(model_names())


@pytest.mark.parametrize("name", model_names())
def test_every_backbone_declares_what_a_run_may_set(name):
    """A run records its backbone's architecture options, resolved, and
    refuses the others (`--depth` for a fixed architecture)."""
    options = architecture_options(name)
    assert set(options) <= set(architecture_arguments(name))
    assert set(options) <= set(train_config.ARCHITECTURE_FIELDS)
    parts = backbone_parts(name, 10)
    assert len(parts.input_shape) == 3
    config = train_config.TrainConfig(backbone=name)
    settings = config.settings()
    assert config.architecture().keys() == set(options)
    assert set(train_config.ARCHITECTURE_FIELDS) & set(settings) == \
        set(options)
    for option in set(train_config.ARCHITECTURE_FIELDS) - set(options):
        with pytest.raises(ValueError, match=f"`{option}` is not an "
                           f"architecture option of backbone '{name}'"):
            train_config.TrainConfig(backbone=name, **{option: 8 if option !=
                                                  "block" else "basic"})


def test_architecture_arguments():
    assert architecture_arguments("resnet") == ("depth", "block", "width")
    assert architecture_arguments("resnet18") == ("depth",)


@pytest.mark.parametrize("name,num_classes,expected", [
    ("resnet", 100, 472_756),  # ResNet-32 (docs/zoo.md)
    ("resnet18", 1000, zoo_checks.PARAMETER_COUNTS[("resnet18", 1000)][0]),
])
def test_plain_network_has_the_papers_parameter_count(name, num_classes,
                                                      expected):
    architecture = {"depth": 32} if name == "resnet" else {}
    network = build_plain_network(name, num_classes, **architecture)
    assert zoo_checks.trainable_count(network) == expected
    assert network.layers[-1].name == "branch0_logits"
    assert network.name == name


def test_plain_network_is_the_one_target_without_one():
    """Same layers, names and shapes as branch 0 of a ONE model: a network
    trained by any method deploys and exports alike."""
    small = {"depth": 8, "width": 4}
    plain = build_plain_network("resnet", 5, (16, 16, 3), **small)
    target = build_one_model("resnet", 5, input_shape=(16, 16, 3),
                             **small).target_model()
    assert [w.path for w in plain.weights] == [w.path for w in target.weights]
    target.set_weights(plain.get_weights())
    images = np.random.default_rng(0).random((2, 16, 16, 3), "float32")
    np.testing.assert_allclose(plain.predict(images, verbose=0),
                               target.predict(images, verbose=0), atol=1e-6)


def test_backbone_parts_take_the_named_configuration_and_overrides():
    parts = backbone_parts("resnext29_8x64d", 10, depth=11, cardinality=1,
                           bottleneck_width=2, widen_factor=1)
    assert parts.input_shape == (32, 32, 3)
    inputs = keras.Input(parts.input_shape)
    logits = parts.build_branch(parts.build_trunk(inputs), "head_")
    assert tuple(logits.shape) == (None, 10)


def test_unknown_backbone_and_argument_are_refused_in_one_line():
    with pytest.raises(ValueError, match="'resnext29_8x64d'.*name='vgg16'"):
        build_plain_network("vgg16", 10)
    with pytest.raises(ValueError, match="growth_rate.*It accepts: depth"):
        build_plain_network("resnet18", 10, growth_rate=12)

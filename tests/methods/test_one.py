"""`one_keras.methods.one.build_one_model`: names, defaults, argument
checks, delegation to the backbone."""

import keras
import numpy as np
import pytest

from one_keras import ONEModel
from one_keras.methods.one import build_one_model
from one_keras.methods.one import build_one_resnet


def trainable_count(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def test_unknown_name_lists_the_allowed_names():
    with pytest.raises(ValueError, match="'resnext29_8x64d'.*name='vgg16'"):
        build_one_model("vgg16", num_classes=10)


def test_unknown_argument_names_the_accepted_ones():
    with pytest.raises(ValueError, match="growth_rate.*It accepts: depth"):
        build_one_model("resnet18", num_classes=10, growth_rate=12)


def test_resnet_delegates_to_build_one_resnet():
    # tests/models/test_resnet_cifar.py checks the sizes against the
    # reference (docs/zoo.md's ResNet-32, CIFAR-100 among them).
    model = build_one_model("resnet", num_classes=100, depth=8, width=4)
    direct = build_one_resnet(depth=8, width=4, num_classes=100)
    assert isinstance(model, ONEModel)
    assert trainable_count(model) == trainable_count(direct)
    assert trainable_count(model.target_model()) == \
        trainable_count(direct.target_model())
    assert model.network.name == "resnet"


def test_one_model_arguments_and_gate_are_passed_on():
    model = build_one_model("densenet_bc_190_40", num_classes=4,
                            num_branches=2, gate="average", depth=10,
                            growth_rate=4, temperature=2.0, weight_decay=0.0,
                            network_name="tiny_densenet")
    assert (model.temperature, model.weight_decay) == (2.0, 0.0)
    assert model.num_branches == 2 and model.num_classes == 4
    assert model.network.name == "tiny_densenet"
    assert type(model.network.get_layer("gate")).__name__ == "UniformGate"


@pytest.mark.parametrize("name,shape", [("resnet", (32, 32, 3)),
                                        ("resnext29_8x64d", (32, 32, 3)),
                                        ("resnet18", (224, 224, 3))])
def test_default_input_shapes(name, shape):
    small = {"resnet": {"depth": 8},
             "resnext29_8x64d": {"depth": 11, "cardinality": 1,
                                 "bottleneck_width": 2, "widen_factor": 1},
             "resnet18": {}}[name]
    model = build_one_model(name, num_classes=10, num_branches=1, **small)
    assert tuple(model.network.input.shape) == (None, *shape)


@pytest.mark.parametrize("name,small", [
    ("resnext29_8x64d", {"depth": 11, "cardinality": 2,
                         "bottleneck_width": 2, "widen_factor": 1}),
    ("densenet_bc_190_40", {"depth": 10, "growth_rate": 4}),
])
def test_keras_round_trip(tmp_path, name, small):
    model = build_one_model(name, num_classes=4, input_shape=(16, 16, 3),
                            **small)
    model.save(tmp_path / "model.keras")
    restored = keras.models.load_model(tmp_path / "model.keras")
    assert isinstance(restored, ONEModel)
    images = np.random.default_rng(0).random((2, 16, 16, 3), "float32")
    np.testing.assert_allclose(
        model.predict(images, verbose=0)["teacher_logits"],
        restored.predict(images, verbose=0)["teacher_logits"], atol=1e-6)

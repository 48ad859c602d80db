"""FLOPs in the paper's convention, checked against its Tables 3-4."""

import keras

from one_keras.methods.one import build_one_resnet
from one_keras.reports import flops


def test_hand_counted_layers():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)  # 64*9*3*4 MACs
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)  # 16*9*4
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5)(x)  # 4*5
    model = keras.Model(inputs, outputs)
    assert flops.count_macs(model) == 64 * 9 * 3 * 4 + 16 * 9 * 4 + 4 * 5
    assert flops.count_flops(model) == 2 * flops.count_macs(model)


def test_resnet32_matches_the_paper():
    """Paper Table 4: ResNet-32 vanilla 1.38e8, ONE training 2.28e8."""
    model = build_one_resnet(depth=32, num_classes=100)
    target = flops.count_flops(model.target_model()) / 1e8
    training = flops.count_flops(model) / 1e8
    assert round(target, 2) == 1.38
    assert abs(training - 2.28) < 0.02


def test_resnet110_matches_the_paper():
    """Paper Table 4: ResNet-110 vanilla 5.05e8, ONE training 8.29e8."""
    model = build_one_resnet(depth=110, num_classes=100)
    target = flops.count_flops(model.target_model()) / 1e8
    training = flops.count_flops(model) / 1e8
    assert abs(target - 5.05) / 5.05 < 0.05
    assert abs(training - 8.29) / 8.29 < 0.05

"""CIFAR DenseNet-BC (Huang et al. 2017) split into a ONE trunk and branches.

DenseNet-BC as in the PyTorch CIFAR code the ONE paper's numbers come from:
a 3x3 stem of `2 * growth_rate` channels, three dense blocks of
`(depth - 4) / 6` bottleneck layers (BN, ReLU, 1x1 conv to
`4 * growth_rate`, BN, ReLU, 3x3 conv to `growth_rate`, concatenated to the
input), and between them transitions (BN, ReLU, 1x1 conv compressing the
channels by `compression`, 2x2 average pooling). The trunk is the stem, dense
blocks 1-2 and both transitions; a branch is a copy of dense block 3, the
final BN and ReLU, global average pooling and the classifier (docs/method.md
section 1).

Paper: https://arxiv.org/abs/1608.06993
"""

import math

import keras

from one_keras.models.common import batch_norm
from one_keras.models.common import classifier
from one_keras.models.common import conv2d
from one_keras.utils import validation


def check_depth(depth):
    """Raises unless `depth` is of the form `6 * n + 4` with n >= 1.

    Args:
        depth: int. The network depth.

    Returns:
        `n`, the number of bottleneck layers per dense block.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 \
            or (depth - 4) % 6:
        raise ValueError("`depth` must be of the form `6 * n + 4` with n >= 1 "
                         f"(e.g. 100, 190). Received: depth={depth}")
    return (depth - 4) // 6


def _check_compression(compression):
    validation.check_positive("compression", compression)
    if compression > 1:
        raise ValueError("`compression` must be in (0, 1] (0.5 for "
                         f"DenseNet-BC). Received: compression={compression}")


def apply_dense_layer(x, growth_rate, name):
    """Bottleneck layer: BN-ReLU-1x1 conv, BN-ReLU-3x3 conv, then concat.

    Args:
        x: Input tensor.
        growth_rate: int. Channels the layer adds.
        name: str. Prefix of every layer name.

    Returns:
        The input with `growth_rate` new channels concatenated.
    """
    y = batch_norm(f"{name}_bn1")(x)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = conv2d(y, 4 * growth_rate, 1, 1, f"{name}_conv1")
    y = batch_norm(f"{name}_bn2")(y)
    y = keras.layers.ReLU(name=f"{name}_relu2")(y)
    y = conv2d(y, growth_rate, 3, 1, f"{name}_conv2")
    return keras.layers.Concatenate(name=f"{name}_concat")([x, y])


def apply_dense_block(x, layers, growth_rate, name):
    """Applies `layers` bottleneck layers of `growth_rate` channels each."""
    for index in range(layers):
        x = apply_dense_layer(x, growth_rate, f"{name}_layer{index + 1}")
    return x


def apply_transition(x, compression, name):
    """Transition: BN, ReLU, 1x1 conv to `floor(channels * compression)`
    channels, 2x2 average pooling."""
    filters = int(math.floor(x.shape[-1] * compression))
    x = batch_norm(f"{name}_bn")(x)
    x = keras.layers.ReLU(name=f"{name}_relu")(x)
    x = conv2d(x, filters, 1, 1, f"{name}_conv")
    return keras.layers.AveragePooling2D(2, name=f"{name}_pool")(x)


def build_densenet_cifar_trunk(inputs, depth=190, growth_rate=40,
                               compression=0.5):
    """Applies the shared trunk: stem, dense blocks 1-2 and transitions 1-2.

    Args:
        inputs: `keras.KerasTensor`. Images `(batch, height, width, channels)`.
        depth: int. Network depth, `6 * n + 4`. Defaults to `190`.
        growth_rate: int. Channels each bottleneck layer adds (`k`).
            Defaults to `40`.
        compression: float. Channel factor of the transitions, in (0, 1].
            Defaults to `0.5` (the "C" of DenseNet-BC).

    Returns:
        The trunk's output tensor (DenseNet-BC-190-40 on 32x32: 8x8x950).
    """
    layers = check_depth(depth)
    validation.check_int_at_least("growth_rate", growth_rate, 1)
    _check_compression(compression)
    x = conv2d(inputs, 2 * growth_rate, 3, 1, "stem_conv")
    for block in (1, 2):
        x = apply_dense_block(x, layers, growth_rate, f"block{block}")
        x = apply_transition(x, compression, f"transition{block}")
    return x


def densenet_cifar_branch_builder(num_classes, depth=190, growth_rate=40):
    """Returns a function that applies one ONE branch: dense block 3 + head.

    Args:
        num_classes: int. Number of classes.
        depth: int. Network depth, `6 * n + 4`. Defaults to `190`.
        growth_rate: int. Channels each bottleneck layer adds. Defaults to
            `40`.

    Returns:
        `build_branch(features, prefix) -> logits`, as
        `one_keras.build_one_network` expects: dense block 3, BN, ReLU,
        global average pooling and the classifier.
    """
    layers = check_depth(depth)
    validation.check_int_at_least("growth_rate", growth_rate, 1)
    validation.check_int_at_least("num_classes", num_classes, 2)

    def build_branch(features, prefix):
        x = apply_dense_block(features, layers, growth_rate, f"{prefix}block3")
        x = batch_norm(f"{prefix}final_bn")(x)
        x = keras.layers.ReLU(name=f"{prefix}final_relu")(x)
        return classifier(x, num_classes, prefix)

    return build_branch

"""CIFAR ResNeXt (Xie et al. 2017) split into a ONE trunk and branches.

ResNeXt-29 (8x64d) as in the PyTorch CIFAR code the ONE paper's numbers come
from: a 3x3 stem of 64 channels, then three stages of `(depth - 2) / 9`
bottleneck blocks with 256, 512 and 1024 output channels and grouped 3x3
convolutions (`cardinality` groups of `bottleneck_width`, doubling each
stage). The trunk is the stem and stages 1-2; a branch is a copy of stage 3,
global average pooling and the classifier (docs/method.md section 1).

Paper: https://arxiv.org/abs/1611.05431
"""

import keras

from one_keras.models.common import batch_norm
from one_keras.models.common import classifier
from one_keras.models.common import conv2d
from one_keras.utils import validation


STEM_WIDTH = 64


def check_depth(depth):
    """Raises unless `depth` is of the form `9 * n + 2` with n >= 1.

    Args:
        depth: int. The network depth.

    Returns:
        `n`, the number of blocks per stage.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 11 \
            or (depth - 2) % 9:
        raise ValueError("`depth` must be of the form `9 * n + 2` with n >= 1 "
                         f"(e.g. 29). Received: depth={depth}")
    return (depth - 2) // 9


def _check_widths(cardinality, bottleneck_width, widen_factor):
    validation.check_int_at_least("cardinality", cardinality, 1)
    validation.check_int_at_least("bottleneck_width", bottleneck_width, 1)
    validation.check_int_at_least("widen_factor", widen_factor, 1)


def apply_resnext_block(x, filters, inner_filters, cardinality, strides,
                        name):
    """ResNeXt bottleneck: 1x1, grouped 3x3 (strided), 1x1; BN, add, ReLU.

    Args:
        x: Input tensor.
        filters: int. Output channels.
        inner_filters: int. Channels of the grouped 3x3 convolution
            (`cardinality * group width`).
        cardinality: int. Number of groups of the 3x3 convolution.
        strides: int. Stride of the 3x3 conv and the shortcut.
        name: str. Prefix of every layer name.

    Returns:
        The block's output tensor.
    """
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = conv2d(x, filters, 1, strides, f"{name}_shortcut_conv")
        shortcut = batch_norm(f"{name}_shortcut_bn")(shortcut)
    y = conv2d(x, inner_filters, 1, 1, f"{name}_conv1")
    y = batch_norm(f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = conv2d(y, inner_filters, 3, strides, f"{name}_conv2",
               groups=cardinality)
    y = batch_norm(f"{name}_bn2")(y)
    y = keras.layers.ReLU(name=f"{name}_relu2")(y)
    y = conv2d(y, filters, 1, 1, f"{name}_conv3")
    y = batch_norm(f"{name}_bn3")(y)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def apply_resnext_stage(x, stage, blocks, cardinality, bottleneck_width,
                        widen_factor, name):
    """Applies stage `stage` (0, 1 or 2): `blocks` ResNeXt blocks.

    The first block of stages 1 and 2 has stride 2. Stage `s` outputs
    `64 * widen_factor * 2**s` channels and its grouped convolutions have
    `cardinality * bottleneck_width * 2**s` channels.
    """
    filters = STEM_WIDTH * widen_factor * 2 ** stage
    inner_filters = cardinality * bottleneck_width * 2 ** stage
    for index in range(blocks):
        strides = 2 if stage > 0 and index == 0 else 1
        x = apply_resnext_block(x, filters, inner_filters, cardinality,
                                strides, f"{name}_block{index + 1}")
    return x


def build_resnext_cifar_trunk(inputs, depth=29, cardinality=8,
                              bottleneck_width=64, widen_factor=4):
    """Applies the shared trunk: stem, stage 1 and stage 2.

    Args:
        inputs: `keras.KerasTensor`. Images `(batch, height, width, channels)`.
        depth: int. Network depth, `9 * n + 2`. Defaults to `29`.
        cardinality: int. Groups of the 3x3 convolutions. Defaults to `8`.
        bottleneck_width: int. Channels per group in stage 1 (the "64d" of
            "8x64d"). Defaults to `64`.
        widen_factor: int. Stage 1 outputs `64 * widen_factor` channels.
            Defaults to `4`.

    Returns:
        The trunk's output tensor (ResNeXt-29 8x64d on 32x32: 16x16x512).
    """
    blocks = check_depth(depth)
    _check_widths(cardinality, bottleneck_width, widen_factor)
    x = conv2d(inputs, STEM_WIDTH, 3, 1, "stem_conv")
    x = batch_norm("stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for stage in (0, 1):
        x = apply_resnext_stage(x, stage, blocks, cardinality,
                                bottleneck_width, widen_factor,
                                f"stage{stage + 1}")
    return x


def resnext_cifar_branch_builder(num_classes, depth=29, cardinality=8,
                                 bottleneck_width=64, widen_factor=4):
    """Returns a function that applies one ONE branch: stage 3 + classifier.

    Args:
        num_classes: int. Number of classes.
        depth: int. Network depth, `9 * n + 2`. Defaults to `29`.
        cardinality: int. Groups of the 3x3 convolutions. Defaults to `8`.
        bottleneck_width: int. Channels per group in stage 1. Defaults to
            `64`.
        widen_factor: int. Stage 1 outputs `64 * widen_factor` channels.
            Defaults to `4`.

    Returns:
        `build_branch(features, prefix) -> logits`, as
        `one_keras.build_one_network` expects.
    """
    blocks = check_depth(depth)
    _check_widths(cardinality, bottleneck_width, widen_factor)
    validation.check_int_at_least("num_classes", num_classes, 2)

    def build_branch(features, prefix):
        x = apply_resnext_stage(features, 2, blocks, cardinality,
                                bottleneck_width, widen_factor,
                                f"{prefix}stage3")
        return classifier(x, num_classes, prefix)

    return build_branch

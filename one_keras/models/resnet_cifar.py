"""CIFAR ResNet (He et al. 2016) split into a ONE trunk and branches.

The trunk is the stem and stages 1-2; a branch is a full copy of stage 3,
global average pooling and the classifier (docs/method.md section 1).
"""

import keras

from one_keras.models.common import batch_norm
from one_keras.models.common import classifier
from one_keras.models.common import conv2d
from one_keras.utils import validation


BLOCKS = ("basic", "bottleneck")
# ResNet-32 of the paper: depth 32, basic blocks, a 16-channel stem.
DEPTH = 32
BLOCK = "basic"
WIDTH = 16


def check_depth(depth):
    """Raises unless `depth` is of the form `6 * n + 2` with n >= 1.

    Args:
        depth: int. The network depth.

    Returns:
        `n`, the number of blocks per stage.
    """
    if not validation.is_int(depth) or depth < 8 or (depth - 2) % 6:
        raise ValueError("`depth` must be of the form `6 * n + 2` with n >= 1 "
                         "(an int: 8, 20, 32, 56, 110, ...). "
                         f"{validation.received('depth', depth)}")
    return (depth - 2) // 6


def apply_basic_block(x, filters, strides, name):
    """Basic block: two 3x3 convs, BN -> add -> ReLU (post-activation).

    Args:
        x: Input tensor.
        filters: int. Output channels.
        strides: int. Stride of the first conv and the shortcut.
        name: str. Prefix of every layer name.

    Returns:
        The block's output tensor.
    """
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = conv2d(x, filters, 1, strides, f"{name}_shortcut_conv")
        shortcut = batch_norm(f"{name}_shortcut_bn")(shortcut)
    y = conv2d(x, filters, 3, strides, f"{name}_conv1")
    y = batch_norm(f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = conv2d(y, filters, 3, 1, f"{name}_conv2")
    y = batch_norm(f"{name}_bn2")(y)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def apply_bottleneck_block(x, filters, strides, name):
    """Bottleneck block: 1x1, 3x3 (strided), 1x1 to `4 * filters` channels.

    Args:
        x: Input tensor.
        filters: int. Inner channels; the output has `4 * filters`.
        strides: int. Stride of the 3x3 conv and the shortcut.
        name: str. Prefix of every layer name.

    Returns:
        The block's output tensor.
    """
    out_filters = 4 * filters
    shortcut = x
    if strides != 1 or x.shape[-1] != out_filters:
        shortcut = conv2d(x, out_filters, 1, strides, f"{name}_shortcut_conv")
        shortcut = batch_norm(f"{name}_shortcut_bn")(shortcut)
    y = conv2d(x, filters, 1, 1, f"{name}_conv1")
    y = batch_norm(f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = conv2d(y, filters, 3, strides, f"{name}_conv2")
    y = batch_norm(f"{name}_bn2")(y)
    y = keras.layers.ReLU(name=f"{name}_relu2")(y)
    y = conv2d(y, out_filters, 1, 1, f"{name}_conv3")
    y = batch_norm(f"{name}_bn3")(y)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def apply_stage(x, blocks, filters, strides, block, name):
    """Applies `blocks` residual blocks; the first one carries the stride."""
    apply_block = {"basic": apply_basic_block,
                   "bottleneck": apply_bottleneck_block}[block]
    for index in range(blocks):
        x = apply_block(x, filters, strides if index == 0 else 1,
                        f"{name}_block{index + 1}")
    return x


def build_resnet_trunk(inputs, depth=DEPTH, block=BLOCK, width=WIDTH):
    """Applies the shared trunk: stem, stage 1 and stage 2.

    Args:
        inputs: `keras.KerasTensor`. Images `(batch, height, width, channels)`.
        depth: int. Network depth, `6 * n + 2`. Defaults to `32`.
        block: str. `"basic"` or `"bottleneck"`. Defaults to `"basic"`.
        width: int. Channels of the stem and stage 1 (stages 2 and 3 double
            it each). Defaults to `16`.

    Returns:
        The trunk's output tensor (ResNet-32 on 32x32: 16x16x32).
    """
    blocks = check_depth(depth)
    validation.check_choice("block", block, BLOCKS)
    validation.check_int_at_least("width", width, 1)
    x = conv2d(inputs, width, 3, 1, "stem_conv")
    x = batch_norm("stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = apply_stage(x, blocks, width, 1, block, "stage1")
    return apply_stage(x, blocks, 2 * width, 2, block, "stage2")


def resnet_branch_builder(num_classes, depth=DEPTH, block=BLOCK,
                          width=WIDTH):
    """Returns a function that applies one ONE branch: stage 3 + classifier.

    Args:
        num_classes: int. Number of classes.
        depth: int. Network depth, `6 * n + 2`. Defaults to `32`.
        block: str. `"basic"` or `"bottleneck"`. Defaults to `"basic"`.
        width: int. Stem width; stage 3 has `4 * width` (inner) channels.
            Defaults to `16`.

    Returns:
        `build_branch(features, prefix) -> logits`, as
        `one_keras.build_one_network` expects.
    """
    blocks = check_depth(depth)
    validation.check_choice("block", block, BLOCKS)
    validation.check_int_at_least("num_classes", num_classes, 2)

    def build_branch(features, prefix):
        x = apply_stage(features, blocks, 4 * width, 2, block,
                        f"{prefix}stage3")
        return classifier(x, num_classes, prefix)

    return build_branch

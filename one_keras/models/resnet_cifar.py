"""CIFAR ResNet (He et al. 2016) split into a ONE trunk and branches.

The trunk is the stem and stages 1-2; a branch is a full copy of stage 3,
global average pooling and the classifier (REFERENCE.md section 1).
"""

import keras

from one_keras import validation
from one_keras.layers import FusedBatchNormalization

BLOCKS = ("basic", "bottleneck")


def conv_initializer():
    """He normal initialisation with fan-out, as the authors' PyTorch code."""
    return keras.initializers.VarianceScaling(
        2.0, mode="fan_out", distribution="untruncated_normal")


def dense_initializers(fan_in):
    """PyTorch's default `nn.Linear` initialisation, U(+-1/sqrt(fan_in)).

    Args:
        fan_in: int. Number of input features.

    Returns:
        A `(kernel_initializer, bias_initializer)` pair.
    """
    bound = fan_in ** -0.5
    kernel = keras.initializers.VarianceScaling(
        1.0 / 3.0, mode="fan_in", distribution="uniform")
    return kernel, keras.initializers.RandomUniform(-bound, bound)


def batch_norm(name):
    """BatchNorm with PyTorch's defaults (momentum 0.1, eps 1e-5).

    It trains with TensorFlow's fused kernel (`FusedBatchNormalization`),
    which is what makes a Keras ResNet step as fast as PyTorch's on CPU.
    """
    return FusedBatchNormalization(momentum=0.9, epsilon=1e-5, name=name)


def check_depth(depth):
    """Raises unless `depth` is of the form `6 * n + 2` with n >= 1.

    Args:
        depth: int. The network depth.

    Returns:
        `n`, the number of blocks per stage.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 \
            or (depth - 2) % 6:
        raise ValueError("`depth` must be of the form `6 * n + 2` with n >= 1 "
                         f"(e.g. 8, 20, 32, 56, 110). Received: depth={depth}")
    return (depth - 2) // 6


def conv(x, filters, kernel_size, strides, name):
    """A bias-free 'same' convolution with the ResNet initialisation."""
    return keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same", use_bias=False,
        kernel_initializer=conv_initializer(), name=name)(x)


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
        shortcut = conv(x, filters, 1, strides, f"{name}_shortcut_conv")
        shortcut = batch_norm(f"{name}_shortcut_bn")(shortcut)
    y = conv(x, filters, 3, strides, f"{name}_conv1")
    y = batch_norm(f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = conv(y, filters, 3, 1, f"{name}_conv2")
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
        shortcut = conv(x, out_filters, 1, strides, f"{name}_shortcut_conv")
        shortcut = batch_norm(f"{name}_shortcut_bn")(shortcut)
    y = conv(x, filters, 1, 1, f"{name}_conv1")
    y = batch_norm(f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = conv(y, filters, 3, strides, f"{name}_conv2")
    y = batch_norm(f"{name}_bn2")(y)
    y = keras.layers.ReLU(name=f"{name}_relu2")(y)
    y = conv(y, out_filters, 1, 1, f"{name}_conv3")
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


def build_resnet_trunk(inputs, depth=32, block="basic", width=16):
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
    x = conv(inputs, width, 3, 1, "stem_conv")
    x = batch_norm("stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = apply_stage(x, blocks, width, 1, block, "stage1")
    return apply_stage(x, blocks, 2 * width, 2, block, "stage2")


def resnet_branch_builder(num_classes, depth=32, block="basic", width=16):
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
        x = keras.layers.GlobalAveragePooling2D(name=f"{prefix}pool")(x)
        kernel, bias = dense_initializers(x.shape[-1])
        return keras.layers.Dense(num_classes, kernel_initializer=kernel,
                                  bias_initializer=bias,
                                  name=f"{prefix}logits")(x)

    return build_branch

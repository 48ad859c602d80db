"""ImageNet ResNet-18 (He et al. 2016) split into a ONE trunk and branches.

The torchvision architecture: a 7x7/2 stem of 64 channels with BN, ReLU and
3x3/2 max pooling, then four stages of basic blocks (64, 128, 256 and 512
channels; stride 2 at the first block of stages 2-4; 1x1 conv + BN shortcut
where the shape changes). The trunk is the stem and stages 1-3; a branch is a
copy of stage 4, global average pooling and the classifier (docs/method.md
section 1).

Paper: https://arxiv.org/abs/1512.03385
"""

import keras

from one_keras.models.common import batch_norm
from one_keras.models.common import classifier
from one_keras.models.common import conv2d
from one_keras.models.resnet_cifar import apply_basic_block
from one_keras.utils import validation


STAGE_WIDTHS = (64, 128, 256, 512)
BLOCKS_PER_STAGE = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


def check_depth(depth):
    """Raises unless `depth` is 18 or 34 (the basic-block ImageNet ResNets).

    Args:
        depth: int. The network depth.

    Returns:
        The number of blocks of each of the four stages.
    """
    validation.check_choice("depth", depth, tuple(BLOCKS_PER_STAGE))
    return BLOCKS_PER_STAGE[depth]


def apply_imagenet_stem(inputs):
    """7x7/2 conv (64), BN, ReLU, 3x3/2 max pooling, padded as in PyTorch.

    Args:
        inputs: `keras.KerasTensor`. Images `(batch, height, width, channels)`.

    Returns:
        The stem's output: 64 channels at a quarter of the input resolution.
    """
    x = conv2d(inputs, 64, 7, 2, "stem_conv")
    x = batch_norm("stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
    return keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)


def apply_stage(x, stage, blocks, name):
    """Applies stage `stage` (0-3): `blocks` basic blocks, stride 2 first
    except in stage 0."""
    for index in range(blocks):
        strides = 2 if stage > 0 and index == 0 else 1
        x = apply_basic_block(x, STAGE_WIDTHS[stage], strides,
                              f"{name}_block{index + 1}")
    return x


def build_resnet_imagenet_trunk(inputs, depth=18):
    """Applies the shared trunk: stem and stages 1-3.

    Args:
        inputs: `keras.KerasTensor`. Images `(batch, height, width, channels)`.
        depth: int. 18 or 34. Defaults to `18`.

    Returns:
        The trunk's output tensor (on 224x224: 14x14x256).
    """
    blocks = check_depth(depth)
    x = apply_imagenet_stem(inputs)
    for stage in range(3):
        x = apply_stage(x, stage, blocks[stage], f"stage{stage + 1}")
    return x


def resnet_imagenet_branch_builder(num_classes, depth=18):
    """Returns a function that applies one ONE branch: stage 4 + classifier.

    Args:
        num_classes: int. Number of classes.
        depth: int. 18 or 34. Defaults to `18`.

    Returns:
        `build_branch(features, prefix) -> logits`, as
        `one_keras.build_one_network` expects.
    """
    blocks = check_depth(depth)
    validation.check_int_at_least("num_classes", num_classes, 2)

    def build_branch(features, prefix):
        x = apply_stage(features, 3, blocks[3], f"{prefix}stage4")
        return classifier(x, num_classes, prefix)

    return build_branch

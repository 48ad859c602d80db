"""ImageNet ResNeXt-50 (32x4d) (Xie et al. 2017) split for ONE.

The torchvision architecture: the ResNet stem (7x7/2 conv, BN, ReLU, 3x3/2
max pooling), then four stages of (3, 4, 6, 3) bottleneck blocks with 256,
512, 1024 and 2048 output channels; each block is 1x1 conv, grouped 3x3 conv
(`cardinality` groups of `bottleneck_width` channels in stage 1, doubling
each stage; stride 2 here at the first block of stages 2-4) and 1x1 conv,
with a 1x1 conv + BN shortcut where the shape changes. The trunk is the stem
and stages 1-3; a branch is a copy of stage 4, global average pooling and
the classifier (docs/method.md section 1).

Paper: https://arxiv.org/abs/1611.05431
"""

from one_keras.models.common import classifier
from one_keras.models.resnet_imagenet import apply_imagenet_stem
from one_keras.models.resnext_cifar import apply_resnext_block
from one_keras.utils import validation


BLOCKS_PER_STAGE = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
STAGE_WIDTHS = (256, 512, 1024, 2048)


def check_depth(depth):
    """Raises unless `depth` is 50 or 101.

    Args:
        depth: int. The network depth.

    Returns:
        The number of blocks of each of the four stages.
    """
    validation.check_choice("depth", depth, tuple(BLOCKS_PER_STAGE))
    return BLOCKS_PER_STAGE[depth]


def _check_widths(cardinality, bottleneck_width):
    validation.check_int_at_least("cardinality", cardinality, 1)
    validation.check_int_at_least("bottleneck_width", bottleneck_width, 1)


def apply_stage(x, stage, blocks, cardinality, bottleneck_width, name):
    """Applies stage `stage` (0-3): `blocks` ResNeXt blocks whose grouped
    convolutions have `cardinality * bottleneck_width * 2**stage` channels;
    the first block of stages 1-3 has stride 2."""
    inner_filters = cardinality * bottleneck_width * 2 ** stage
    for index in range(blocks):
        strides = 2 if stage > 0 and index == 0 else 1
        x = apply_resnext_block(x, STAGE_WIDTHS[stage], inner_filters,
                                cardinality, strides,
                                f"{name}_block{index + 1}")
    return x


def build_resnext_imagenet_trunk(inputs, depth=50, cardinality=32,
                                 bottleneck_width=4):
    """Applies the shared trunk: stem and stages 1-3.

    Args:
        inputs: `keras.KerasTensor`. Images `(batch, height, width, channels)`.
        depth: int. 50 or 101. Defaults to `50`.
        cardinality: int. Groups of the 3x3 convolutions. Defaults to `32`.
        bottleneck_width: int. Channels per group in stage 1 (the "4d" of
            "32x4d"). Defaults to `4`.

    Returns:
        The trunk's output tensor (on 224x224: 14x14x1024).
    """
    blocks = check_depth(depth)
    _check_widths(cardinality, bottleneck_width)
    x = apply_imagenet_stem(inputs)
    for stage in range(3):
        x = apply_stage(x, stage, blocks[stage], cardinality,
                        bottleneck_width, f"stage{stage + 1}")
    return x


def resnext_imagenet_branch_builder(num_classes, depth=50, cardinality=32,
                                    bottleneck_width=4):
    """Returns a function that applies one ONE branch: stage 4 + classifier.

    Args:
        num_classes: int. Number of classes.
        depth: int. 50 or 101. Defaults to `50`.
        cardinality: int. Groups of the 3x3 convolutions. Defaults to `32`.
        bottleneck_width: int. Channels per group in stage 1. Defaults to
            `4`.

    Returns:
        `build_branch(features, prefix) -> logits`, as
        `one_keras.build_one_network` expects.
    """
    blocks = check_depth(depth)
    _check_widths(cardinality, bottleneck_width)
    validation.check_int_at_least("num_classes", num_classes, 2)

    def build_branch(features, prefix):
        x = apply_stage(features, 3, blocks[3], cardinality, bottleneck_width,
                        f"{prefix}stage4")
        return classifier(x, num_classes, prefix)

    return build_branch

"""Layers shared by the model zoo, initialised and padded as in PyTorch."""

import keras

from one_keras.models.initializers import conv_initializer
from one_keras.models.initializers import dense_initializers
from one_keras.models.layers import FusedBatchNormalization
from one_keras.models.layers import batch_norm_synchronized
from one_keras.models.layers import synchronized_batch_norm


__all__ = ["batch_norm", "batch_norm_synchronized", "classifier", "conv2d",
           "conv_initializer", "dense_initializers",
           "synchronized_batch_norm"]


def batch_norm(name):
    """BatchNorm with PyTorch's defaults (momentum 0.1, eps 1e-5).

    It trains with TensorFlow's fused kernel (`FusedBatchNormalization`),
    which is what makes a Keras ResNet step as fast as PyTorch's on CPU.
    Inside `synchronized_batch_norm()` it is synchronized across replicas.
    """
    return FusedBatchNormalization(
        momentum=0.9, epsilon=1e-5, synchronized=batch_norm_synchronized(),
        name=name)


def conv2d(x, filters, kernel_size, strides, name, groups=1):
    """A bias-free convolution padded as PyTorch's `padding=kernel_size // 2`.

    Keras' `"same"` padding puts the extra row and column at the bottom and
    right when the stride is 2; PyTorch pads both sides equally. Strided
    convolutions therefore get an explicit `ZeroPadding2D` (named
    `f"{name}_pad"`), so that the layers compute what the PyTorch models
    compute and could load their weights.

    Args:
        x: Input tensor `(batch, height, width, channels)`.
        filters: int. Output channels.
        kernel_size: int. Square kernel size, odd.
        strides: int. Stride.
        name: str. Name of the convolution layer.
        groups: int. Number of channel groups (grouped convolution, as in
            ResNeXt). Defaults to `1`.

    Returns:
        The convolution's output tensor.
    """
    padding = "same"
    if strides > 1 and kernel_size > 1:
        x = keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        padding = "valid"
    return keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding,
        groups=groups, use_bias=False, kernel_initializer=conv_initializer(),
        name=name)(x)


def classifier(x, num_classes, prefix):
    """Global average pooling and a Dense classifier with PyTorch's init.

    Args:
        x: Input tensor `(batch, height, width, channels)`.
        num_classes: int. Number of classes.
        prefix: str. The branch prefix: the layers are named
            `f"{prefix}pool"` and `f"{prefix}logits"`.

    Returns:
        The logits `(batch, num_classes)`.
    """
    x = keras.layers.GlobalAveragePooling2D(name=f"{prefix}pool")(x)
    kernel, bias = dense_initializers(x.shape[-1])
    return keras.layers.Dense(num_classes, kernel_initializer=kernel,
                              bias_initializer=bias, name=f"{prefix}logits")(x)

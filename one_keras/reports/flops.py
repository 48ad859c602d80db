"""Forward FLOPs per image, counted from a Keras graph.

The paper's convention (Tables 3-4) is FLOPs = 2 x multiply-accumulates of
the convolution and fully connected layers: ResNet-32 on CIFAR counts
0.69e8 MACs, i.e. the paper's 1.38e8 FLOPs. BatchNorm, activations, pooling
and biases are not counted.
"""

import math

import keras


def _layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        else:
            yield layer


def count_macs(model):
    """Multiply-accumulates of one forward pass of one image.

    Counts `Conv2D`, `DepthwiseConv2D` and `Dense` layers of a functional
    model (nested functional models included), each once.

    Args:
        model: `keras.Model`. A built functional model.

    Returns:
        int. Multiply-accumulates per image.
    """
    total = 0
    for layer in _layers(model):
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            out = layer.output.shape
            kh, kw = layer.kernel_size
            total += math.prod(out[1:]) * kh * kw
        elif isinstance(layer, keras.layers.Conv2D):
            out = layer.output.shape
            kh, kw = layer.kernel_size
            in_channels = layer.input.shape[-1] // layer.groups
            total += math.prod(out[1:]) * kh * kw * in_channels
        elif isinstance(layer, keras.layers.Dense):
            positions = math.prod(layer.input.shape[1:-1])
            total += positions * layer.input.shape[-1] * layer.units
    return int(total)


def count_flops(model):
    """Forward FLOPs per image in the paper's convention (2 x MACs)."""
    return 2 * count_macs(model)

"""Weight initialisers of the authors' PyTorch code, shared by every
network.

They sit below both the ONE network builder (`methods/one/one_network.py`)
and the model zoo (`models/`), so neither has to import the other for them.
"""

import keras


__all__ = ["conv_initializer", "dense_initializers"]


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

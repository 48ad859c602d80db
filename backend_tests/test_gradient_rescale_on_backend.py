"""CL-ILR's backpropagation rescaling on the backend under test (its
`keras.ops.custom_gradient` on JAX, its autograd function on torch)."""

import keras
import numpy as np
import pytest

from one_keras.methods.cl_ilr import GradientRescale


def _gradient(function, x):
    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        return np.asarray(jax.grad(function)(x))
    if backend == "torch":
        import torch
        value = torch.tensor(x, requires_grad=True)
        function(value).backward()
        return value.grad.numpy()
    pytest.skip(f"no gradient helper for backend {backend!r}")


@pytest.mark.parametrize("training, expected", [(True, 0.75), (False, 3.0)])
def test_rescaling_scales_the_gradient_in_training_only(training, expected):
    layer = GradientRescale(0.25)
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer(x, training=training)), x)
    grad = _gradient(
        lambda v: keras.ops.sum(3.0 * layer(v, training=training)), x)
    np.testing.assert_allclose(grad, np.full((2, 3), expected))

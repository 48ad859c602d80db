"""The layers of the ONE network that Keras does not ship."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="one_keras")
class UniformGate(keras.layers.Layer):
    """Gate that weighs every branch equally: `1 / num_branches` each.

    It stands in for the learned gate in the paper's "without gating"
    ablation and in the plain network (one branch).

    Args:
        num_branches: int. Number of branches.
    """

    def __init__(self, num_branches, **kwargs):
        super().__init__(**kwargs)
        self.num_branches = num_branches

    def call(self, features):
        batch = ops.shape(features)[0]
        return ops.full((batch, self.num_branches), 1.0 / self.num_branches,
                        dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_branches)

    def get_config(self):
        return {**super().get_config(), "num_branches": self.num_branches}

"""The parameter counts of a model, one function a meaning.

A run's report counts parameters in two senses: what a training step
updates (`count_trainable`: `params_train`, `params_ensemble`) and what a
user ships (`count_shipped`: `params_target`, frozen weights included,
BatchNorm moving statistics not). Keras' own
`count_params()` counts every weight a file stores, BatchNorm moving
statistics included: the `params` of an export report.
"""

import numpy as np


def count_trainable(model):
    """Number of trainable parameters (no BatchNorm moving statistics).

    Args:
        model: `keras.Model`.

    Returns:
        int. Frozen weights (a KD teacher, stored snapshots) do not count.
    """
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


def count_shipped(model):
    """Weights of `model` a user ships, without BatchNorm moving statistics.

    Args:
        model: `keras.Model`.

    Returns:
        int. Frozen weights count too (the snapshots of a snapshot
        ensemble).
    """
    return int(sum(np.prod(w.shape) for w in model.weights
                   if "moving_" not in w.path))

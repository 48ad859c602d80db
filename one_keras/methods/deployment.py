"""What a trained method model deploys, runs and ships (for reports and costs)."""

import numpy as np

__all__ = ["count_parameters", "deployed_model", "training_networks"]


def deployed_model(model):
    """What a user deploys from a trained method model (see
    `one_keras.methods`); a plain Keras model is returned as it is."""
    if hasattr(model, "deployed_model"):
        return model.deployed_model()
    return model


def training_networks(model):
    """The networks one training step runs forward (for TrCost).

    Args:
        model: A model from `build_method_model`.

    Returns:
        A list of `keras.Model`: the student and its teacher for KD, else
        the network being trained (a snapshot run trains one network; the
        stored snapshots only run at test time).
    """
    return model.training_networks()


def count_parameters(model):
    """Weights of `model` a user ships, without BatchNorm moving statistics.

    Frozen weights count too (the snapshots of a snapshot ensemble).

    Args:
        model: `keras.Model`.

    Returns:
        int.
    """
    return int(sum(np.prod(w.shape) for w in model.weights
                   if "moving_" not in w.path))

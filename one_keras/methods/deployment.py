"""What a trained method model deploys (see `one_keras.models.deployment` for how
a deployable is made)."""

from one_keras.models.deployment import core_of


__all__ = ["deployed_model"]


def deployed_model(model):
    """What a user deploys or distils from: a method model's default
    deployable (normalised images -> logits, see
    `MethodModel.deployed_model`); a deployed `.keras` without its
    normalisation (`deployment.core_of`); any other model as it is."""
    if hasattr(model, "deployable_cores"):
        return model.deployed_model()
    return core_of(model)

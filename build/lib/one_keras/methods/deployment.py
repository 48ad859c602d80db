"""What a trained method model deploys."""

__all__ = ["deployed_model"]


def deployed_model(model):
    """What a user deploys from a trained method model (see
    `one_keras.methods`); a plain Keras model is returned as it is."""
    if hasattr(model, "deployed_model"):
        return model.deployed_model()
    return model

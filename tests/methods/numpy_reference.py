"""NumPy references of the methods' loss pieces, shared by the tests that
check a method's loss against its formula, and their tiny data."""

import numpy as np


def log_softmax(z):
    """Log-softmax over the last axis."""
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def softmax(z):
    """Softmax over the last axis."""
    return np.exp(log_softmax(z))


def cross_entropy(z, labels):
    """Per-sample CE of logits `(..., batch, classes)`."""
    return -(log_softmax(z) * np.eye(z.shape[-1])[labels]).sum(-1)


def kl(target, logits, temperature):
    """`T^2 KL(softmax(target / T) || softmax(logits / T))` per row."""
    log_q = log_softmax(target / temperature)
    log_p = log_softmax(logits / temperature)
    return temperature ** 2 * (np.exp(log_q) * (log_q - log_p)).sum(-1)


def data(count=6, seed=0):
    """`count` random 8x8 images and labels of 4 classes."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(count, 8, 8, 3)).astype("float32"),
            rng.integers(0, 4, size=count))


def decay(variables, weight_decay):
    """Coupled L2 weight decay, `(weight_decay / 2) * sum(w^2)`."""
    return 0.5 * weight_decay * sum(float(np.sum(v.numpy() ** 2))
                                    for v in variables)

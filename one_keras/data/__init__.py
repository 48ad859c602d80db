"""Datasets for ONE training, by name."""

from one_keras import validation
from one_keras.data.dataset import Dataset
from one_keras.data.dataset import normalize
from one_keras.data.digits import load_digits

LOADERS = {"digits": load_digits}


def dataset_names():
    """Returns the names `load_dataset` accepts."""
    return tuple(LOADERS)


def load_dataset(name):
    """Loads a dataset by name.

    Args:
        name: str. One of `dataset_names()`.

    Returns:
        A `one_keras.data.Dataset`.
    """
    validation.check_choice("dataset", name, dataset_names())
    return LOADERS[name]()


__all__ = ["Dataset", "dataset_names", "load_dataset", "normalize"]

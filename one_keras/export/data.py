"""Data the exporter calibrates and verifies with, looked up by name.

Each loader returns raw images (float32 pixels in [0, 255], NHWC) and integer
labels. Add a dataset by writing a loader and adding it to `DATASETS`.
"""

import numpy as np

from one_keras import validation
from one_keras.data import normalize as normalize_tensor
from one_keras.data.digits import load_digits_arrays

SPLITS = ("train", "test")


def load_digits(split):
    """The scikit-learn 8x8 digits, split exactly as training splits them.

    Args:
        split: str. `"train"` (1,437 images) or `"test"` (360 images).

    Returns:
        A pair `(images, labels)`: float32 `(n, 8, 8, 1)` in [0, 255] and
        int32 `(n,)`.
    """
    validation.check_choice("split", split, SPLITS)
    train, test = load_digits_arrays()
    return train if split == "train" else test


DATASETS = {"digits": load_digits}


def load_dataset(name, split):
    """Loads a dataset from `DATASETS` by name.

    Args:
        name: str. A key of `DATASETS`.
        split: str. `"train"` (calibration, QAT) or `"test"` (verification).

    Returns:
        A pair `(images, labels)` of raw 0-255 float32 images and int labels.
    """
    validation.check_choice("dataset", name, tuple(DATASETS))
    return DATASETS[name](split)


def normalize(images, normalization):
    """Applies a recorded normalisation to raw 0-255 pixels.

    Args:
        images: array. Raw pixels in [0, 255], channels last.
        normalization: dict or `None`. `{"mean": [...], "std": [...]}` per
            channel, for pixels scaled to [0, 1]; `None` leaves the pixels
            as they are.

    Returns:
        A float32 array: `(images / 255 - mean) / std`.
    """
    images = np.asarray(images, dtype="float32")
    if normalization is None:
        return images
    return normalize_tensor(images, normalization).numpy()

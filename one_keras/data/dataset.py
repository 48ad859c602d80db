"""`Dataset`: the splits of a dataset and what a model needs to know of it."""

import dataclasses

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A loaded dataset, ready for `ONEModel.fit`.

    Attributes:
        name: str. The dataset's name.
        train: `tf.data.Dataset` of `(image, label)`, unbatched, normalised.
        test: `tf.data.Dataset` of `(image, label)`, unbatched, normalised.
        num_classes: int. Number of classes.
        input_shape: tuple. Shape of one image, `(height, width, channels)`.
        normalization: dict. `{"mean": [...], "std": [...]}` per channel,
            applied to pixels scaled to [0, 1].
        num_train: int. Number of training images.
        num_test: int. Number of test images.
    """

    name: str
    train: tf.data.Dataset
    test: tf.data.Dataset
    num_classes: int
    input_shape: tuple
    normalization: dict
    num_train: int
    num_test: int


def normalize(images, normalization):
    """Maps raw 0-255 pixels to the network's input: `(x / 255 - mean) / std`.

    Args:
        images: Tensor of raw pixels in [0, 255], channels last.
        normalization: dict. `{"mean": [...], "std": [...]}` per channel.

    Returns:
        The normalised float32 images.
    """
    mean = tf.constant(normalization["mean"], tf.float32)
    std = tf.constant(normalization["std"], tf.float32)
    return (tf.cast(images, tf.float32) / 255.0 - mean) / std

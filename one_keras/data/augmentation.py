"""Training augmentations by name: what `--augment` chooses.

`"auto"` keeps each dataset's own recipe: the paper's for the tfds datasets
(CIFAR: pad-4 random crop and flip; SVHN: none; ImageNet: random resized
crop and flip) and, for image folders, pad-crop-flip for small images (up to
`SMALL_IMAGE_SIDE` pixels, CIFAR-like) and random resized crop and flip for
larger ones. The other names choose one recipe for any dataset.
"""

import dataclasses
import functools


try:  # Only the tf.data path needs TensorFlow (see one_keras.utils.backends).
    import tensorflow as tf
except ImportError:
    tf = None

from one_keras.data import preprocessing
from one_keras.utils import validation


AUGMENTATIONS = ("auto", "none", "flip", "pad_crop_flip",
                 "random_resized_crop_flip")
SMALL_IMAGE_SIDE = 64


def image_folder_default(size):
    """The `"auto"` recipe of an image folder whose inputs are `size` px."""
    if size <= SMALL_IMAGE_SIDE:
        return "pad_crop_flip"
    return "random_resized_crop_flip"


def augmentation_fn(name, input_shape, eval_transform=None):
    """The `augment(image, seed)` callable of a named recipe.

    Args:
        name: str. One of `AUGMENTATIONS` except `"auto"`.
        input_shape: tuple. The network input, `(side, side, channels)`.
        eval_transform: callable or `None`. Maps a raw image to the input
            size (resize, centre crop); `None` for fixed-size datasets.

    Returns:
        `augment(image, seed)` mapping a raw image to an augmented float32
        image of `input_shape`, or `None` for `"none"`.
    """
    validation.check_choice("augment", name, AUGMENTATIONS[1:])
    prepare = eval_transform or (lambda image: tf.cast(image, tf.float32))
    if name == "none":
        return None
    if name == "flip":
        return lambda image, seed: preprocessing.flip(prepare(image), seed)
    if name == "pad_crop_flip":
        return lambda image, seed: preprocessing.pad_crop_flip(
            prepare(image), seed)
    return functools.partial(preprocessing.random_resized_crop_flip,
                             size=input_shape[0])


def with_augmentation(dataset, name):
    """`dataset` training with the recipe `name` (`"auto"`: its own).

    Args:
        dataset: `one_keras.data.Dataset`.
        name: str. One of `AUGMENTATIONS`.

    Returns:
        A `Dataset` whose `augment` and `augmentation` follow `name`.
    """
    validation.check_choice("augment", name, AUGMENTATIONS)
    if name == "auto":
        return dataset
    return dataclasses.replace(
        dataset, augmentation=name, augment=augmentation_fn(
            name, dataset.input_shape, dataset.eval_transform))

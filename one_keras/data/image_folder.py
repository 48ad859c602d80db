"""Your own images: `DIR/train/<class>/*` and `DIR/test/<class>/*` (or val/).

JPEG, PNG, GIF or BMP of any size, resized to `image_size` x `image_size`.
Classes are the sorted sub-folder names of `train/`. Training adds a random
horizontal flip; images are normalised with the ImageNet mean and std.
"""

import functools
import os
import random

import tensorflow as tf

from one_keras.data import preprocessing
from one_keras.data.dataset import Dataset
from one_keras.data.dataset import DatasetNotFoundError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")
DEFAULT_IMAGE_SIZE = 64


def _list_split(directory, classes):
    paths, labels = [], []
    for label, name in enumerate(classes):
        folder = os.path.join(directory, name)
        if not os.path.isdir(folder):
            continue
        for file in sorted(os.listdir(folder)):
            if file.lower().endswith(EXTENSIONS):
                paths.append(os.path.join(folder, file))
                labels.append(label)
    return paths, labels


def _shuffled(paths, labels, seed):
    """The files in a seeded random order: any prefix samples every class."""
    order = list(range(len(paths)))
    random.Random(seed).shuffle(order)
    return [paths[i] for i in order], [labels[i] for i in order]


def _decode(path, label):
    image = tf.io.decode_image(tf.io.read_file(path), channels=3,
                               expand_animations=False)
    return image, label


def load_image_folder(data_dir=None, download=False, seed=0,
                      image_size=None):
    """Loads an image folder as a `one_keras.data.Dataset`.

    Args:
        data_dir: str. The folder holding `train/` and `test/` (or `val/`).
        download: bool. Unused (nothing to download).
        seed: int. Seed of the file order (sorted, then shuffled), so that
            the first images of a split sample all its classes.
        image_size: int or `None`. Side of the square network input.
            Defaults to `64`.

    Returns:
        A `Dataset` of `(image_size, image_size, 3)` images.
    """
    del download
    size = image_size or DEFAULT_IMAGE_SIZE
    layout = ("--data_dir must hold train/<class>/<image> and "
              "test/<class>/<image> (or val/<class>/<image>)")
    if not data_dir or not os.path.isdir(os.path.join(data_dir, "train")):
        raise DatasetNotFoundError(
            f"Dataset 'image_folder' not found in --data_dir={data_dir}: "
            f"{layout}.")
    test_dir = os.path.join(data_dir, "test")
    if not os.path.isdir(test_dir):
        test_dir = os.path.join(data_dir, "val")
    if not os.path.isdir(test_dir):
        raise DatasetNotFoundError(
            f"Dataset 'image_folder' in --data_dir={data_dir} has no test/ "
            f"or val/ folder: {layout}.")
    train_dir = os.path.join(data_dir, "train")
    classes = sorted(d for d in os.listdir(train_dir)
                     if os.path.isdir(os.path.join(train_dir, d)))
    train_paths, train_labels = _shuffled(*_list_split(train_dir, classes),
                                          seed)
    test_paths, test_labels = _shuffled(*_list_split(test_dir, classes), 0)
    if len(classes) < 2 or not train_paths or not test_paths:
        raise DatasetNotFoundError(
            f"Dataset 'image_folder' in --data_dir={data_dir} needs at least "
            f"2 class folders and images ({', '.join(EXTENSIONS)}) in train/ "
            f"and test/. Found {len(classes)} classes, {len(train_paths)} "
            f"train and {len(test_paths)} test images.")

    def source(paths, labels):
        data = tf.data.Dataset.from_tensor_slices(
            (paths, tf.constant(labels, tf.int32)))
        return data.map(_decode, num_parallel_calls=tf.data.AUTOTUNE)

    resize = functools.partial(preprocessing.resize_to, size=size)
    return Dataset(
        name="image_folder", train_source=source(train_paths, train_labels),
        test_source=source(test_paths, test_labels),
        num_classes=len(classes), input_shape=(size, size, 3),
        normalization=preprocessing.IMAGENET_NORMALIZATION,
        num_train=len(train_paths), num_test=len(test_paths),
        augment=lambda image, seed: preprocessing.flip(resize(image), seed),
        eval_transform=resize,
        cacheable=len(train_paths) * size * size * 3 < 2**31)

"""Your own images: `DIR/train/<class>/*` and `DIR/test/<class>/*` (or val/).

JPEG, PNG, GIF or BMP of any size, resized to `image_size` x `image_size`.
Classes are the sorted sub-folder names of `train/`. Training augments with
pad-4 random crops and flips up to 64 px (CIFAR-like images), random resized
crops and flips beyond (`one_keras.data.augmentation`); images are
normalised with the ImageNet mean and std.
"""

import functools
import os
import random
import re
import stat

import numpy as np


try:  # Only the tf.data path needs TensorFlow (see one_keras.utils.backends).
    import tensorflow as tf
except ImportError:
    tf = None
from absl import logging

from one_keras.data import augmentation
from one_keras.data import preprocessing
from one_keras.data.dataset import Dataset
from one_keras.data.dataset import DatasetNotFoundError


EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")
DEFAULT_IMAGE_SIZE = 64
# Characters that break a line or a terminal: C0 controls and DEL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
    """Decodes one file. JPEGs use the accurate (integer) inverse DCT, as
    PIL and so torchvision do, rather than TensorFlow's fast default, which
    moves 65% of CIFAR-10 JPEG pixel values by up to 5 levels."""
    contents = tf.io.read_file(path)
    image = tf.cond(
        tf.io.is_jpeg(contents),
        lambda: tf.io.decode_jpeg(contents, channels=3,
                                  dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(contents, channels=3,
                                   expand_animations=False))
    return tf.ensure_shape(image, (None, None, 3)), label


def decodable(paths):
    """Which image files decode as training decodes them, in one pass.

    Each file is read and decoded once, in parallel, by `tf.data`; a file
    that fails is dropped by `ignore_errors` and so marked bad.

    Args:
        paths: list of str. Image files.

    Returns:
        A bool `np.ndarray`, `True` where the file decodes.
    """
    ok = np.zeros(len(paths), bool)
    if not paths:
        return ok

    def decode(index, path):
        image, _ = _decode(path, 0)
        return index, tf.shape(image)  # The shape forces a full decode.

    indices = (tf.data.Dataset.from_tensor_slices(
        (tf.range(len(paths)), paths))
        .map(decode, num_parallel_calls=tf.data.AUTOTUNE,
             deterministic=False)
        .ignore_errors()
        .batch(4096))
    for batch, _ in indices:
        ok[batch.numpy()] = True
    return ok


def unreadable_reason(path):
    """Why TensorFlow cannot read `path` as an image file, or `""`.

    A name that is not UTF-8 cannot become a TensorFlow string ("Error
    converting unicode string" naming no file), and reading a named pipe
    (or another file that is not regular) blocks forever.

    Args:
        path: str. A file, as `os.listdir` names it.

    Returns:
        The reason as a short phrase, or `""` for a readable file.
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not UTF-8 (rename it)"
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        return f"it cannot be opened ({error.strerror})"
    if not stat.S_ISREG(mode):
        return ("it is not a regular file (a named pipe, socket, device or "
                "folder; reading it could block)")
    return ""

def shown(path):
    """`path` printable on one line: bytes that are not UTF-8 as `\\xe9`,
    control characters (a newline in a file name) as `\\x0a`."""
    text = path.encode("utf-8", "surrogateescape").decode(
        "utf-8", "backslashreplace")
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def check_images(paths, labels, skip_bad_images=False, data_dir=""):
    """Refuses (or drops) unreadable and undecodable files.

    Args:
        paths: list of str. The training or test image files.
        labels: list of int. Their class indices.
        skip_bad_images: bool. Drop unreadable and undecodable files with a
            warning that names them, instead of refusing the folder.
        data_dir: str. The image folder, for the messages.

    Returns:
        `(paths, labels)`, without the unreadable and undecodable files.
    """
    ok = readable_files(paths, skip_bad_images, data_dir)
    ok[ok] = decodable([p for p, good in zip(paths, ok) if good])
    return keep_decodable(paths, labels, ok, skip_bad_images, data_dir)


def readable_files(paths, skip_bad_images=False, data_dir=""):
    """Which files can be read at all: regular files with UTF-8 names.

    Args:
        paths: list of str. Image files.
        skip_bad_images: bool. Mark the others bad instead of refusing.
        data_dir: str. The image folder, for the message.

    Returns:
        A bool `np.ndarray`, `True` where the file can be read.
    """
    reasons = [unreadable_reason(path) for path in paths]
    unreadable = [(p, r) for p, r in zip(paths, reasons) if r]
    if unreadable and not skip_bad_images:
        path, reason = unreadable[0]
        raise ValueError(
            f"{len(unreadable)} of {len(paths)} files in the image folder "
            f"--data_dir={shown(data_dir)} cannot be read, e.g. "
            f"{shown(path)}: {reason}. Fix or delete them, or pass "
            "--skip_bad_images (skip_bad_images=True) to leave them out.")
    return np.array([not reason for reason in reasons], bool)


def keep_decodable(paths, labels, ok, skip_bad_images=False, data_dir=""):
    """Refuses, or drops with a warning, the files not `ok` to decode.

    Args:
        paths: list of str. Image files.
        labels: list of int. Their class indices.
        ok: sequence of bool. Whether each file decodes.
        skip_bad_images: bool. Drop the bad files instead of refusing.
        data_dir: str. The image folder, for the messages.

    Returns:
        `(paths, labels)`, without the undecodable files.
    """
    bad = [shown(path) for path, good in zip(paths, ok) if not good]
    if bad and not skip_bad_images:
        raise ValueError(
            f"{len(bad)} of {len(paths)} files in the image folder "
            f"--data_dir={shown(data_dir)} cannot be decoded as an image, "
            f"e.g. {bad[0]}. Fix or delete them, or pass --skip_bad_images "
            "(skip_bad_images=True) to leave them out.")
    if bad:
        listed = ", ".join(bad[:20])
        more = f" and {len(bad) - 20} more" if len(bad) > 20 else ""
        logging.warning("Skipping %d image files that cannot be read or "
                        "decoded: %s%s", len(bad), listed, more)
        paths = [p for p, good in zip(paths, ok) if good]
        labels = [label for label, good in zip(labels, ok) if good]
    return paths, labels


def check_no_empty_class(labels, classes, split, data_dir):
    """Refuses a class that has no (decodable) training image."""
    counts = np.bincount(labels, minlength=len(classes))
    empty = [name for name, count in zip(classes, counts) if count == 0]
    if empty:
        raise ValueError(
            f"Every class folder of {split}/ must hold images "
            f"({', '.join(EXTENSIONS)}); in --data_dir={data_dir} these "
            f"have none: {', '.join(map(shown, empty))}. Add images or "
            "remove the folders.")


def load_image_folder(data_dir=None, download=False, seed=0,
                      image_size=None, skip_bad_images=False):
    """Loads an image folder as a `one_keras.data.Dataset`.

    Args:
        data_dir: str. The folder holding `train/` and `test/` (or `val/`).
        download: bool. Unused (nothing to download).
        seed: int. Seed of the file order (sorted, then shuffled), so that
            the first images of a split sample all its classes.
        image_size: int or `None`. Side of the square network input.
            Defaults to `64`.
        skip_bad_images: bool. Leave out files that cannot be read (a
            name that is not UTF-8, a named pipe) or decoded, with a warning
            naming them, instead of refusing the folder. Defaults to
            `False`. Either way every file is decoded once here, and an
            empty class folder of `train/` is refused.

    Returns:
        A `Dataset` of `(image_size, image_size, 3)` images.
    """
    del download
    size = image_size or DEFAULT_IMAGE_SIZE
    classes, (train_paths, train_labels), (test_paths, test_labels) = (
        list_image_folder(data_dir, seed))
    train_paths, train_labels = check_images(
        train_paths, train_labels, skip_bad_images, data_dir)
    test_paths, test_labels = check_images(
        test_paths, test_labels, skip_bad_images, data_dir)
    check_no_empty_class(train_labels, classes, "train", data_dir)

    def source(paths, labels):
        data = tf.data.Dataset.from_tensor_slices(
            (paths, tf.constant(labels, tf.int32)))
        return data.map(_decode, num_parallel_calls=tf.data.AUTOTUNE)

    resize = functools.partial(preprocessing.resize_to, size=size)
    recipe = augmentation.image_folder_default(size)
    return Dataset(
        name="image_folder", train_source=source(train_paths, train_labels),
        test_source=source(test_paths, test_labels),
        num_classes=len(classes), input_shape=(size, size, 3),
        normalization=preprocessing.IMAGENET_NORMALIZATION,
        num_train=len(train_paths), num_test=len(test_paths),
        augment=augmentation.augmentation_fn(recipe, (size, size, 3), resize),
        augmentation=recipe, eval_transform=resize,
        cacheable=len(train_paths) * size * size * 3 < 2**31)


def class_folders(train_dir):
    """The class names of an image folder: the sorted sub-folders of its
    `train/`, label `i` named by item `i`.

    Args:
        train_dir: str. The image folder's `train/`.

    Returns:
        A list of str.
    """
    return sorted(d for d in os.listdir(train_dir)
                  if os.path.isdir(os.path.join(train_dir, d)))


def list_image_folder(data_dir, seed=0):
    """The classes and the image files of an image folder's splits.

    Args:
        data_dir: str. The folder holding `train/` and `test/` (or `val/`).
        seed: int. Seed of the training files' order.

    Returns:
        `(classes, (train_paths, train_labels), (test_paths, test_labels))`.

    Raises:
        DatasetNotFoundError: the folder does not have that layout, or too
            few classes or images.
    """
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
    classes = class_folders(train_dir)
    train_paths, train_labels = _shuffled(*_list_split(train_dir, classes),
                                          seed)
    test_paths, test_labels = _shuffled(*_list_split(test_dir, classes), 0)
    if len(classes) < 2 or not train_paths or not test_paths:
        raise DatasetNotFoundError(
            f"Dataset 'image_folder' in --data_dir={data_dir} needs at least "
            f"2 class folders and images ({', '.join(EXTENSIONS)}) in train/ "
            f"and test/. Found {len(classes)} classes, {len(train_paths)} "
            f"train and {len(test_paths)} test images.")
    return classes, (train_paths, train_labels), (test_paths, test_labels)

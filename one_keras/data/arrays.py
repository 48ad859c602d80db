"""A split as NumPy arrays of raw pixels: what an exported model takes.

Export calibrates int8 models and verifies artifacts on these arrays; the
flatness analysis perturbs weights against them. They come from the same
`Dataset` that trained the model, so they are resized (and centre-cropped)
exactly as evaluation resizes them, but not normalised: an artifact built
with `include_preprocessing` normalises them itself.
"""

import numpy as np


try:  # Only the tf.data path needs TensorFlow (see one_keras.utils.backends).
    import tensorflow as tf
except ImportError:
    tf = None

from one_keras.utils import validation


SPLITS = ("train", "test")


def split_arrays(dataset, split, limit=None, batch_size=256):
    """The first `limit` images of a split, as evaluation sizes them.

    Every loader's split order is already random (tfds shuffles at
    preparation and reads training files in a seeded order, image folders
    list their files in a seeded order, the digits split is stratified), so
    the first `limit` images are a sample of the whole split.

    Args:
        dataset: `one_keras.data.Dataset`, or a `NumpyDataset` (no
            TensorFlow needed).
        split: str. `"train"` or `"test"`.
        limit: int or `None`. At most this many images; `None` for all
            (mind the memory for large datasets).
        batch_size: int. Images decoded per batch. Defaults to `256`.

    Returns:
        `(images, labels)`: float32 `(n, *dataset.input_shape)` raw pixels
        in [0, 255] and int32 `(n,)` labels.
    """
    validation.check_choice("split", split, SPLITS)
    if limit is not None:
        validation.check_int_at_least("limit", limit, 1)
    from one_keras.data import numpy_pipeline

    if isinstance(dataset, numpy_pipeline.NumpyDataset):  # Arrays already.
        images, labels = ((dataset.x_train, dataset.y_train)
                          if split == "train" else
                          (dataset.x_test, dataset.y_test))
        if images is None:
            raise ValueError(
                "`dataset` keeps its training images as files (its "
                "random_resized_crop_flip augmentation); load it with "
                "augment='none' for arrays. Received: split='train'")
        return (np.asarray(images[:limit], "float32"),
                np.asarray(labels[:limit], "int32"))
    source = dataset.train_source if split == "train" else \
        dataset.test_source
    if limit is not None:
        source = source.take(limit)
    transform = dataset.eval_transform or (
        lambda image: tf.cast(image, tf.float32))
    batches = source.map(
        lambda image, label: (transform(image), tf.cast(label, tf.int32)),
        num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
    images, labels = [], []
    for image_batch, label_batch in batches:
        images.append(image_batch.numpy().astype("float32"))
        labels.append(label_batch.numpy())
    if not images:
        return (np.zeros((0,) + tuple(dataset.input_shape), "float32"),
                np.zeros((0,), "int32"))
    return np.concatenate(images), np.concatenate(labels)

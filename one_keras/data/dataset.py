"""`Dataset`: the splits of a dataset and what a model needs to know of it."""

import dataclasses
from typing import Any
from typing import Callable
from typing import Optional


try:  # Only the tf.data path needs TensorFlow (see one_keras.utils.backends).
    import tensorflow as tf
except ImportError:
    tf = None


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable; says how to prepare it."""


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A loaded dataset: raw splits plus the paper's preprocessing for them.

    The sources hold raw pixels; `one_keras.data.train_pipeline` and
    `eval_pipeline` turn them into batches (augment, normalise, shard).

    Attributes:
        name: str. The dataset's name.
        train_source: `tf.data.Dataset` of `(image, label)`, unbatched, raw
            pixels in [0, 255] (any size for `eval_transform` to fix).
        test_source: `tf.data.Dataset` of `(image, label)`, like
            `train_source`.
        num_classes: int. Number of classes.
        input_shape: tuple. Shape of one network input, `(height, width,
            channels)`.
        normalization: dict. `{"mean": [...], "std": [...]}` per channel,
            applied to pixels scaled to [0, 1].
        num_train: int. Number of training images.
        num_test: int. Number of test images.
        augment: callable or `None`. `augment(image, seed)` maps one raw
            training image to an augmented float32 image of `input_shape`
            in [0, 255]; `seed` is a stateless seed, shape `(2,)`. `None`
            trains on `eval_transform(image)` (no augmentation).
        eval_transform: callable or `None`. `eval_transform(image)` maps one
            raw image to a float32 image of `input_shape` (resize, centre
            crop). `None` only casts to float32.
        cacheable: bool. Whether the decoded raw sources fit in memory.
        augmentation: str. Name of the `augment` recipe (see
            `one_keras.data.augmentation.AUGMENTATIONS`), for the report.
    """

    name: str
    train_source: Any
    test_source: Any
    num_classes: int
    input_shape: tuple
    normalization: dict
    num_train: int
    num_test: int
    augment: Optional[Callable] = None
    eval_transform: Optional[Callable] = None
    cacheable: bool = True
    augmentation: str = "none"

    def prepare_eval(self, image):
        """One raw image -> the normalised network input, no augmentation."""
        if self.eval_transform is not None:
            image = self.eval_transform(image)
        return normalize(image, self.normalization)

    def prepare_train(self, image, seed):
        """One raw image -> an augmented, normalised training input."""
        if self.augment is None:
            return self.prepare_eval(image)
        return normalize(self.augment(image, seed), self.normalization)

    @property
    def train(self):
        """Training split, unbatched, normalised, not augmented."""
        return self.train_source.map(
            lambda x, y: (self.prepare_eval(x), y),
            num_parallel_calls=tf.data.AUTOTUNE)

    @property
    def test(self):
        """Test split, unbatched, normalised."""
        return self.test_source.map(
            lambda x, y: (self.prepare_eval(x), y),
            num_parallel_calls=tf.data.AUTOTUNE)


def normalize(images, normalization):
    """Maps raw 0-255 pixels to the network's input: `(x / 255 - mean) / std`.

    This is the only place where one_keras normalises images; the same
    `normalization` is recorded in the model (`ONEModel(normalization=...)`)
    so that export can apply it.

    Args:
        images: Tensor of raw pixels in [0, 255], channels last.
        normalization: dict. `{"mean": [...], "std": [...]}` per channel.

    Returns:
        The normalised float32 images.
    """
    mean = tf.constant(normalization["mean"], tf.float32)
    std = tf.constant(normalization["std"], tf.float32)
    return (tf.cast(images, tf.float32) / 255.0 - mean) / std

"""The 8x8 handwritten digits shipped with scikit-learn: an offline dataset.

1,797 images of 10 classes. The split is stratified and seeded, so every run
and every machine sees the same 1,437 training and 360 test images.
"""

try:  # Only the tf.data path needs TensorFlow (see one_keras.utils.backends).
    import tensorflow as tf
except ImportError:
    tf = None
from sklearn import datasets as sklearn_datasets
from sklearn import model_selection

from one_keras.data.dataset import Dataset


SPLIT_SEED = 0
TEST_FRACTION = 0.2


def load_digits_arrays():
    """Loads the digits as raw 0-255 pixels with the fixed train/test split.

    Returns:
        `((x_train, y_train), (x_test, y_test))`: float32 images of shape
        `(n, 8, 8, 1)` in [0, 255] and int32 labels.
    """
    digits = sklearn_datasets.load_digits()
    images = (digits.images * (255.0 / 16.0)).astype("float32")[..., None]
    labels = digits.target.astype("int32")
    x_train, x_test, y_train, y_test = model_selection.train_test_split(
        images, labels, test_size=TEST_FRACTION, random_state=SPLIT_SEED,
        stratify=labels)
    return (x_train, y_train), (x_test, y_test)


def digits_normalization(x_train):
    """Mean and standard deviation of the training pixels, scaled to [0, 1]."""
    pixels = x_train / 255.0
    return {"mean": [float(pixels.mean())], "std": [float(pixels.std())]}


def load_digits(data_dir=None, download=False, seed=0, image_size=None):
    """Loads the digits as a `one_keras.data.Dataset` (embedded: no files).

    Args:
        data_dir, download, seed: unused (the data ships with scikit-learn).
        image_size: int or `None`. Must be unset or 8.

    Returns:
        A `Dataset` of normalised `(8, 8, 1)` images and 10 classes.
    """
    del data_dir, download, seed
    if image_size not in (None, 0, 8):
        raise ValueError("`image_size` must be 8 (or unset) for digits. "
                         f"Received: image_size={image_size}")
    (x_train, y_train), (x_test, y_test) = load_digits_arrays()
    return Dataset(
        name="digits",
        train_source=tf.data.Dataset.from_tensor_slices((x_train, y_train)),
        test_source=tf.data.Dataset.from_tensor_slices((x_test, y_test)),
        num_classes=10, input_shape=(8, 8, 1),
        normalization=digits_normalization(x_train),
        num_train=len(y_train), num_test=len(y_test))


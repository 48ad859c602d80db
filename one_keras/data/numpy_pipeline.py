"""Batches made with NumPy and Pillow: the input of the backends without
TensorFlow (JAX, torch) for the datasets that need no tfds.

The digits and image folders load into a `NumpyDataset`; `train_batches`
and `eval_batches` turn it into `keras.utils.PyDataset`s, which `fit` and
`evaluate` take on every backend. Epoch `e` is shuffled with the seed
`(seed, e)` and batch `b` is augmented with `(seed, e, b)`, so an epoch is
the same whether training started at epoch 0 or resumed at `e`. The
augmentations are the paper's: pad-4 crop and flip (CIFAR-like images),
random resized crop and flip (larger ones), as `one_keras.data.preprocessing`
does with TensorFlow.
"""

import dataclasses
import math
import warnings
from typing import Optional

import keras
import numpy as np

from one_keras.data import augmentation as augmentation_lib
from one_keras.data import image_folder
from one_keras.data.digits import digits_normalization
from one_keras.data.digits import load_digits_arrays
from one_keras.data.preprocessing import IMAGENET_NORMALIZATION
from one_keras.utils import backends
from one_keras.utils import validation


# Datasets this module loads; the others come from tensorflow-datasets.
DATASETS = ("digits", "image_folder")


@dataclasses.dataclass(frozen=True)
class NumpyDataset:
    """A dataset held as NumPy arrays (or, for large images, files).

    Attributes:
        name: str. The dataset's name.
        x_train: `np.ndarray` of raw 0-255 images of `input_shape` (uint8
            or float32), or a list of image files (then decoded per batch,
            see `train_files`).
        y_train: int32 `np.ndarray` of class labels.
        x_test: `np.ndarray` of test images of `input_shape`.
        y_test: int32 `np.ndarray`.
        num_classes: int.
        input_shape: tuple. `(height, width, channels)`.
        normalization: dict. `{"mean": [...], "std": [...]}` per channel,
            applied to pixels scaled to [0, 1].
        augmentation: str. One of `one_keras.data.AUGMENTATIONS` but
            `"auto"`.
        train_files: list of str or `None`. The training files, decoded
            per batch, for `random_resized_crop_flip` (which crops the
            original image).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    input_shape: tuple
    normalization: dict
    augmentation: str = "none"
    train_files: Optional[list] = None

    @property
    def num_train(self):
        """Number of training images."""
        return len(self.y_train)

    @property
    def num_test(self):
        """Number of test images."""
        return len(self.y_test)


def load_numpy_dataset(name, data_dir=None, seed=0, image_size=None,
                       augment="auto", skip_bad_images=False):
    """Loads `digits` or an `image_folder` without TensorFlow.

    Args:
        name: str. One of `DATASETS`.
        data_dir: str or `None`. The image folder (`image_folder`).
        seed: int. Seed of the image folder's file order.
        image_size: int or `None`. Input side (image folders: default 64).
        augment: str. One of `one_keras.data.AUGMENTATIONS`; `"auto"` is
            the dataset's own recipe (none for digits).
        skip_bad_images: bool. Leave out files that cannot be decoded.

    Returns:
        A `NumpyDataset`.
    """
    if name not in DATASETS:
        backends.require_tensorflow(
            f"The dataset {name!r} (from tensorflow-datasets)")
    validation.check_choice("dataset", name, DATASETS)
    validation.check_choice("augment", augment,
                            augmentation_lib.AUGMENTATIONS)
    if name == "digits":
        if image_size not in (None, 0, 8):
            raise ValueError("`image_size` must be 8 (or unset) for digits. "
                             f"Received: image_size={image_size}")
        (x_train, y_train), (x_test, y_test) = load_digits_arrays()
        return NumpyDataset(
            "digits", x_train, y_train, x_test, y_test, 10, (8, 8, 1),
            digits_normalization(x_train),
            augmentation="none" if augment == "auto" else augment)
    return _load_image_folder(data_dir, seed, image_size or
                              image_folder.DEFAULT_IMAGE_SIZE, augment,
                              skip_bad_images)


def _load_image_folder(data_dir, seed, size, augment, skip_bad_images):
    classes, (train_paths, train_labels), (test_paths, test_labels) = (
        image_folder.list_image_folder(data_dir, seed))
    train_paths, train_labels = _drop_undecodable(
        train_paths, train_labels, skip_bad_images, data_dir)
    test_paths, test_labels = _drop_undecodable(
        test_paths, test_labels, skip_bad_images, data_dir)
    image_folder.check_no_empty_class(train_labels, classes, "train",
                                      data_dir)
    recipe = (image_folder_recipe(size) if augment == "auto" else augment)
    files = recipe == "random_resized_crop_flip"
    x_train = (None if files else
               np.stack([resize_to(decode(p), size) for p in train_paths]))
    x_test = np.stack([resize_to(decode(p), size) for p in test_paths])
    return NumpyDataset(
        "image_folder", x_train, np.asarray(train_labels, "int32"), x_test,
        np.asarray(test_labels, "int32"), len(classes), (size, size, 3),
        IMAGENET_NORMALIZATION, augmentation=recipe,
        train_files=list(train_paths) if files else None)


def image_folder_recipe(size):
    """The `"auto"` augmentation of an image folder of `size` px inputs."""
    return augmentation_lib.image_folder_default(size)


def _drop_undecodable(paths, labels, skip_bad_images, data_dir):
    ok = image_folder.readable_files(paths, skip_bad_images, data_dir)
    for index in np.flatnonzero(ok):
        try:
            decode(paths[index])
        except (OSError, ValueError, SyntaxError):
            ok[index] = False
    return image_folder.keep_decodable(paths, labels, ok, skip_bad_images,
                                       data_dir)


class UnusableImage(ValueError):
    """An image file that decodes, refused: too large, or of pixels with
    no known 0-255 scale (the message says which)."""


def decode(path, channels=3):
    """One image file as a uint8 `(height, width, channels)` array (Pillow),
    as TensorFlow's `decode_image(channels=...)` gives it.

    Palette, grayscale(-alpha), RGBA and CMYK images become RGB (alpha
    dropped); 16-bit images keep their high byte, as libpng's 16 -> 8 bit
    strip does (Pillow's `convert("RGB")` saturates a 16-bit grayscale
    image to white). A 32-bit integer or float image (a TIFF's mode `I` or
    `F`) is taken as it is when its values are whole numbers from 0 to 255,
    and refused otherwise (its 0-255 scale is unknown). An image of more
    pixels than Pillow decodes safely (`PIL.Image.MAX_IMAGE_PIXELS`) is
    refused before it is decoded.

    Args:
        path: str. An image file (JPEG, PNG, GIF, BMP, ...).
        channels: int. `3` (RGB) or `1` (grayscale). Defaults to `3`.

    Returns:
        A uint8 array of shape `(height, width, channels)`.

    Raises:
        OSError, ValueError, SyntaxError: the file is not a decodable image
            (an `UnusableImage` for a too large one, or 32-bit pixels of
            no known scale).
    """
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            # Refused below in one line, instead of Pillow's warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError:
        raise UnusableImage(_too_large(None, limit)) from None
    with image:
        if limit and image.width * image.height > limit:
            raise UnusableImage(_too_large(image.size, limit))
        if image.mode.startswith("I;16") or (
                image.mode == "I" and image.format == "PNG"):
            # 16-bit gray (older Pillows read a 16-bit PNG as mode "I").
            gray = np.asarray(image).astype(np.int64)
            gray = np.clip(gray >> 8, 0, 255).astype(np.uint8)[..., None]
            return gray if channels == 1 else np.repeat(gray, 3, axis=-1)
        if image.mode in ("I", "F"):
            gray = _whole_0_255(np.asarray(image), image.mode)[..., None]
            return gray if channels == 1 else np.repeat(gray, 3, axis=-1)
        pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"),
                            dtype=np.uint8)
    return pixels[..., None] if pixels.ndim == 2 else pixels


def _too_large(size, limit):
    what = f"{size[0]}x{size[1]} pixels" if size else "more pixels"
    return (f"an image of {what}, over the {limit} that Pillow decodes "
            "safely (PIL.Image.MAX_IMAGE_PIXELS): downscale it")


def _whole_0_255(pixels, mode):
    """The pixels of a 32-bit integer (`I`) or float (`F`) image as uint8,
    if they are whole numbers from 0 to 255; else a `ValueError`."""
    pixels = np.asarray(pixels)
    if pixels.size and np.isfinite(pixels).all() and pixels.min() >= 0 \
            and pixels.max() <= 255 and (pixels == np.round(pixels)).all():
        return pixels.astype(np.uint8)
    kind = "integer" if mode == "I" else "floating-point"
    low, high = (float(np.nanmin(pixels)), float(np.nanmax(pixels))) \
        if pixels.size else (0.0, 0.0)
    raise UnusableImage(
        f"a 32-bit {kind} image (mode {mode}) with values from {low:g} to "
        f"{high:g}, not whole numbers from 0 to 255, so its 0-255 scale is "
        "unknown: save it as an 8- or 16-bit image")


def resize_to(image, size):
    """Resizes an image to `size` x `size` (or `(height, width)`), bilinear
    with antialiasing.

    Args:
        image: `(height, width, channels)` array of raw pixels, uint8 (an
            image file's) or float32 (the digits'), any number of channels.
        size: int, or `(height, width)`.

    Returns:
        An array of the new size and as many channels, of `image`'s dtype
        (uint8 stays uint8; any other becomes float32).
    """
    from PIL import Image

    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = image.astype(np.float32)  # Pillow's "F" mode.
    height, width = (size, size) if np.isscalar(size) else tuple(size)
    if image.shape[:2] == (height, width):
        return image
    # Pillow takes (h, w) gray and (h, w, 3) colour arrays; one channel at
    # a time takes any number of channels (and gives the same pixels).
    return np.stack([np.asarray(Image.fromarray(image[..., channel]).resize(
        (width, height), Image.BILINEAR), dtype=image.dtype)
        for channel in range(image.shape[-1])], axis=-1)


def resize_center_crop(image, size, resize=None):
    """ImageNet evaluation, as `preprocessing.resize_center_crop` does it:
    the shorter side to `resize` (256 for 224), then the centre crop.

    Args:
        image: uint8 `(h, w, channels)` array.
        size: int. Side of the output.
        resize: int or `None`. The shorter side before the crop.

    Returns:
        A uint8 `(size, size, channels)` array.
    """
    resize = resize or int(round(size * 256 / 224))
    height, width = image.shape[:2]
    scale = resize / min(height, width)
    new = (max(size, int(round(height * scale))),
           max(size, int(round(width * scale))))
    image = resize_to(image, new)
    top, left = (new[0] - size) // 2, (new[1] - size) // 2
    return image[top:top + size, left:left + size]


def pad_crop_flip(images, rng, padding=4):
    """CIFAR: zero-pad `padding` pixels, random crop back, random h-flip.

    Args:
        images: `(n, h, w, c)` array of raw pixels.
        rng: `np.random.Generator`.
        padding: int. Pixels of zeros on each side.

    Returns:
        A float32 array of the shape of `images`.
    """
    n, height, width, _ = images.shape
    padded = np.pad(images.astype("float32"),
                    ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    offsets = rng.integers(0, 2 * padding + 1, size=(n, 2))
    rows = offsets[:, :1] + np.arange(height)
    cols = offsets[:, 1:] + np.arange(width)
    crops = padded[np.arange(n)[:, None, None], rows[:, :, None],
                   cols[:, None, :]]
    return flip(crops, rng)


def flip(images, rng):
    """Flips each image left-right with probability 1/2."""
    images = np.asarray(images, "float32")
    flips = rng.random(len(images)) < 0.5
    images[flips] = images[flips, :, ::-1]
    return images


def random_resized_crop_flip(image, rng, size, scale=(0.08, 1.0),
                             ratio=(3 / 4, 4 / 3)):
    """ImageNet training: a crop of random area and aspect, resized to
    `size`, and a random h-flip (torchvision's sampling, 10 tries, then the
    centre crop).

    Args:
        image: `(h, w, channels)` array of raw pixels (uint8 or float32).
        rng: `np.random.Generator`.
        size: int. Output side.

    Returns:
        A float32 `(size, size, channels)` array.
    """
    height, width = image.shape[:2]
    area = height * width
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        crop_w = int(round(math.sqrt(target * aspect)))
        crop_h = int(round(math.sqrt(target / aspect)))
        if 0 < crop_w <= width and 0 < crop_h <= height:
            top = int(rng.integers(0, height - crop_h + 1))
            left = int(rng.integers(0, width - crop_w + 1))
            break
    else:
        crop_h, crop_w = min(height, width), min(height, width)
        top, left = (height - crop_h) // 2, (width - crop_w) // 2
    crop = resize_to(image[top:top + crop_h, left:left + crop_w], size)
    return flip(crop[None], rng)[0]


def normalize(images, normalization):
    """`(x / 255 - mean) / std`, as `one_keras.data.normalize`, in NumPy."""
    mean = np.asarray(normalization["mean"], "float32")
    std = np.asarray(normalization["std"], "float32")
    return ((np.asarray(images, "float32") / 255.0 - mean) / std).astype(
        "float32")


class TrainBatches(keras.utils.PyDataset):
    """Shuffled, augmented, normalised training batches, epoch by epoch.

    Args:
        dataset: `NumpyDataset`.
        batch_size: int. Global batch size.
        seed: int. Run seed.
        start_epoch: int. The first epoch `fit` runs (its `initial_epoch`).
        steps: int or `None`. Batches per epoch (`None`: one pass, the last
            batch partial). More than one pass wraps around the shuffled
            order.
        batch_multiple: int. A last, partial batch is filled up to a
            multiple of it with the epoch's first images (a batch split
            over `batch_multiple` devices must split evenly).
    """

    def __init__(self, dataset, batch_size, seed=0, start_epoch=0,
                 steps=None, batch_multiple=1):
        super().__init__()
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.batch_multiple = int(batch_multiple)
        self.seed = int(seed)
        self.epoch = int(start_epoch)
        self.steps = steps or steps_per_epoch(dataset, batch_size)
        self._order_epoch = None
        self._order = None

    def __len__(self):
        return self.steps

    def order(self, epoch):
        """The shuffled indices of the training images in `epoch`."""
        if self._order_epoch != epoch:
            self._order = np.random.default_rng(
                [self.seed, epoch]).permutation(self.dataset.num_train)
            self._order_epoch = epoch
        return self._order

    def batch(self, epoch, index):
        """Batch `index` of `epoch`: `(images, labels)`. Past one pass over
        the images (`steps` above it) the pass's batches repeat, as
        `tf.data`'s `batch().repeat().take(steps)` does."""
        if not 0 <= index < self.steps:
            raise IndexError(f"batch {index} is past the epoch's end")
        order = self.order(epoch)
        start = (index % steps_per_epoch(self.dataset, self.batch_size)
                 ) * self.batch_size
        picked = order[start:start + self.batch_size]
        short = -len(picked) % self.batch_multiple
        if short:
            picked = np.concatenate([picked, order[:short]])
        rng = np.random.default_rng([self.seed, epoch, index])
        images = self._augment(picked, rng)
        labels = self.dataset.y_train[picked].astype("int32")
        return normalize(images, self.dataset.normalization), labels

    def _augment(self, picked, rng):
        data = self.dataset
        if data.augmentation == "random_resized_crop_flip":
            side = data.input_shape[0]
            if data.train_files is not None:
                return np.stack([random_resized_crop_flip(
                    decode(data.train_files[i]), rng, side) for i in picked])
            return np.stack([random_resized_crop_flip(
                data.x_train[i], rng, side) for i in picked])
        images = data.x_train[picked]
        if data.augmentation == "pad_crop_flip":
            return pad_crop_flip(images, rng)
        if data.augmentation == "flip":
            return flip(images, rng)
        return images

    def __getitem__(self, index):
        return self.batch(self.epoch, index)

    def on_epoch_end(self):
        self.epoch += 1


class EvalBatches(keras.utils.PyDataset):
    """Normalised test batches in file order, optionally the first `steps`.

    Args:
        dataset: `NumpyDataset`.
        batch_size: int.
        steps: int or `None`. The first `steps` batches (`None`: all).
        batch_multiple: int. Above 1, batches are `(images, labels,
            sample_weights)` and a last, partial batch is padded to a
            multiple of it with copies of its last image, weighted 0, so
            that it splits evenly over `batch_multiple` devices and the
            accuracies count every test image once.
    """

    def __init__(self, dataset, batch_size, steps=None, batch_multiple=1):
        super().__init__()
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.batch_multiple = int(batch_multiple)
        batches = -(-dataset.num_test // self.batch_size)
        self.steps = min(steps, batches) if steps else batches

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        if index >= self.steps:
            raise IndexError(f"batch {index} is past the end")
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        images = normalize(self.dataset.x_test[part],
                           self.dataset.normalization)
        labels = self.dataset.y_test[part].astype("int32")
        if self.batch_multiple == 1:
            return images, labels
        weights = np.ones(len(labels), "float32")
        short = -len(labels) % self.batch_multiple
        if short:
            images = np.concatenate([images, np.repeat(images[-1:], short, 0)])
            labels = np.concatenate([labels, np.repeat(labels[-1:], short)])
            weights = np.concatenate([weights, np.zeros(short, "float32")])
        return images, labels, weights


def steps_per_epoch(dataset, batch_size):
    """Number of batches in one pass over the training images."""
    return -(-dataset.num_train // batch_size)


def train_batches(dataset, batch_size, seed=0, start_epoch=0, steps=None,
                  batch_multiple=1):
    """The training input of `fit` from `start_epoch` on (see
    `TrainBatches`)."""
    return TrainBatches(dataset, batch_size, seed=seed,
                        start_epoch=start_epoch, steps=steps,
                        batch_multiple=batch_multiple)


def eval_batches(dataset, batch_size, steps=None, batch_multiple=1):
    """The test input of `evaluate` (see `EvalBatches`)."""
    return EvalBatches(dataset, batch_size, steps=steps,
                       batch_multiple=batch_multiple)

"""tensorflow-datasets loaders: CIFAR-10/100, SVHN (train + extra), ImageNet.

Nothing is downloaded unless asked (`download=True`); a dataset that is not
prepared raises `DatasetNotFoundError` with the command that prepares it.
"""

import functools
import os


try:  # Only the tf.data path needs TensorFlow (see one_keras.utils.backends).
    import tensorflow as tf
    import tensorflow_datasets as tfds
except ImportError:
    tf = tfds = None

from one_keras.data import preprocessing
from one_keras.data.dataset import Dataset
from one_keras.data.dataset import DatasetNotFoundError


DEFAULT_DATA_DIR = "~/tensorflow_datasets"
IMAGENET_SIZE = 224


def _prepare_command(name, data_dir):
    return ("python -c \"import tensorflow_datasets as tfds; "
            f"tfds.builder('{name}', data_dir='{data_dir}')"
            ".download_and_prepare()\"")


def _not_found(name, data_dir, reason):
    data_dir = data_dir or DEFAULT_DATA_DIR
    if name == "imagenet2012":
        manual = os.path.join(data_dir, "downloads", "manual")
        how = ("ImageNet cannot be downloaded automatically. Download "
               "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar from "
               f"https://image-net.org, put them in {manual}, then run: "
               f"{_prepare_command(name, data_dir)} (or rerun with "
               "--download).")
    else:
        how = (f"Prepare it with: {_prepare_command(name, data_dir)} "
               "(or rerun with --download, which needs internet).")
    return DatasetNotFoundError(
        f"Dataset {name!r} is not prepared in --data_dir={data_dir} "
        f"({reason}). {how}")


def _load_split(builder, name, split, data_dir, shuffle_seed):
    try:
        return builder.as_dataset(
            split=split, as_supervised=True,
            shuffle_files=shuffle_seed is not None,
            read_config=tfds.ReadConfig(shuffle_seed=shuffle_seed))
    except AssertionError as error:  # tfds: "could not find data in ..."
        raise _not_found(name, data_dir, "no prepared files found") \
            from error


def _num_examples(builder, split, data):
    """Split size from the metadata (or by counting, e.g. under mock data)."""
    try:
        return sum(builder.info.splits[part].num_examples
                   for part in split.split("+"))
    except KeyError:
        return int(data.reduce(0, lambda count, _: count + 1))


def load_tfds(name, train_split, test_split, data_dir=None, download=False,
              seed=0):
    """Loads a tfds dataset's train and test splits, raw.

    Returns:
        `(builder, train, test, num_train, num_test)`.
    """
    if data_dir is not None and not os.path.isdir(
            os.path.expanduser(data_dir)) and not download:
        raise _not_found(name, data_dir, "the directory does not exist")
    builder = tfds.builder(name, data_dir=data_dir)
    if download:
        try:
            builder.download_and_prepare()
        except Exception as error:  # network, manual files, disk space
            raise _not_found(name, data_dir,
                             f"download failed: {error}".splitlines()[0]) \
                from error
    train = _load_split(builder, name, train_split, data_dir, seed)
    test = _load_split(builder, name, test_split, data_dir, None)
    return (builder, train, test, _num_examples(builder, train_split, train),
            _num_examples(builder, test_split, test))


def _labels_int32(data):
    return data.map(lambda x, y: (x, tf.cast(y, tf.int32)))


def _small_images(name, normalization, augment, train_split="train",
                  data_dir=None, download=False, seed=0):
    builder, train, test, num_train, num_test = load_tfds(
        name, train_split, "test", data_dir, download, seed)
    return Dataset(
        name=name, train_source=_labels_int32(train),
        test_source=_labels_int32(test),
        num_classes=builder.info.features["label"].num_classes,
        input_shape=(32, 32, 3), normalization=normalization,
        num_train=num_train, num_test=num_test, augment=augment,
        augmentation="pad_crop_flip" if augment else "none",
        cacheable=True)


def load_cifar10(data_dir=None, download=False, seed=0, image_size=None):
    """CIFAR-10: pad-4 random crop + flip, CIFAR mean/std (paper and code)."""
    _fixed_size("cifar10", image_size, 32)
    return _small_images("cifar10", preprocessing.CIFAR_NORMALIZATION,
                         preprocessing.pad_crop_flip, data_dir=data_dir,
                         download=download, seed=seed)


def load_cifar100(data_dir=None, download=False, seed=0, image_size=None):
    """CIFAR-100: as CIFAR-10 (the authors use CIFAR-10's mean/std too)."""
    _fixed_size("cifar100", image_size, 32)
    return _small_images("cifar100", preprocessing.CIFAR_NORMALIZATION,
                         preprocessing.pad_crop_flip, data_dir=data_dir,
                         download=download, seed=seed)


def load_svhn(data_dir=None, download=False, seed=0, image_size=None):
    """SVHN: train + extra (604,388 images), no augmentation, mean .5 std .2.
    """
    _fixed_size("svhn_cropped", image_size, 32)
    return _small_images("svhn_cropped", preprocessing.SVHN_NORMALIZATION,
                         None, train_split="train+extra", data_dir=data_dir,
                         download=download, seed=seed)


def load_imagenet(data_dir=None, download=False, seed=0, image_size=None):
    """ImageNet 2012: random resized crop + flip; resize + centre crop."""
    size = image_size or IMAGENET_SIZE
    builder, train, test, num_train, num_test = load_tfds(
        "imagenet2012", "train", "validation", data_dir, download, seed)
    return Dataset(
        name="imagenet2012", train_source=_labels_int32(train),
        test_source=_labels_int32(test),
        num_classes=builder.info.features["label"].num_classes,
        input_shape=(size, size, 3),
        normalization=preprocessing.IMAGENET_NORMALIZATION,
        num_train=num_train, num_test=num_test,
        augment=functools.partial(preprocessing.random_resized_crop_flip,
                                  size=size),
        eval_transform=functools.partial(preprocessing.resize_center_crop,
                                         size=size),
        augmentation="random_resized_crop_flip", cacheable=False)


def _fixed_size(name, image_size, size):
    if image_size not in (None, 0, size):
        raise ValueError(
            f"`image_size` must be {size} (or unset) for {name}, whose "
            f"images are {size}x{size}. Received: image_size={image_size}")

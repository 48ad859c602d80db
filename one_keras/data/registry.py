"""`load_dataset`: every dataset ONE trains on, by name.

Adding a dataset is adding its loader module under `one_keras/data/` and
one entry of `LOADERS`.
"""

from one_keras.data.augmentation import AUGMENTATIONS
from one_keras.data.augmentation import with_augmentation
from one_keras.data.digits import load_digits
from one_keras.data.image_folder import load_image_folder
from one_keras.data.tfds_datasets import load_cifar10
from one_keras.data.tfds_datasets import load_cifar100
from one_keras.data.tfds_datasets import load_imagenet
from one_keras.data.tfds_datasets import load_svhn
from one_keras.utils import validation


__all__ = ["LOADERS", "dataset_names", "load_dataset"]

LOADERS = {
    "digits": load_digits,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "svhn_cropped": load_svhn,
    "imagenet2012": load_imagenet,
    "image_folder": load_image_folder,
}


def dataset_names():
    """Returns the names `load_dataset` accepts."""
    return tuple(LOADERS)


def load_dataset(name, data_dir=None, download=False, seed=0,
                 image_size=None, augment="auto", skip_bad_images=False):
    """Loads a dataset by name.

    Args:
        name: str. One of `dataset_names()`.
        data_dir: str or `None`. tensorflow-datasets directory (default
            `~/tensorflow_datasets`), or the image folder for
            `"image_folder"`.
        download: bool. Download and prepare a missing tfds dataset.
            Defaults to `False`: a missing dataset raises
            `DatasetNotFoundError` saying how to prepare it.
        seed: int. Seed of the file shuffling.
        image_size: int or `None`. Input side for `imagenet2012` (224) and
            `image_folder` (64); fixed-size datasets accept only their size.
        augment: str. Training augmentation, one of `AUGMENTATIONS`;
            `"auto"` keeps the dataset's own recipe. Defaults to `"auto"`.
        skip_bad_images: bool. `"image_folder"` only: leave out files that
            cannot be decoded (with a warning) instead of refusing them.

    Returns:
        A `one_keras.data.Dataset`.
    """
    validation.check_choice("dataset", name, dataset_names())
    validation.check_choice("augment", augment, AUGMENTATIONS)
    options = {}
    if skip_bad_images:
        if name != "image_folder":
            raise ValueError(
                "`skip_bad_images` applies to the image folder only. "
                f"Received: skip_bad_images=True, dataset={name!r}")
        options["skip_bad_images"] = True
    dataset = LOADERS[name](data_dir=data_dir, download=download, seed=seed,
                            image_size=image_size, **options)
    return with_augmentation(dataset, augment)

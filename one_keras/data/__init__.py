"""Datasets for ONE training, by name."""

from one_keras import validation
from one_keras.data.arrays import split_arrays
from one_keras.data.dataset import Dataset
from one_keras.data.dataset import DatasetNotFoundError
from one_keras.data.dataset import normalize
from one_keras.data.digits import load_digits
from one_keras.data.image_folder import load_image_folder
from one_keras.data.pipeline import eval_pipeline
from one_keras.data.pipeline import steps_per_epoch
from one_keras.data.pipeline import train_pipeline
from one_keras.data.runs import load_run_dataset
from one_keras.data.runs import read_run_config
from one_keras.data.runs import run_data_settings
from one_keras.data.tfds_datasets import load_cifar10
from one_keras.data.tfds_datasets import load_cifar100
from one_keras.data.tfds_datasets import load_imagenet
from one_keras.data.tfds_datasets import load_svhn

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
                 image_size=None):
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

    Returns:
        A `one_keras.data.Dataset`.
    """
    validation.check_choice("dataset", name, dataset_names())
    return LOADERS[name](data_dir=data_dir, download=download, seed=seed,
                         image_size=image_size)


__all__ = ["Dataset", "DatasetNotFoundError", "dataset_names",
           "eval_pipeline", "load_dataset", "load_run_dataset", "normalize",
           "read_run_config", "run_data_settings", "split_arrays",
           "steps_per_epoch", "train_pipeline"]

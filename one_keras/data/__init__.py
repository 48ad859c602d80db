"""Datasets for ONE training, by name (`load_dataset`, in `registry.py`)."""

from one_keras.data.arrays import split_arrays
from one_keras.data.augmentation import AUGMENTATIONS
from one_keras.data.augmentation import with_augmentation
from one_keras.data.dataset import Dataset
from one_keras.data.dataset import DatasetNotFoundError
from one_keras.data.dataset import normalize
from one_keras.data.digits import load_digits
from one_keras.data.image_folder import load_image_folder
from one_keras.data.pipeline import eval_pipeline
from one_keras.data.pipeline import steps_per_epoch
from one_keras.data.pipeline import train_pipeline
from one_keras.data.registry import LOADERS
from one_keras.data.registry import dataset_names
from one_keras.data.registry import load_dataset
from one_keras.data.runs import load_run_dataset
from one_keras.data.runs import read_run_config
from one_keras.data.runs import run_data_settings
from one_keras.data.tfds_datasets import load_cifar10
from one_keras.data.tfds_datasets import load_cifar100
from one_keras.data.tfds_datasets import load_imagenet
from one_keras.data.tfds_datasets import load_svhn

__all__ = ["AUGMENTATIONS", "Dataset", "DatasetNotFoundError",
           "dataset_names", "eval_pipeline", "load_dataset",
           "load_run_dataset", "normalize", "read_run_config",
           "run_data_settings", "split_arrays", "steps_per_epoch",
           "train_pipeline", "with_augmentation"]

"""Datasets for ONE training, by name (`load_dataset`, in `registry.py`).

The names below are imported on first use: `one_keras.data.dataset`
(`DatasetNotFoundError`) and the registry's names do not import
TensorFlow.
"""

from one_keras.utils import lazy_names


# Public name -> the module that defines it.
_LAZY = {
    "split_arrays": "one_keras.data.arrays",
    "AUGMENTATIONS": "one_keras.data.augmentation",
    "with_augmentation": "one_keras.data.augmentation",
    "Dataset": "one_keras.data.dataset",
    "DatasetNotFoundError": "one_keras.data.dataset",
    "normalize": "one_keras.data.dataset",
    "load_digits": "one_keras.data.digits",
    "load_for_backend": "one_keras.data.for_backend",
    "load_image_folder": "one_keras.data.image_folder",
    "eval_pipeline": "one_keras.data.pipeline",
    "steps_per_epoch": "one_keras.data.pipeline",
    "train_pipeline": "one_keras.data.pipeline",
    "LOADERS": "one_keras.data.registry",
    "dataset_names": "one_keras.data.registry",
    "load_dataset": "one_keras.data.registry",
    "load_cifar10": "one_keras.data.tfds_datasets",
    "load_cifar100": "one_keras.data.tfds_datasets",
    "load_imagenet": "one_keras.data.tfds_datasets",
    "load_svhn": "one_keras.data.tfds_datasets",
}

__all__ = ["AUGMENTATIONS", "Dataset", "DatasetNotFoundError",
           "dataset_names", "eval_pipeline", "load_dataset",
           "load_for_backend",
           "normalize", "split_arrays", "steps_per_epoch",
           "train_pipeline", "with_augmentation"]


__getattr__, __dir__ = lazy_names.attach(__name__, _LAZY)

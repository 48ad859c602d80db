"""The class names of a dataset, in label order, for printing predictions.

The digits are named by their digit, an image folder by its class folders
(the sorted sub-folders of `train/`, as `image_folder` numbers them), the
tensorflow-datasets ones by tfds' label names where tfds is installed. A
training run stores its names (`inputs.json`), so that later commands
name its classes as it trained on them (`changed_classes` says how a
folder differs since).
"""

import importlib.util
import os

from one_keras.data import image_folder


def dataset_class_names(name, data_dir=None):
    """The class names of the dataset `name`, or `None` when unknown.

    Args:
        name: str. A dataset name (`one_keras.data.dataset_names()`).
        data_dir: str or `None`. The image folder (`"image_folder"`) or the
            tfds data directory.

    Returns:
        A list of str, label `i` named by item `i`; `None` where the names
        cannot be read (the image folder is gone, tfds is not installed,
        an unknown dataset).
    """
    if name == "digits":
        return [str(digit) for digit in range(10)]
    if name == "image_folder":
        train = os.path.join(data_dir or "", "train")
        if not data_dir or not os.path.isdir(train):
            return None
        return image_folder.class_folders(train)
    if importlib.util.find_spec("tensorflow_datasets") is None:
        return None
    try:
        import tensorflow_datasets as tfds

        return list(tfds.builder(name, data_dir=data_dir)
                    .info.features["label"].names)
    except Exception:  # Not a tfds name, no label feature: names unknown.
        return None


def changed_classes(trained, now):
    """How the class names `now` differ from those a run `trained` on.

    Args:
        trained: list of str. The run's classes, in label order.
        now: list of str. The classes as they are now, in label order.

    Returns:
        str. `""` when they are the same; else a short phrase for a
        message, e.g. `"3 classes now, 3 when trained; new: aardvark;
        gone: fish"`.
    """
    if list(trained) == list(now):
        return ""
    new = [name for name in now if name not in trained]
    gone = [name for name in trained if name not in now]
    parts = [f"{len(now)} classes now, {len(trained)} when trained"]
    parts += [f"{what}: {_few(names)}" for what, names in (
        ("new", new), ("gone", gone)) if names]
    if not new and not gone:
        parts.append("in another order")
    return "; ".join(parts)


def _few(names, count=5):
    shown = ", ".join(image_folder.shown(name) for name in names[:count])
    return shown + (f" and {len(names) - count} more"
                    if len(names) > count else "")

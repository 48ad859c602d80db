"""The dataset a training run used, read from its `config.json`.

`one_keras.training.experiment.run` writes `config.json` into its output
directory; export, evaluation and the flatness analysis read it so that a
run is evaluated on the data (and preprocessing) it was trained with. Its
`inputs.json` (`one_keras.training.train_inputs.inputs_record`) gives the
absolute data location, so that a relative `data_dir` does not depend on
the working directory, and the class names, so that an image folder whose
classes changed since is refused (its labels would not be the model's).
The model a run saved is loaded with
`one_keras.methods.saved_models.load_model`.
"""

import os

from one_keras.runs import RunDirectory


def read_run_config(model_path):
    """The `config.json` of the run `model_path` belongs to, or `None`.

    Args:
        model_path: str. A training output directory or a `.keras` file
            inside one.

    Returns:
        The config dict, or `None` when there is no readable `config.json`.
    """
    return RunDirectory.of_model(model_path).read_config()


def run_data_settings(model_path, dataset=None, data_dir=None,
                      image_size=None, skip_bad_images=False):
    """The `load_dataset` arguments of a run, with explicit ones winning.

    Args:
        model_path: str. A training output directory or a `.keras` file in
            one.
        dataset: str or `None`. A dataset name overriding the run's.
        data_dir: str or `None`. Overrides the run's `data_dir`.
        image_size: int or `None`. Overrides the run's `image_size`.
        skip_bad_images: bool. Leave out undecodable files of an image
            folder; the run's own setting holds for its own folder.

    Returns:
        A dict of `name`, `data_dir`, `image_size` and `seed` (and
        `skip_bad_images` when set) for `one_keras.data.load_dataset`.

    Raises:
        ValueError: `dataset` is `None` and there is no `config.json` beside
            the model, naming the flag to add.
    """
    from one_keras.data import dataset_names

    run_dir = RunDirectory.of_model(model_path)
    config = run_dir.read_config() or {}
    path = run_dir.config_path
    if dataset and config.get("dataset") not in (None, dataset):
        config = {}  # Another dataset: the run's settings do not apply.
    name = dataset or config.get("dataset")
    if not name:
        raise ValueError(
            f"`model` {os.fspath(model_path)!r} has no "
            f"{os.path.basename(path)} beside "
            "it (not a training output directory), so its data is unknown: "
            f"add --dataset (one of {', '.join(dataset_names())}) and, for "
            "tfds or an image folder, --data_dir (export also takes "
            "--dataset none: random pixels).")
    if not dataset:
        _check_field(path, "dataset", name, str, "a dataset name")
    if not data_dir:
        _check_field(path, "data_dir", config.get("data_dir"), str,
                     "a folder path or null")
    if not image_size:
        _check_field(path, "image_size", config.get("image_size"), int,
                     "an integer >= 0 (0: the dataset's size)", minimum=0)
    _check_field(path, "seed", config.get("seed"), int, "an integer")
    recorded = run_dir.read_inputs() or {}
    if not data_dir and recorded.get("dataset") == name and isinstance(
            recorded.get("data_location"), str) and recorded.get(
            "data_dir") == config.get("data_dir"):
        # Where training found it, from whatever the working directory.
        data_dir = recorded["data_location"]
    settings = {"name": name,
                "data_dir": data_dir or config.get("data_dir") or None,
                "image_size": image_size or config.get("image_size") or None,
                "seed": int(config.get("seed") or 0)}
    if skip_bad_images or config.get("skip_bad_images") is True:
        settings["skip_bad_images"] = True
    return settings


def _check_field(path, field, value, kind, rule, minimum=None):
    """Refuses a `config.json` field of the wrong type in one line."""
    if value is None:
        return
    if isinstance(value, kind) and not isinstance(value, bool) and (
            minimum is None or value >= minimum):
        return
    fix = "fix the field" if field == "seed" else \
        f"fix the field or pass --{field}"
    raise ValueError(
        f"`{field}` in {path} must be {rule} (the run config was edited or "
        f"damaged); {fix}. Received: {field}={value!r}")


def check_run_classes(model_path, name, data_dir):
    """Refuses an image folder whose classes are not those the run (of
    `model_path`) trained on, as its `inputs.json` names them.

    Args:
        model_path: str. A training output directory or a `.keras` file in
            one.
        name: str. The dataset to load.
        data_dir: str or `None`. The image folder to load.

    Raises:
        ValueError: its `train/` class folders differ from the run's
            classes (renamed, added, removed): its labels would not be the
            model's. Runs of earlier versions record no classes and pass.
    """
    from one_keras.data import image_folder
    from one_keras.data import labels

    recorded = RunDirectory.of_model(model_path).read_inputs() or {}
    trained = recorded.get("class_names")
    train = os.path.join(data_dir or "", "train")
    if name != "image_folder" or recorded.get("dataset") != name or \
            not isinstance(trained, list) or not data_dir or \
            not os.path.isdir(train):
        return
    change = labels.changed_classes(trained, image_folder.class_folders(
        train))
    if change:
        raise ValueError(
            f"The classes of the image folder --data_dir={data_dir} "
            f"changed since the run of `model` trained on it ({change}), "
            "so its labels are not the model's. Restore its class folders "
            "or pass --data_dir of a folder with the run's classes. "
            f"Received: model={os.fspath(model_path)}")


def load_run_dataset(model_path, dataset=None, data_dir=None,
                     image_size=None, skip_bad_images=False):
    """Loads the dataset a run trained on (see `run_data_settings`).

    As training does (`one_keras.data.load_for_backend`), the digits and
    image folders load with NumPy and Pillow off the TensorFlow backend, so
    that they need no TensorFlow; the tfds datasets need it (a one-line
    `one_keras.utils.backends.BackendError` where it is missing).

    Args:
        model_path, dataset, data_dir, image_size, skip_bad_images: as in
            `run_data_settings`.

    Returns:
        A `one_keras.data.Dataset`, or a
        `one_keras.data.numpy_pipeline.NumpyDataset` (arrays) off
        the TensorFlow backend; `eval_pipeline` and `split_arrays` take
        either.
    """
    from one_keras.data import load_for_backend

    settings = run_data_settings(model_path, dataset, data_dir, image_size,
                                 skip_bad_images)
    name = settings.pop("name")
    check_run_classes(model_path, name, settings["data_dir"])
    # Its readers take arrays and test batches, never training batches:
    # unaugmented (the NumPy loader keeps arrays only then).
    return load_for_backend(name, augment="none", **settings)

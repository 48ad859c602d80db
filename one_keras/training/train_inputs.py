"""The data of a training run: its dataset, the batches `fit` reads, and
what later commands need of them (`inputs_record`, a run's `inputs.json`).
"""

import os

from one_keras import data as data_lib
from one_keras.data import labels
from one_keras.data import numpy_pipeline
from one_keras.training import distribution


def load_train_dataset(config):
    """The dataset of a run: from `tf.data` (tfds, or anything on the
    TensorFlow backend), else from NumPy (`one_keras.data.for_backend`).

    Args:
        config: `one_keras.training.train_config.TrainConfig`.

    Returns:
        A `one_keras.data.Dataset` or a `NumpyDataset`.
    """
    return data_lib.load_for_backend(
        config.dataset, download=config.download,
        data_dir=config.data_dir or None, seed=config.seed,
        image_size=config.image_size or None, augment=config.augment,
        skip_bad_images=config.skip_bad_images)


def inputs_record(config, dataset, model=None):
    """What later commands need of a run's inputs, as `inputs.json` holds
    it: predict and evaluate read the class names and the data location
    from it instead of the data folder as it is then.

    Args:
        config: `one_keras.training.train_config.TrainConfig`.
        dataset: what `load_train_dataset(config)` returned.
        model: the training model or `None`. A KD model adds its teacher's
            input contract (`KDModel.teacher_input`).

    Returns:
        A dict of JSON values: `dataset`; `data_dir` as given and
        `data_location`, its absolute path (`None` without one);
        `num_classes`; `class_names` in label order (`None` where the
        dataset does not name them); and for KD `teacher`.
    """
    data_dir = config.data_dir
    location = os.path.abspath(data_dir) if data_dir else None
    names = labels.dataset_class_names(config.dataset, location)
    if names is not None and len(names) != dataset.num_classes:
        names = None
    record = {"dataset": config.dataset, "data_dir": data_dir,
              "data_location": location,
              "num_classes": int(dataset.num_classes),
              "class_names": names}
    teacher = getattr(model, "teacher_input", None)
    if teacher:
        record["teacher"] = teacher
    return record


def check_same_classes(run_dir, record):
    """Refuses to resume a run on data whose classes changed (renamed,
    added or removed class folders) since it trained.

    Args:
        run_dir: `one_keras.runs.RunDirectory`. The run to resume.
        record: dict. `inputs_record` of the data now.

    Raises:
        ValueError: the run's `inputs.json` names other classes.
    """
    trained = (run_dir.read_inputs() or {}).get("class_names")
    now = record.get("class_names")
    if not isinstance(trained, list) or now is None:
        return
    change = labels.changed_classes(trained, now)
    if change:
        raise ValueError(run_dir.unresumable(
            f"the classes of its data changed since it trained ({change})"
        ))


def fit_inputs(config, dataset, strategy, start_epoch, steps):
    """The training and test inputs of `fit` from `start_epoch` on.

    Args:
        config: `one_keras.training.train_config.TrainConfig`.
        dataset: what `load_train_dataset(config)` returned.
        strategy: what `one_keras.training.distribution.make_strategy` returned.
        start_epoch: int. The first epoch to train (a resumed run's).
        steps: int. Training steps per epoch.

    Returns:
        `(train, test)`: `tf.data.Dataset`s or `keras.utils.PyDataset`s.
    """
    # Past the last epoch (killed while saving), nothing is consumed.
    start_epoch = min(start_epoch, config.epochs - 1)
    multiple = distribution.batch_multiple(strategy)
    if isinstance(dataset, numpy_pipeline.NumpyDataset):
        return (numpy_pipeline.train_batches(
                    dataset, config.batch_size, seed=config.seed,
                    start_epoch=start_epoch, steps=steps,
                    batch_multiple=multiple),
                numpy_pipeline.eval_batches(
                    dataset, config.eval_batch_size,
                    steps=config.eval_steps or None,
                    batch_multiple=multiple))
    tpu = distribution.is_tpu(strategy)
    train = data_lib.train_pipeline(
        dataset, config.batch_size, seed=config.seed, epochs=config.epochs,
        start_epoch=start_epoch, steps=steps,
        deterministic=config.deterministic,
        drop_remainder=tpu or multiple > 1)
    test = data_lib.eval_pipeline(dataset, config.eval_batch_size,
                                  steps=config.eval_steps or None,
                                  drop_remainder=tpu, batch_multiple=multiple)
    return train, test

"""The data of a training run: its dataset and the batches `fit` reads."""

from one_keras import backends
from one_keras import data as data_lib
from one_keras import distribution
from one_keras.data import numpy_pipeline


def load_run_dataset(config):
    """The dataset of a run: from `tf.data` (tfds, or anything on the
    TensorFlow backend), else from NumPy (`one_keras.data.numpy_pipeline`).

    Args:
        config: `one_keras.run_config.TrainConfig`.

    Returns:
        A `one_keras.data.Dataset` or a `NumpyDataset`.
    """
    options = dict(data_dir=config.data_dir or None, seed=config.seed,
                   image_size=config.image_size or None,
                   augment=config.augment,
                   skip_bad_images=config.skip_bad_images)
    if backends.is_tensorflow() or \
            config.dataset not in numpy_pipeline.DATASETS:
        backends.require_tensorflow(f"The dataset {config.dataset!r} "
                                    "(from tensorflow-datasets)")
        return data_lib.load_dataset(config.dataset, download=config.download,
                                     **options)
    return numpy_pipeline.load_numpy_dataset(config.dataset, **options)


def fit_inputs(config, dataset, strategy, start_epoch, steps):
    """The training and test inputs of `fit` from `start_epoch` on.

    Args:
        config: `one_keras.run_config.TrainConfig`.
        dataset: what `load_run_dataset(config)` returned.
        strategy: what `one_keras.distribution.make_strategy` returned.
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

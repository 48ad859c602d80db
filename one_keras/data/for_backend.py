"""`load_for_backend`: a dataset by name, in the pipeline the Keras backend
runs: `tf.data` on TensorFlow (and for the tensorflow-datasets datasets,
which need it), else NumPy and Pillow (`one_keras.data.numpy_pipeline`), so
that the digits and image folders need no TensorFlow.

Training (`one_keras.training.train_inputs`) and the commands that reload a
run's data (`one_keras.runs.saved_run`) load through it.
"""


def load_for_backend(name, download=False, **options):
    """Loads a dataset by name for the active Keras backend.

    Args:
        name: str. One of `one_keras.data.dataset_names()`.
        download: bool. Whether tensorflow-datasets may download it (its
            datasets only).
        **options: `data_dir`, `seed`, `image_size`, `augment`,
            `skip_bad_images`, as `one_keras.data.load_dataset` takes them.

    Returns:
        A `one_keras.data.Dataset`, or a `numpy_pipeline.NumpyDataset` off
        the TensorFlow backend.

    Raises:
        one_keras.utils.backends.BackendError: a tensorflow-datasets
            dataset without TensorFlow installed (one line).
    """
    from one_keras.data import numpy_pipeline
    from one_keras.utils import backends

    if not backends.is_tensorflow() and name in numpy_pipeline.DATASETS:
        return numpy_pipeline.load_numpy_dataset(name, **options)
    backends.require_tensorflow(
        f"The dataset {name!r} (from tensorflow-datasets)")
    from one_keras.data.registry import load_dataset

    return load_dataset(name, download=download, **options)

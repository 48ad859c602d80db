"""Batched, augmented, sharded tf.data pipelines from a `Dataset`."""

try:  # Only the tf.data path needs TensorFlow (see one_keras.utils.backends).
    import tensorflow as tf
except ImportError:
    tf = None

SHUFFLE_BUFFER = 50_000  # Whole CIFAR; a window of larger datasets.


def _options(deterministic):
    options = tf.data.Options()
    options.deterministic = bool(deterministic)
    # Each worker reads everything and keeps its share of the batches; works
    # for in-memory and file-backed sources alike.
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    return options


def steps_per_epoch(dataset, batch_size):
    """Number of batches in one epoch of the training split."""
    return -(-dataset.num_train // batch_size)


def train_pipeline(dataset, batch_size, seed=0, epochs=1, start_epoch=0,
                   steps=None, deterministic=False, drop_remainder=False,
                   cache=True):
    """The training input: epochs `start_epoch..epochs-1`, one after another.

    Epoch `e` is shuffled with seed `(seed, e)` and every image is augmented
    with a stateless seed made of `(seed, e, index)`, so epoch `e` is the
    same whether training started at epoch 0 or resumed at `e`.

    Args:
        dataset: `one_keras.data.Dataset`.
        batch_size: int. Global batch size.
        seed: int. Run seed.
        epochs: int. Last epoch (exclusive).
        start_epoch: int. First epoch (resume).
        steps: int or `None`. Batches per epoch; `None` for the whole split.
        deterministic: bool. Keep element order in parallel maps.
        drop_remainder: bool. Drop the last partial batch (TPU).
        cache: bool. Cache decoded raw images in memory when
            `dataset.cacheable`.

    Returns:
        A `tf.data.Dataset` of `(images, labels)` batches, `steps` (or
        `steps_per_epoch`) batches per epoch.
    """
    source = dataset.train_source
    if cache and dataset.cacheable:
        source = source.cache()
    buffer = min(dataset.num_train, SHUFFLE_BUFFER)
    steps = steps or steps_per_epoch(dataset, batch_size)

    run_seed = tf.constant(seed, tf.int64)

    def one_epoch(epoch):
        # `shuffle` takes a tensor seed, but compares it with 0 in Python when
        # the graph seed is 0; a fixed graph seed (only for this traced
        # function) keeps the order a function of `(seed, epoch)` alone.
        tf.random.set_seed(1)
        data = source.shuffle(buffer, seed=run_seed * 1_000_003 + epoch,
                              reshuffle_each_iteration=False)
        data = data.enumerate().map(
            lambda index, example: (
                dataset.prepare_train(
                    example[0], tf.stack([run_seed, epoch * 2**32 + index])),
                example[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=deterministic or None)
        data = data.batch(batch_size, drop_remainder=drop_remainder)
        # Repeat so that `steps` larger than one pass still fills the epoch.
        return data.repeat().take(steps)

    if start_epoch >= epochs:
        raise ValueError("`start_epoch` must be < `epochs`. Received: "
                         f"start_epoch={start_epoch}, epochs={epochs}")
    data = tf.data.Dataset.range(start_epoch, epochs).flat_map(one_epoch)
    return data.prefetch(tf.data.AUTOTUNE).with_options(
        _options(deterministic))


def eval_pipeline(dataset, batch_size, steps=None, drop_remainder=False,
                  cache=True, batch_multiple=1):
    """The test input: normalised, batched, optionally the first `steps`.

    Args:
        dataset: `one_keras.data.Dataset`.
        batch_size: int.
        steps: int or `None`. Only the first `steps` batches.
        drop_remainder: bool. Drop the last partial batch (TPU).
        cache: bool. Cache the batches when `dataset.cacheable`.
        batch_multiple: int. Above 1, batches are `(images, labels,
            sample_weights)` and a last, partial batch is padded to a
            multiple of it with copies of its last image, weighted 0 (it
            then splits evenly over that many devices).

    Returns:
        A `tf.data.Dataset` of batches; for a `NumpyDataset` (no
        TensorFlow needed), `numpy_pipeline.eval_batches`'
        `keras.utils.PyDataset`.
    """
    from one_keras.data import numpy_pipeline

    if isinstance(dataset, numpy_pipeline.NumpyDataset):
        return numpy_pipeline.eval_batches(dataset, batch_size, steps=steps,
                                           batch_multiple=batch_multiple)
    source = dataset.test_source
    data = source.map(lambda x, y: (dataset.prepare_eval(x), y),
                      num_parallel_calls=tf.data.AUTOTUNE)
    data = data.batch(batch_size, drop_remainder=drop_remainder)
    if batch_multiple > 1:
        data = data.map(lambda x, y: _pad_batch(x, y, batch_multiple))
    if steps:
        data = data.take(steps)
    if cache and dataset.cacheable:
        data = data.cache()
    return data.prefetch(tf.data.AUTOTUNE).with_options(_options(True))


def _pad_batch(images, labels, multiple):
    """`(images, labels, weights)` padded to a multiple of `multiple` with
    copies of the last example, weighted 0."""
    count = tf.shape(labels)[0]
    short = tf.math.floormod(-count, multiple)
    weights = tf.concat([tf.ones([count]), tf.zeros([short])], 0)
    images = tf.concat([images, tf.repeat(images[-1:], short, 0)], 0)
    labels = tf.concat([labels, tf.repeat(labels[-1:], short, 0)], 0)
    return images, labels, weights

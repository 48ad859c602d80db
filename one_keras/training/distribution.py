"""Where a training run places its work: `tf.distribute` strategies on
TensorFlow, `keras.distribution.DataParallel` on JAX, one device elsewhere.

`make_strategy(name)` returns an object with the part of the
`tf.distribute.Strategy` interface a run uses (`scope()`,
`num_replicas_in_sync`), whatever the backend.
"""

import contextlib

from one_keras.utils import backends
from one_keras.utils import validation


STRATEGIES = backends.ALL_STRATEGIES


class LocalStrategy:
    """The strategy of a backend without `tf.distribute`: one device, or
    (JAX) `keras.distribution.DataParallel` over every device.

    Args:
        distribution: `keras.distribution.Distribution` or `None`. Set as
            Keras' global distribution inside `scope()`.
    """

    def __init__(self, distribution=None):
        self.distribution = distribution
        self.cluster_resolver = None
        devices = getattr(getattr(distribution, "device_mesh", None),
                          "devices", None)
        self.num_replicas_in_sync = 1 if devices is None else int(
            devices.size)

    @contextlib.contextmanager
    def scope(self):
        """Builds and trains under the distribution (if any)."""
        if self.distribution is None:
            yield
            return
        with self.distribution.scope():
            yield


def make_strategy(name, tpu=""):
    """The strategy for `name` (see `STRATEGIES`) on the active backend.

    On TensorFlow: `auto` mirrors over all local GPUs when there are several
    and otherwise uses the default strategy; `multi_worker` reads the
    cluster from `TF_CONFIG`; `tpu` connects to the TPU `tpu`. On JAX:
    `auto` and `data_parallel` split every batch over all devices with
    `keras.distribution.DataParallel` when there are several (BatchNorm
    then normalises over the global batch). Elsewhere: one device.

    Args:
        name: str. One of `STRATEGIES` that the backend runs.
        tpu: str. TPU name or address for `tpu` ("" = the resolver's
            default).

    Returns:
        A `tf.distribute.Strategy` (TensorFlow) or a `LocalStrategy`.
    """
    validation.check_choice("strategy", name, STRATEGIES)
    backends.check_strategy(name)
    if backends.backend() == "jax":
        if name == "one_device":
            return LocalStrategy()
        distribution = backends.data_parallel_distribution()
        if name == "data_parallel" and distribution is None:
            raise ValueError(
                "`strategy` 'data_parallel' needs several devices, and JAX "
                "sees one; use 'auto', or on CPU set XLA_FLAGS=--xla_force_"
                "host_platform_device_count=N. Received: "
                "strategy='data_parallel'")
        return LocalStrategy(distribution)
    if not backends.is_tensorflow():
        return LocalStrategy()
    return _tf_strategy(name, tpu)


def _tf_strategy(name, tpu):
    import tensorflow as tf

    if name == "multi_worker":  # Before anything starts the TF runtime.
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            tpu=tpu or None)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(
            gpus[0].name if gpus else "/cpu:0")
    # "mirrored": all GPUs; without any, all logical CPUs.
    devices = gpus or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([d.name for d in devices])


def batch_multiple(strategy):
    """The number every batch's size must be a multiple of under `strategy`.

    `keras.distribution.DataParallel` (JAX) splits each batch evenly over
    its devices and refuses a batch that does not split; `tf.distribute`
    strategies split uneven batches themselves.

    Args:
        strategy: what `make_strategy` returned.

    Returns:
        int: the number of devices of a `LocalStrategy` with a
        distribution, else 1.
    """
    if isinstance(strategy, LocalStrategy):
        return strategy.num_replicas_in_sync
    return 1


def check_batch_sizes(strategy, **batch_sizes):
    """Refuses batch sizes that do not split over `strategy`'s devices.

    Args:
        strategy: what `make_strategy` returned.
        **batch_sizes: flag name -> batch size.

    Raises:
        ValueError: naming the flag and the multiple it needs.
    """
    multiple = batch_multiple(strategy)
    for name, size in batch_sizes.items():
        if size % multiple:
            raise ValueError(
                f"`{name}` must be a multiple of the {multiple} devices "
                f"that each batch is split over; use {name}="
                f"{max(multiple, size - size % multiple)} (or "
                "--strategy=one_device). Received: "
                f"{name}={size}")


def run_scope(strategy):
    """The context `fit` and `evaluate` run in: the distribution of a
    `LocalStrategy` (JAX shards each batch by it), nothing for
    `tf.distribute` strategies (the model keeps its own).

    Args:
        strategy: what `make_strategy` returned.

    Returns:
        A context manager.
    """
    if isinstance(strategy, LocalStrategy):
        return strategy.scope()
    return contextlib.nullcontext()


def is_tpu(strategy):
    """Whether `strategy` runs on TPUs (batches must then be full)."""
    if not backends.is_tensorflow():
        return False
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.TPUStrategy)


def mixed_precision_policy(strategy):
    """`mixed_float16` on a GPU (TensorFlow, torch), `mixed_bfloat16` on
    TPU, CPU and JAX."""
    if is_tpu(strategy):
        return "mixed_bfloat16"
    return backends.mixed_precision_policy()


def enable_determinism():
    """Deterministic kernels where the backend has a switch (TensorFlow's op
    determinism; JAX on CPU is deterministic already)."""
    if backends.is_tensorflow():
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


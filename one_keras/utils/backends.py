"""What each Keras 3 backend offers one_keras, in one place.

ONE and every baseline train through Keras' own `train_step` on the
`tensorflow`, `jax` and `torch` backends: the models, losses and metrics use
`keras.ops` only. What only TensorFlow has stays behind the functions of
this module: the `tf.distribute` strategies and their replica arithmetic,
the in-graph label check, the fused BatchNorm kernel and per-replica
synchronized BatchNorm. On JAX, `keras.distribution.DataParallel` splits the
global batch over the devices and BatchNorm then sees the global batch.

| feature                         | tensorflow | jax          | torch |
|---------------------------------|------------|--------------|-------|
| `model.fit`, every method       | yes        | yes          | yes   |
| `tf.data` input, tfds datasets  | yes        | with TF      | with TF |
| NumPy input (digits, folders)   | yes        | yes          | yes   |
| several devices                 | tf.distribute | DataParallel | no |
| synchronized BatchNorm          | `--sync_bn` | implicit    | one device |
| in-graph label check            | yes        | at the data  | eager |
| export (SavedModel, TFLite, ONNX) | yes      | via TF       | via TF |
"""

import contextlib
import importlib.util

import keras
from keras import ops

from one_keras.utils import validation


# Starts the message of the label check (see `check_label_range`).
LABEL_RANGE_ERROR = "`y` must hold class labels in [0, num_classes - 1]"
# ... and ends it (TensorFlow's assert appends the tensors after it).
LABEL_RANGE_END = "a batch holds a label outside that range."
# `TrainConfig.strategy` values each backend can run.
STRATEGIES = {
    "tensorflow": ("auto", "one_device", "mirrored", "multi_worker", "tpu"),
    "jax": ("auto", "one_device", "data_parallel"),
    "torch": ("auto", "one_device"),
}
ALL_STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu",
                  "data_parallel")


class BackendError(RuntimeError):
    """A feature is not available on the active Keras backend."""


def backend():
    """The active Keras backend: `"tensorflow"`, `"jax"` or `"torch"`."""
    return keras.backend.backend()


def is_tensorflow():
    """Whether Keras runs on TensorFlow (where `tf.distribute` exists)."""
    return backend() == "tensorflow"


def tensorflow_installed():
    """Whether TensorFlow can be imported (for `tf.data`, tfds, export)."""
    return importlib.util.find_spec("tensorflow") is not None


def require_tensorflow(feature):
    """Raises `BackendError` in one line unless TensorFlow is installed.

    Args:
        feature: str. What needs TensorFlow, e.g. `"tfds datasets"`.
    """
    if not tensorflow_installed():
        raise BackendError(
            f"{feature} needs TensorFlow, which is not installed: install "
            "it with `pip install -r requirements.txt` (the default "
            "install), or use what runs without it (the digits and "
            "image_folder datasets, training on KERAS_BACKEND=jax).")


def check_strategy(strategy):
    """Raises `ValueError` unless the active backend runs `strategy`."""
    available = STRATEGIES.get(backend(), ("auto", "one_device"))
    if strategy not in available:
        raise ValueError(
            f"`strategy` {strategy!r} does not run on the Keras backend "
            f"{backend()!r}, which runs {', '.join(available)}; choose one "
            "of those or set KERAS_BACKEND to a backend that has it. "
            f"Received: strategy={strategy!r}")


def replicas_in_sync():
    """Replicas that sum their gradients: the `tf.distribute` strategy's on
    TensorFlow, 1 elsewhere (JAX's `DataParallel` computes one global loss)."""
    if not is_tensorflow():
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def global_batch_mean(values):
    """Mean of per-sample `values` over the global batch, for one replica.

    Outside a `tf.distribute` replica with several replicas it is the plain
    mean. Inside one it is the replica's sum divided by the global batch
    size, times the number of replicas: the loss is divided by that number
    and the replicas' gradients are summed, which gives the global batch's
    mean also when a last, partial batch is split unevenly.

    Args:
        values: float32 tensor of shape `(batch,)`.

    Returns:
        A float32 scalar.
    """
    if not is_tensorflow():
        return ops.mean(values)
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return ops.mean(values)
    count = ops.cast(ops.size(values), "float32")
    global_count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
    return ops.sum(values) * context.num_replicas_in_sync / global_count


def label_range_message(num_classes):
    """The one-line error for labels outside `[0, num_classes - 1]`."""
    return (f"{LABEL_RANGE_ERROR} for a model with {num_classes} classes, "
            f"i.e. [0, {num_classes - 1}], as integers (not one-hot); "
            f"{LABEL_RANGE_END}")


def check_label_shape(shape, name="y"):
    """Raises unless `shape` is one label per sample: `(n,)`, or `(n, 1)`.

    Args:
        shape: tuple or `tf.TensorShape`. The labels' (static) shape;
            `None` dimensions (and an unknown rank) pass.
        name: str. The argument's name.
    """
    try:
        dims = tuple(shape)
    except ValueError:  # A TensorFlow shape of unknown rank.
        return
    if any(d is not None and d != 1 for d in dims[1:]):
        raise ValueError(validation.label_shape_message(dims, name))


def check_label_range(y, num_classes):
    """`y`, after checking that every label is a class index.

    On TensorFlow the check is in the graph (`fit` and `evaluate` turn its
    failure into a one-line `ValueError`, see `readable_label_errors`); on
    torch, which runs eagerly, it raises at once. A jitted JAX step cannot
    assert: there, labels are checked where the data is made
    (`one_keras.data`, and `fit` on NumPy arrays). XLA drops the asserts.

    Args:
        y: tensor or `None`. Integer class labels.
        num_classes: int or `None`.

    Returns:
        `y`.
    """
    if y is None or num_classes is None:
        return y
    check_label_shape(y.shape)  # Static: while tracing, on every backend.
    if is_tensorflow():
        import tensorflow as tf

        labels = ops.cast(ops.reshape(y, (-1,)), "int64")
        message = label_range_message(num_classes)
        checks = [tf.debugging.assert_non_negative(labels, message=message),
                  tf.debugging.assert_less(
                      labels, tf.constant(num_classes, "int64"),
                      message=message)]
        with tf.control_dependencies(checks):
            return tf.identity(y)
    if backend() == "torch":
        labels = ops.reshape(y, (-1,))
        if bool(ops.any(labels < 0)) or bool(ops.any(labels >= num_classes)):
            raise ValueError(label_range_message(num_classes))
    return y


@contextlib.contextmanager
def readable_label_errors():
    """Turns TensorFlow's failed in-graph label check into a one-line
    `ValueError` (other backends raise it as such already)."""
    if not is_tensorflow():
        yield
        return
    import tensorflow as tf

    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        lines = [line.strip() for line in error.message.splitlines()
                 if LABEL_RANGE_ERROR in line]
        if not lines:
            raise
        message = lines[0][lines[0].index(LABEL_RANGE_ERROR):]
        if LABEL_RANGE_END in message:  # Not TF's "[Condition x < y ...".
            message = message[:message.index(LABEL_RANGE_END) +
                              len(LABEL_RANGE_END)]
        raise ValueError(message) from None


def fused_batch_norm_available():
    """Whether TensorFlow's fused BatchNorm kernel can run (TF backend)."""
    return is_tensorflow()


def synchronized_batch_norm_available():
    """Whether `BatchNormalization(synchronized=True)` is accepted: only
    TensorFlow's strategies keep per-replica statistics to synchronize."""
    return is_tensorflow()


def device_count():
    """Accelerators (or CPU devices when there are none) of the backend."""
    if backend() == "jax":
        import jax

        return jax.device_count()
    if is_tensorflow():
        import tensorflow as tf

        return max(1, len(tf.config.list_logical_devices("GPU")))
    return 1


def has_gpu():
    """Whether the backend sees a GPU."""
    if backend() == "jax":
        import jax

        return jax.default_backend() == "gpu"
    if is_tensorflow():
        import tensorflow as tf

        return bool(tf.config.list_logical_devices("GPU"))
    if backend() == "torch":
        import torch

        return torch.cuda.is_available()
    return False


def mixed_precision_policy():
    """`mixed_float16` on a GPU (with Keras' loss scaling), else
    `mixed_bfloat16` (TPU, CPU, and JAX, whose GPUs run bfloat16 well)."""
    if has_gpu() and backend() != "jax":
        return "mixed_float16"
    return "mixed_bfloat16"


def data_parallel_distribution():
    """A `keras.distribution.DataParallel` over every JAX device.

    Returns:
        The distribution, or `None` when only one device is visible.
    """
    if backend() != "jax":
        raise BackendError("`keras.distribution.DataParallel` runs on the "
                           "jax backend: set KERAS_BACKEND=jax.")
    devices = keras.distribution.list_devices()
    if len(devices) < 2:
        return None
    return keras.distribution.DataParallel(devices=devices)

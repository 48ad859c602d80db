"""Small layers of the networks that Keras does not ship."""

import contextlib
import contextvars

import keras
from keras import ops

from one_keras.utils import backends


@keras.saving.register_keras_serializable(package="one_keras")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` whose training step is one fused op.

    Keras 3 normalises with separate moment, subtract, scale and shift ops;
    on CPU that costs more than the convolutions of a small ResNet. In
    training, for 4-D channels-last inputs on the TensorFlow backend, this
    layer runs TensorFlow's fused kernel instead (oneDNN on CPU, cuDNN on
    GPU). It has the same weights, config and results as the Keras layer
    (the moving variance is the biased batch variance, as Keras keeps it);
    inference and every other case use the Keras code unchanged. With
    `synchronized=True` and more than one replica in sync, it takes the
    Keras path, whose statistics cover the global batch of all replicas;
    on one replica the fused kernel computes the same thing.

    `synchronized=True` is accepted on every backend and kept in the config,
    so that a `--sync_bn` model loads anywhere: only TensorFlow's strategies
    keep per-replica statistics to synchronize; on JAX,
    `keras.distribution.DataParallel` normalises over the global batch
    anyway, and torch trains on one device.
    """

    def __init__(self, *args, synchronized=False, **kwargs):
        super().__init__(*args, synchronized=bool(
            synchronized
            and backends.synchronized_batch_norm_available()), **kwargs)
        self.synchronized_requested = bool(synchronized)

    def get_config(self):
        return {**super().get_config(),
                "synchronized": self.synchronized_requested}

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        gamma = self.gamma if self.scale else ops.ones((channels,))
        beta = self.beta if self.center else ops.zeros((channels,))
        outputs, mean, variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
            x=inputs, scale=ops.cast(gamma, "float32"),
            offset=ops.cast(beta, "float32"),
            mean=ops.zeros((0,), "float32"),
            variance=ops.zeros((0,), "float32"),
            epsilon=self.epsilon, data_format="NHWC", is_training=True)
        count = ops.cast(ops.size(inputs) // channels, "float32")
        biased_variance = variance * (count - 1.0) / count
        self.moving_mean.assign(self.moving_mean * self.momentum
                                + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum
                                    + biased_variance * (1.0 - self.momentum))
        return outputs

    def _fusable(self, inputs, training, mask):
        return (training and self.trainable and mask is None
                and not self.renorm and len(inputs.shape) == 4
                and self.axis in (-1, 3)
                and backends.fused_batch_norm_available()
                and not (self.synchronized
                         and backends.replicas_in_sync() > 1))


_SYNCHRONIZED = contextvars.ContextVar("synchronized_batch_norm",
                                       default=False)


@contextlib.contextmanager
def synchronized_batch_norm(synchronized=True):
    """Makes the BatchNorm layers built inside synchronized across replicas.

    The model builders (`build_one_resnet(sync_bn=True)`,
    `build_one_model(..., sync_bn=True)`) enter it around the whole network,
    so every `batch_norm` layer and the gate's BatchNorm get
    `synchronized=synchronized` without each block taking an argument.

    Args:
        synchronized: bool. `True`: batch statistics over the global batch
            of all replicas; `False`: each replica's own slice. Defaults to
            `True`.
    """
    token = _SYNCHRONIZED.set(bool(synchronized))
    try:
        yield
    finally:
        _SYNCHRONIZED.reset(token)


def batch_norm_synchronized():
    """Whether BatchNorm layers built now are synchronized (see
    `synchronized_batch_norm`)."""
    return _SYNCHRONIZED.get()

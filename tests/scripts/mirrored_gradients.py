"""Compares one ONE step on 2 logical CPU replicas with one device.

Run in its own process: the CPU must be split before TensorFlow starts.
Prints a JSON line with the largest differences of loss and gradients.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from one_keras.methods.one import build_one_resnet  # noqa: E402


def build():
    keras.utils.set_random_seed(0)
    return build_one_resnet(depth=8, num_classes=4, input_shape=(8, 8, 3),
                            width=4, weight_decay=1e-3)


def loss_and_gradients(model, images, labels):
    # Inference-mode BatchNorm: per-replica batch statistics would otherwise
    # differ from the full batch's, which is not what this test checks.
    with tf.GradientTape() as tape:
        outputs = model(images, training=False)
        loss = model.compute_loss(images, labels, outputs)
    return loss, tape.gradient(loss, model.trainable_variables)


def main():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(8, 8, 8, 3)).astype("float32")
    labels = (np.arange(8) % 4).astype("int32")

    single = build()
    want_loss, want_grads = loss_and_gradients(single, images, labels)

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        mirrored = build()
    mirrored.set_weights(single.get_weights())
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
    batch = next(iter(strategy.experimental_distribute_dataset(data)))
    loss, grads = strategy.run(loss_and_gradients,
                               args=(mirrored, batch[0], batch[1]))
    loss = strategy.reduce("SUM", loss, axis=None)
    grads = [strategy.reduce("SUM", g, axis=None) for g in grads]

    with strategy.scope():
        mirrored.compile(optimizer="sgd")
    history = mirrored.fit(images, labels, batch_size=8, epochs=1,
                           verbose=0).history
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "loss_diff": abs(float(loss) - float(want_loss)),
        "grad_diff": max(float(np.max(np.abs(a - b)))
                         for a, b in zip(grads, want_grads)),
        "fit_loss": history["loss"][0],
    }))


if __name__ == "__main__":
    main()

"""Trains small ONE networks 3 steps on one device, mirrored or multi-worker.

    distributed_equality.py OUT_DIR local    # one device and mirrored
    distributed_equality.py OUT_DIR worker   # a multi_worker task (TF_CONFIG)

`local` splits the CPU in 2 logical devices (before TensorFlow starts) and
trains every network under `MirroredStrategy` and, but for
`per_replica_bn`, on one device (where it would compute what `sync_bn`
computes: the same layers and weights, one replica); `worker`
trains the networks of `WORKER_NETWORKS` through the multi-worker loop,
`one_keras.training.multi_worker`. Every run starts from the same weights (`seed 0`)
and sees the same 21 samples in batches of 8, 8 and 5 (the last one split
unevenly over 2 replicas), and saves its weights before and after training
to `OUT_DIR/<run>_<network>.npz` (`initial_*` and `trained_*` arrays).
"""

import os
import sys


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


# Grappler's graph rewrites cost most of these tiny runs' time (3 s instead
# of 10 s a fit); the ops and what they compute stay the same.
tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})

NETWORKS = ("bn_free", "sync_bn", "per_replica_bn")
WORKER_NETWORKS = ("bn_free", "sync_bn")
SAMPLES, BATCH, CLASSES = 21, 8, 4


def build(network):
    """A small ONE model: BatchNorm-free, or a ResNet-8 of width 4."""
    from one_keras import ONEModel
    from one_keras.methods.one import build_one_resnet
    from one_keras.methods.one.one_network import build_one_network

    keras.utils.set_random_seed(0)
    if network == "bn_free":
        inputs = keras.Input((8, 8, 3), name="images")
        trunk = keras.layers.Conv2D(4, 3, activation="relu",
                                    name="trunk_conv")(inputs)

        def branch(x, prefix):
            x = keras.layers.Conv2D(4, 3, activation="relu",
                                    name=f"{prefix}conv")(x)
            x = keras.layers.GlobalAveragePooling2D(name=f"{prefix}pool")(x)
            return keras.layers.Dense(CLASSES, name=f"{prefix}logits")(x)

        return ONEModel(build_one_network(inputs, trunk, branch,
                                          num_branches=2, gate="average"),
                        weight_decay=1e-3)
    return build_one_resnet(depth=8, width=4, num_classes=CLASSES,
                            num_branches=2, input_shape=(8, 8, 3),
                            weight_decay=1e-3, sync_bn=network == "sync_bn")


def dataset():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(SAMPLES, 8, 8, 3)).astype("float32")
    labels = (np.arange(SAMPLES) % CLASSES).astype("int32")
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(BATCH)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    return data.with_options(options)


def steps():
    return -(-SAMPLES // BATCH)


def train(network, strategy, fit):
    """Builds, compiles and trains `network` under `strategy`.

    Returns:
        The weights before and after training (lists of arrays).
    """
    with strategy.scope():
        model = build(network)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    initial = model.get_weights()
    fit(model, strategy)
    return initial, model.get_weights()


def fit_keras(model, strategy):
    model.fit(dataset(), epochs=1, shuffle=False, verbose=0)


def fit_multi_worker(model, strategy):
    from one_keras.training import multi_worker
    from one_keras.training import train_config

    multi_worker.fit_multi_worker(
        model, strategy, dataset(), steps(),
        train_config.TrainConfig(epochs=1, verbose=0), start_epoch=0,
        callbacks=[])


def save(out_dir, run, network, initial, trained):
    arrays = {f"initial_{i}": w for i, w in enumerate(initial)}
    arrays.update({f"trained_{i}": w for i, w in enumerate(trained)})
    np.savez(os.path.join(out_dir, f"{run}_{network}.npz"), **arrays)


def main(out_dir, mode):
    if mode == "worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        run = f"worker{strategy.cluster_resolver.task_id}"
        for network in WORKER_NETWORKS:
            save(out_dir, run, network,
                 *train(network, strategy, fit_multi_worker))
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    for network in NETWORKS:
        if network != "per_replica_bn":
            save(out_dir, "one_device", network,
                 *train(network, tf.distribute.get_strategy(), fit_keras))
        save(out_dir, "mirrored", network,
             *train(network, mirrored, fit_keras))


if __name__ == "__main__":
    main(*sys.argv[1:3])

"""A few training steps of every method on the backend of KERAS_BACKEND.

Usage: `KERAS_BACKEND=jax python tests/scripts/backend_steps.py OUT.npz
[INITIAL.npz]`. Builds each case's model, loads its initial weights from
INITIAL.npz when given (else saves them to OUT.npz's
`<case>/initial/<i>`), trains `STEPS` SGD steps on fixed batches (no
shuffling, no augmentation) and writes every step's logged `loss` and the
final weights to OUT.npz. `tests/test_backends.py` runs it once per backend
and compares.
"""

import os
import sys

import keras
import numpy as np

from one_keras.methods import build_method_model
from one_keras.methods.one import one_network

STEPS = 3
BATCH = 8
NUM_CLASSES = 5
SHAPE = (8, 8, 3)
# (case, method, network): "resnet" is a depth-8, width-4 CIFAR ResNet with
# BatchNorm; "bn_free" a ONE network of Dense layers only.
CASES = [("one_bn_free", "one", "bn_free")] + [
    (f"{method}_resnet", method, "resnet")
    for method in ("one", "vanilla", "kd", "dml", "ensemble", "snapshot")]


def bn_free_one_model():
    """A ONE model of Dense layers (no BatchNorm, average gate)."""
    from one_keras import ONEModel

    inputs = keras.Input(SHAPE)
    features = keras.layers.Dense(16, activation="relu", name="trunk")(
        keras.layers.Flatten()(inputs))

    def branch(features, prefix):
        x = keras.layers.Dense(12, activation="relu",
                               name=f"{prefix}hidden")(features)
        return keras.layers.Dense(NUM_CLASSES, name=f"{prefix}logits")(x)

    network = one_network.build_one_network(
        inputs, features, branch, num_branches=3, gate="average")
    return ONEModel(network)


def build(method, network):
    if network == "bn_free":
        return bn_free_one_model()
    options = {}
    if method == "kd":
        teacher = build_method_model("vanilla", num_classes=NUM_CLASSES,
                                     input_shape=SHAPE, depth=8, width=4)
        options["teacher"] = teacher.deployed_model()
    if method == "snapshot":
        options["num_snapshots"] = 1
    return build_method_model(method, num_classes=NUM_CLASSES,
                              input_shape=SHAPE, depth=8, width=4, **options)


def batches():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(STEPS * BATCH,) + SHAPE).astype("float32")
    labels = rng.integers(0, NUM_CLASSES, STEPS * BATCH).astype("int32")
    return images, labels


class StepLosses(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))


def main(out_path, initial_path=None):
    initial = dict(np.load(initial_path)) if initial_path else {}
    results = {}
    images, labels = batches()
    for case, method, network in CASES:
        keras.utils.set_random_seed(0)
        model = build(method, network)
        if initial:
            model.set_weights([initial[f"{case}/initial/{i}"] for i in
                               range(len(model.weights))])
        else:
            for i, weight in enumerate(model.get_weights()):
                results[f"{case}/initial/{i}"] = weight
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9,
                                                     nesterov=True))
        recorder = StepLosses()
        # Keras' `loss` is the running mean of the epoch: step losses are
        # recovered from it below.
        model.fit(images, labels, batch_size=BATCH, epochs=1, shuffle=False,
                  verbose=0, callbacks=[recorder])
        running = np.asarray(recorder.losses)
        counts = np.arange(1, len(running) + 1)
        step_losses = running * counts - np.concatenate(
            [[0.0], running[:-1] * counts[:-1]])
        results[f"{case}/losses"] = step_losses
        for i, weight in enumerate(model.get_weights()):
            results[f"{case}/final/{i}"] = weight
    np.savez(out_path, **results)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main(*sys.argv[1:])

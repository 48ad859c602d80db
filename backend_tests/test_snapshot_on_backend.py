"""Snapshot ensembles train past their first snapshot on this backend."""

import keras
import numpy as np

from one_keras import methods


class RecordSnapshot(keras.callbacks.Callback):
    """Keeps a copy of the first snapshot's weights after epoch 0."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            self.weights = [np.array(w) for w in
                            self.model.snapshots.get_layer(
                                "member0").get_weights()]


def test_training_goes_on_after_a_snapshot_with_its_own_copy():
    """On JAX, a snapshot that shared the network's buffers made the next
    train step donate one buffer twice ("Attempt to donate the same buffer
    twice"); each snapshot must also keep its weights while training goes
    on."""
    keras.utils.set_random_seed(0)
    model = methods.build_method_model(
        "snapshot", num_classes=3, input_shape=(8, 8, 1), num_snapshots=2,
        depth=8, width=4)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    rng = np.random.default_rng(0)
    images = rng.normal(size=(8, 8, 8, 1)).astype("float32")
    labels = rng.integers(0, 3, 8).astype("int32")
    record = RecordSnapshot()
    model.fit(images, labels, batch_size=4, epochs=2, verbose=0,
              callbacks=[methods.SnapshotCallback(epochs=2), record])
    assert int(keras.ops.convert_to_numpy(model.snapshots_taken)) == 2
    first = model.snapshots.get_layer("member0").get_weights()
    for want, got in zip(record.weights, first):
        np.testing.assert_array_equal(got, want)
    network = model.network.get_weights()
    for want, got in zip(network, model.snapshots.get_layer(
            "member1").get_weights()):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(first[0], network[0])  # Epoch 1 trained.
    logits = model.deployed_model().predict(images, verbose=0)
    assert np.isfinite(logits).all()

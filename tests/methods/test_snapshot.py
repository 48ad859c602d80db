"""Snapshot ensembles: the cyclic schedule, snapshots and their average."""

import keras
import numpy as np
import pytest

from one_keras import methods

ARCH = {"num_classes": 4, "input_shape": (8, 8, 3), "depth": 8, "width": 4}


def test_cyclic_cosine_schedule_values():
    schedule = methods.cyclic_cosine_decay(0.2, total_steps=300, cycles=3)
    assert isinstance(schedule,
                      keras.optimizers.schedules.CosineDecayRestarts)
    lr = lambda step: float(schedule(step))  # noqa: E731
    for start in (0, 100, 200):  # every cycle restarts at the full rate
        np.testing.assert_allclose(lr(start), 0.2, rtol=1e-6)
        np.testing.assert_allclose(lr(start + 50), 0.1, rtol=1e-5)
        assert lr(start + 99) < 0.2 * 1e-3
    assert lr(99) < lr(98) < lr(50) < lr(1)
    np.testing.assert_allclose(lr(25), 0.1 * (1 + np.cos(np.pi / 4)),
                               rtol=1e-5)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(schedule))
    assert float(restored(150)) == lr(150)


def test_the_old_registered_schedule_still_loads():
    # An SGD config as a .keras file of an earlier version holds it, when
    # the schedule was one_keras' own `CyclicCosineDecay` class.
    old = {"module": "keras.optimizers", "class_name": "SGD", "config": {
        "name": "sgd", "momentum": 0.9, "learning_rate": {
            "module": "one_keras.methods.snapshot",
            "class_name": "CyclicCosineDecay",
            "config": {"initial_learning_rate": 0.2, "total_steps": 300,
                       "cycles": 3},
            "registered_name": "one_keras>CyclicCosineDecay"}},
        "registered_name": None}
    schedule = keras.saving.deserialize_keras_object(old)._learning_rate
    assert isinstance(schedule,
                      keras.optimizers.schedules.CosineDecayRestarts)
    new = methods.cyclic_cosine_decay(0.2, total_steps=300, cycles=3)
    for step in (0, 25, 99, 100, 150, 299):
        np.testing.assert_allclose(float(schedule(step)), float(new(step)),
                                   rtol=1e-6)


@pytest.mark.parametrize("arguments, message", [
    ({"initial_learning_rate": 0.1, "total_steps": 10, "cycles": 0},
     "`cycles` must be an integer >= 1"),
    ({"initial_learning_rate": 0.1, "total_steps": 2, "cycles": 3},
     "`cycles` must be <= `total_steps`"),
    ({"initial_learning_rate": -1.0, "total_steps": 10, "cycles": 1},
     "`initial_learning_rate` must be a number > 0"),
])
def test_schedule_errors(arguments, message):
    with pytest.raises(ValueError, match=message):
        methods.cyclic_cosine_decay(**arguments)


def test_fit_takes_a_snapshot_per_cycle(tmp_path):
    model = methods.build_method_model("snapshot", num_snapshots=2, **ARCH)
    with pytest.raises(ValueError, match="No snapshot is taken yet"):
        model.deployed_model()
    rng = np.random.default_rng(0)
    images = rng.normal(size=(8, 8, 8, 3)).astype("float32")
    labels = np.arange(8) % 4
    model.compile(optimizer=keras.optimizers.SGD(
        methods.cyclic_cosine_decay(0.1, total_steps=4, cycles=2)))
    callback = methods.SnapshotCallback(epochs=4, directory=str(tmp_path))
    model.fit(images, labels, batch_size=8, epochs=4, verbose=0,
              callbacks=[callback])
    assert int(model.snapshots_taken.numpy()) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "snapshot_0.weights.h5", "snapshot_1.weights.h5"]
    last = model.snapshots.get_layer("member1")
    first = model.snapshots.get_layer("member0")
    for now, kept in zip(model.network.weights, last.weights):
        np.testing.assert_array_equal(now.numpy(), kept.numpy())
    assert any(not np.array_equal(a.numpy(), b.numpy())
               for a, b in zip(first.weights, last.weights))
    members = np.stack([m.predict(images, verbose=0)
                        for m in (first, last)], axis=1)
    probabilities = keras.ops.convert_to_numpy(
        keras.ops.softmax(members, axis=-1)).mean(axis=1)
    np.testing.assert_allclose(
        np.exp(model.deployed_model().predict(images, verbose=0)),
        probabilities, atol=1e-5)
    results = model.evaluate(images, labels, verbose=0, return_dict=True)
    expected = np.mean(probabilities.argmax(-1) == labels)
    np.testing.assert_allclose(results["ensemble_accuracy"], expected)
    with pytest.raises(ValueError, match="All 2 snapshots are taken"):
        model.take_snapshot()


def test_fit_refuses_fewer_epochs_than_snapshots():
    model = methods.build_method_model("snapshot", num_snapshots=3, **ARCH)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    images = np.zeros((4, 8, 8, 3), "float32")
    with pytest.raises(ValueError, match="3 snapshots need at least as many "
                       "epochs.*epochs=2"):
        model.fit(images, np.arange(4) % 4, epochs=2, verbose=0)
    assert int(model.snapshots_taken.numpy()) == 0

"""PCL: its loss against NumPy, its mean network and its views."""

import keras
import numpy as np
import pytest

from one_keras import methods
from one_keras.methods import pcl
from one_keras.runs import backup
from tests.methods.numpy_reference import kl
from tests.methods.numpy_reference import log_softmax

ARCH = {"num_classes": 4, "input_shape": (8, 8, 3), "depth": 8, "width": 4}


def numpy_pcl_terms(labels, branches, ensemble, mean_branches, temperature):
    """The PCL loss of docs/family/pcl.md, written out in NumPy."""
    rows = np.arange(len(labels))
    m = branches.shape[1]
    ce = -log_softmax(ensemble)[rows, labels]
    pe = np.zeros(len(labels))
    pm = np.zeros(len(labels))
    for i in range(m):
        ce = ce - log_softmax(branches[:, i])[rows, labels]
        pe = pe + kl(ensemble, branches[:, i], temperature)
        pm = pm + sum(kl(mean_branches[:, j], branches[:, i], temperature)
                      for j in range(m) if j != i) / (m - 1)
    return {"ce": ce, "pe": pe, "pm": pm}


def tiny_data(count=8):
    rng = np.random.default_rng(0)
    return (rng.normal(size=(count, 8, 8, 3)).astype("float32"),
            np.arange(count) % 4)


@pytest.fixture(scope="module")
def tiny_model():
    return build(weight_decay=1e-3, temperature=2.0)


def build(**options):
    keras.utils.set_random_seed(0)
    model = methods.build_method_model("pcl", **options, **ARCH)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    return model


@pytest.mark.parametrize("num_branches", [2, 3, 4])
def test_pcl_loss_terms_match_numpy(num_branches):
    rng = np.random.default_rng(num_branches)
    shape = (5, num_branches, 7)
    branches = rng.normal(size=shape).astype("float32") * 3
    mean_branches = rng.normal(size=shape).astype("float32") * 3
    ensemble = rng.normal(size=(5, 7)).astype("float32") * 3
    labels = rng.integers(0, 7, size=5)
    terms = pcl.pcl_loss_terms(labels, branches, ensemble, mean_branches,
                               temperature=2.5)
    expected = numpy_pcl_terms(labels, branches.astype("float64"),
                               ensemble.astype("float64"),
                               mean_branches.astype("float64"), 2.5)
    for key in ("ce", "pe", "pm"):
        np.testing.assert_allclose(terms[key], expected[key], rtol=1e-5,
                                   atol=1e-6)


def test_model_loss_is_ce_plus_ramped_distillation_plus_decay(tiny_model):
    model = tiny_model
    model.kl_ramp.assign(0.5)
    images, labels = tiny_data()
    y_pred = model(images, training=False)
    loss = float(model.compute_loss(images, labels, y_pred))
    terms = numpy_pcl_terms(
        labels, np.asarray(y_pred["branch_logits"], "float64"),
        np.asarray(y_pred["ensemble_logits"], "float64"),
        np.asarray(y_pred["mean_branch_logits"], "float64"), 2.0)
    decay = 0.5e-3 * sum(float(np.sum(v.numpy() ** 2))
                         for v in model.network.trainable_variables)
    expected = (terms["ce"].mean() + 0.5 * (terms["pe"] + terms["pm"]).mean()
                + decay)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    # The mean network is not trained: weight decay skips it.
    assert len(model.trainable_variables) == len(
        model.network.trainable_variables)


def test_first_step_copies_the_network_then_averages(tiny_model):
    model = tiny_model  # The other tests leave its mean network untouched.
    assert int(model.ema_step.numpy()) == 0
    model.update_mean_network()  # Step 0: decay 0, a copy.
    for source, average in zip(model.network.variables,
                               model.mean_network.variables):
        np.testing.assert_array_equal(source.numpy(), average.numpy())
    kernel = model.network.trainable_variables[0]
    before = kernel.numpy()
    kernel.assign(before + 1.0)
    model.update_mean_network()  # Step 1: decay min(1 - 1/2, 0.999) = 0.5.
    np.testing.assert_allclose(model.mean_network.variables[0].numpy(),
                               before + 0.5, rtol=1e-6)


def test_each_peer_sees_its_own_view_in_training_only(tiny_model):
    model = tiny_model
    images, _ = tiny_data()
    views = [np.asarray(v) for v in model._views(images)]
    assert not np.array_equal(views[0], views[1])
    assert not np.array_equal(views[0], images)
    outputs = model(images, training=False)
    np.testing.assert_allclose(
        model.deployable_cores()["target"](images),
        outputs["mean_branch_logits"][:, 0], atol=1e-5)
    same = pcl.PCLModel(model.network, model.mean_network,
                        branch_views=False)
    assert all(v is images for v in same._views(images))


@pytest.mark.slow
def test_a_resumed_run_averages_as_a_straight_one(tmp_path):
    """2 epochs straight == 1 epoch, a backup, a fresh model restored from
    it and the second epoch: the same mean network, bit for bit (its
    views' random state is saved with it)."""
    images, labels = tiny_data()
    fit = {"batch_size": 4, "shuffle": False, "verbose": 0}
    straight = build(rampup_epochs=3)
    straight.fit(images, labels, epochs=2, **fit)
    first = build(rampup_epochs=3)
    first.fit(images, labels, epochs=1, **fit)
    backup.save_state(first, str(tmp_path), 1, {})
    resumed = build(rampup_epochs=3)
    assert backup.restore_newest(resumed, str(tmp_path))[0] == 1
    resumed.fit(images, labels, epochs=2, initial_epoch=1, **fit)
    assert int(resumed.ema_step.numpy()) == 4
    for name, a, b in (("mean", straight.mean_network.variables,
                        resumed.mean_network.variables),
                       ("network", straight.network.variables,
                        resumed.network.variables)):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x.numpy(), y.numpy(),
                                          err_msg=f"{name} {x.path}")


@pytest.mark.parametrize("options, message", [
    ({"num_branches": 1}, "`num_branches`"),
    ({"ema_decay": 1.5}, "`ema_decay`"),
    ({"view_shift": 0.75}, "`view_shift`"),
])
def test_errors(options, message):
    with pytest.raises(ValueError, match=message):
        methods.build_method_model("pcl", **options, **ARCH)


def test_a_mean_network_of_another_architecture_is_refused():
    network = pcl.build_pcl_network("resnet", 4, 2, (8, 8, 3), depth=8,
                                    width=4)
    other = pcl.build_pcl_network("resnet", 4, 2, (8, 8, 3), depth=8,
                                  width=8)
    with pytest.raises(ValueError, match="`mean_network` must have"):
        pcl.PCLModel(network, other)

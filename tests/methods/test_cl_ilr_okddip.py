"""CL-ILR and OKDDip: their losses against NumPy references, OKDDip's
attention, CL-ILR's backpropagation rescaling and their argument errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from one_keras import methods
from one_keras.methods import cl_ilr
from one_keras.methods import okddip
from tests.methods.numpy_reference import cross_entropy
from tests.methods.numpy_reference import data
from tests.methods.numpy_reference import decay
from tests.methods.numpy_reference import kl
from tests.methods.numpy_reference import softmax

ARCH = {"num_classes": 4, "input_shape": (8, 8, 3), "depth": 8, "width": 4}


def cl_ilr_reference(z, labels, temperature):
    """(ce, kl) batch means of CL-ILR for head logits `(batch, H, C)`."""
    heads = z.shape[1]
    total_ce = total_kl = 0.0
    for h in range(heads):
        target = np.mean([z[:, j] for j in range(heads) if j != h], axis=0)
        total_ce += cross_entropy(z[:, h], labels)
        total_kl += kl(target, z[:, h], temperature)
    return total_ce.mean(), total_kl.mean()


@pytest.fixture(scope="module")
def cl_ilr_model():
    return methods.build_method_model(
        "cl_ilr", num_branches=3, temperature=2.0, beta=0.3,
        weight_decay=1e-3, **ARCH)


@pytest.fixture(scope="module")
def okddip_model():
    return methods.build_method_model(
        "okddip", num_peers=3, temperature=3.0, weight_decay=1e-3, **ARCH)


def test_cl_ilr_loss_matches_numpy(cl_ilr_model):
    temperature, beta, weight_decay = 2.0, 0.3, 1e-3
    model = cl_ilr_model
    images, labels = data()
    y_pred = model(images, training=False)
    loss = float(model.compute_loss(images, labels, y_pred))
    z = np.asarray(y_pred["branch_logits"], "float64")
    ce_mean, kl_mean = cl_ilr_reference(z, labels, temperature)
    expected = (beta * ce_mean + (1 - beta) * kl_mean +
                decay(model.trainable_variables, weight_decay))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    # The ensemble is the heads' mean logits.
    np.testing.assert_allclose(y_pred["teacher_logits"], z.mean(1),
                               atol=1e-5)


@pytest.mark.parametrize("target_gradient", [False, True])
def test_cl_ilr_gradient_matches_numpy(target_gradient):
    temperature = 2.0
    rng = np.random.default_rng(1)
    z = rng.normal(size=(5, 3, 4))
    labels = rng.integers(0, 4, size=5)
    logits = tf.Variable(z.astype("float32"))
    with tf.GradientTape() as tape:
        ce_terms, kl_terms = cl_ilr.cl_ilr_loss_terms(
            labels, logits, temperature, target_gradient)
        value = tf.reduce_sum(kl_terms)
    grad = tape.gradient(value, logits).numpy()
    if target_gradient:  # central differences of the NumPy loss
        expected = np.zeros_like(z)
        for index in np.ndindex(*z.shape):
            step = np.zeros_like(z)
            step[index] = 1e-5
            plus = cl_ilr_reference(z + step, labels, temperature)[1]
            minus = cl_ilr_reference(z - step, labels, temperature)[1]
            expected[index] = (plus - minus) * 5 / 2e-5
    else:  # d/dz_h of T^2 KL(stop(q_h) || p_h) = T (p_h - q_h)
        targets = (z.sum(1, keepdims=True) - z) / 2
        expected = temperature * (softmax(z / temperature) -
                                  softmax(targets / temperature))
    np.testing.assert_allclose(grad, expected, atol=2e-5)
    np.testing.assert_allclose(
        kl_terms, [cl_ilr_reference(z[i:i + 1], labels[i:i + 1],
                                    temperature)[1] for i in range(5)],
        rtol=1e-5)


def test_backprop_rescaling_divides_the_shared_gradient():
    layer = cl_ilr.GradientRescale(0.25)
    x = tf.Variable(np.arange(6, dtype="float32").reshape(2, 3))
    with tf.GradientTape() as tape:
        y = layer(x, training=True)
        value = tf.reduce_sum(3.0 * y)
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    np.testing.assert_allclose(tape.gradient(value, x), np.full((2, 3), 0.75))
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(3.0 * layer(x, training=False))
    np.testing.assert_allclose(tape.gradient(value, x), np.full((2, 3), 3.0))


def test_cl_ilr_rescales_by_the_number_of_heads_and_deploys_stock(
        cl_ilr_model):
    model = cl_ilr_model
    rescale = model.network.get_layer(cl_ilr.RESCALE_NAME)
    assert rescale.scale == pytest.approx(1 / 3)
    images, _ = data()
    for name, core in model.deployable_cores().items():
        assert not any(isinstance(layer, cl_ilr.GradientRescale)
                       for layer in core.layers), name
    target = model.deployable_cores()["target"]
    np.testing.assert_allclose(
        target(images), model(images)["branch_logits"][:, 0], atol=1e-6)
    # The deployables share the training model's weights.
    assert len(target.trainable_weights) == len(
        model.target_model().trainable_weights)
    assert {id(w) for w in target.trainable_weights} <= {
        id(w) for w in model.trainable_weights}


def test_okddip_attention_and_loss_match_numpy(okddip_model):
    temperature, weight_decay = 3.0, 1e-3
    model = okddip_model
    network = model.network
    images, labels = data()
    y_pred = model(images, training=False)
    features = keras.Model(network.input, [
        network.get_layer(f"peer{i}_logits").input for i in range(3)])(
            images, training=False)
    f = np.stack([np.asarray(x, "float64") for x in features], 1)
    query = network.get_layer("query").kernel.numpy()
    key = network.get_layer("key").kernel.numpy()
    assert query.shape == (f.shape[-1], f.shape[-1] // 8)
    alpha = softmax(np.einsum("bid,bjd->bij", f @ query, f @ key))
    z = np.asarray(y_pred["peer_logits"], "float64")
    targets = np.einsum("bij,bjc->bic", alpha, z)
    np.testing.assert_allclose(y_pred["attention"], alpha, atol=1e-5)
    np.testing.assert_allclose(y_pred["peer_targets"], targets, atol=1e-5)
    leader = np.asarray(y_pred["leader_logits"], "float64")
    expected = cross_entropy(leader, labels) + kl(z.mean(1), leader, temperature)
    for a in range(3):
        expected += cross_entropy(z[:, a], labels) + kl(targets[:, a], z[:, a],
                                             temperature)
    expected = expected.mean() + decay(model.trainable_variables,
                                       weight_decay)
    loss = float(model.compute_loss(images, labels, y_pred))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


@pytest.mark.parametrize("target_gradient", [True, False])
def test_okddip_projections_learn_through_the_targets(okddip_model,
                                                     target_gradient):
    images, labels = data()
    kernel = okddip_model.network.get_layer("query").kernel
    with tf.GradientTape() as tape:
        y_pred = okddip_model(images, training=True)
        terms = okddip.okddip_loss_terms(
            labels, y_pred["peer_logits"], y_pred["peer_targets"],
            y_pred["leader_logits"], target_gradient=target_gradient)
        loss = tf.reduce_sum(tf.add_n(list(terms)))
    grad = tape.gradient(loss, kernel)
    norm = 0.0 if grad is None else float(tf.norm(grad))
    assert (norm > 0.0) == target_gradient


def test_family_argument_errors():
    with pytest.raises(ValueError, match="num_branches"):
        methods.build_method_model("cl_ilr", num_branches=1, **ARCH)
    with pytest.raises(ValueError, match="projection_factor"):
        methods.build_method_model("okddip", projection_factor=64, **ARCH)
    with pytest.raises(ValueError, match="beta"):
        methods.build_method_model("cl_ilr", beta=1.5, **ARCH)


def test_okddip_reports_the_peers_as_branches(okddip_model):
    results = {"leader_accuracy": 0.5, "ensemble_accuracy": 0.6,
               "peer_0_accuracy": 0.1, "peer_1_accuracy": 0.2,
               "peer_2_accuracy": 0.3}
    fields = okddip_model.report_fields(results)
    assert fields["target_accuracy"] == 0.5
    assert fields["ensemble_accuracy"] == 0.6
    assert fields["branch_accuracy"] == [0.1, 0.2, 0.3]
    assert fields["branch_accuracy_mean"] == pytest.approx(0.2)

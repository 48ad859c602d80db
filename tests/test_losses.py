"""The ONE loss against an independent NumPy implementation."""

import numpy as np
import pytest
import tensorflow as tf

from one_keras.methods.one import loss as losses


def numpy_log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def numpy_one_loss(labels, branch_logits, teacher_logits, temperature):
    """docs/method.md section 2, written out in float64."""
    batch, num_branches, _ = branch_logits.shape
    rows = np.arange(batch)
    ce = 0.0
    for i in range(num_branches):
        ce += -numpy_log_softmax(branch_logits[:, i])[rows, labels].mean()
    ce += -numpy_log_softmax(teacher_logits)[rows, labels].mean()
    log_p_e = numpy_log_softmax(teacher_logits / temperature)
    kl = 0.0
    for i in range(num_branches):
        log_p_i = numpy_log_softmax(branch_logits[:, i] / temperature)
        kl += (np.exp(log_p_e) * (log_p_e - log_p_i)).sum(axis=1).mean()
    return ce, temperature ** 2 * kl


@pytest.mark.parametrize("num_branches,temperature", [(2, 3.0), (3, 3.0),
                                                      (5, 1.5)])
def test_loss_matches_numpy(num_branches, temperature):
    rng = np.random.default_rng(num_branches)
    labels = rng.integers(0, 7, size=16)
    branch_logits = rng.normal(scale=3.0, size=(16, num_branches, 7))
    gate = rng.dirichlet(np.ones(num_branches), size=16)
    teacher_logits = np.einsum("bm,bmc->bc", gate, branch_logits)
    want_ce, want_kl = numpy_one_loss(labels, branch_logits, teacher_logits,
                                      temperature)

    ce, kl = losses.one_loss_terms(labels, branch_logits.astype("float32"),
                                   teacher_logits.astype("float32"),
                                   temperature)
    total = losses.one_loss(labels, branch_logits.astype("float32"),
                            teacher_logits.astype("float32"), temperature,
                            kl_weight=0.5)

    np.testing.assert_allclose(float(ce), want_ce, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(float(kl), want_kl, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(float(total), want_ce + 0.5 * want_kl,
                               rtol=1e-6, atol=1e-6)


def test_single_branch_is_plain_cross_entropy():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=8)
    logits = rng.normal(size=(8, 1, 4)).astype("float32")
    ce, kl = losses.one_loss_terms(labels, logits, logits[:, 0])
    want = -numpy_log_softmax(logits[:, 0].astype("float64"))[
        np.arange(8), labels].mean()
    np.testing.assert_allclose(float(ce), want, rtol=1e-6)
    assert float(kl) == 0.0


def test_kl_does_not_train_the_teacher():
    branch_logits = tf.Variable(np.random.rand(4, 3, 5).astype("float32"))
    teacher_logits = tf.Variable(np.random.rand(4, 5).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        kl = losses.distillation_kl(teacher_logits, branch_logits, 3.0)
        total = tf.reduce_mean(kl)
    assert tape.gradient(total, teacher_logits) is None
    assert tape.gradient(total, branch_logits) is not None


def test_rampup_weight_values():
    assert losses.kl_rampup_weight(0, 80) == pytest.approx(np.exp(-5.0))
    assert losses.kl_rampup_weight(40, 80) == pytest.approx(np.exp(-1.25))
    assert losses.kl_rampup_weight(80, 80) == 1.0
    assert losses.kl_rampup_weight(200, 80) == 1.0
    assert losses.kl_rampup_weight(0, 0) == 1.0


@pytest.mark.parametrize("kwargs,match", [
    ({"temperature": 0.0}, "`temperature` must be a number > 0"),
    ({"temperature": -1.0}, "`temperature` must be a number > 0"),
    ({"kl_weight": -0.1}, "`kl_weight` must be a number >= 0"),
])
def test_bad_loss_arguments(kwargs, match):
    logits = np.zeros((2, 3, 4), "float32")
    with pytest.raises(ValueError, match=match):
        losses.one_loss(np.array([0, 1]), logits, logits[:, 0], **kwargs)


@pytest.mark.parametrize("labels", [[0, 4], [-1, 0], [0.5, 1.0]])
def test_labels_out_of_range(labels):
    logits = np.zeros((2, 3, 4), "float32")
    with pytest.raises(ValueError, match="`y_true` must hold"):
        losses.one_loss(np.array(labels), logits, logits[:, 0])

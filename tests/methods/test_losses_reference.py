"""KD and DML losses against NumPy references; no-sharing size."""

import keras
import numpy as np
import tensorflow as tf

from one_keras import methods
from one_keras.methods import dml
from one_keras.methods.one import build_one_resnet
from one_keras.reports.parameters import count_trainable
from tests.methods.numpy_reference import data
from tests.methods.numpy_reference import decay
from tests.methods.numpy_reference import log_softmax


ARCH = {"num_classes": 4, "input_shape": (8, 8, 3), "depth": 8, "width": 4}


def test_kd_loss_matches_numpy():
    teacher = methods.build_method_model("vanilla", **ARCH).deployed_model()
    alpha, temperature, weight_decay = 0.7, 4.0, 1e-3
    model = methods.build_method_model(
        "kd", teacher=teacher, alpha=alpha, temperature=temperature,
        weight_decay=weight_decay, **ARCH)
    images, labels = data()
    y_pred = model(images, training=False)
    loss = float(model.compute_loss(images, labels, y_pred))
    s = np.asarray(y_pred["student_logits"], "float64")
    t = np.asarray(teacher(images, training=False), "float64")
    np.testing.assert_allclose(t, y_pred["teacher_logits"], atol=1e-6)
    ce = -log_softmax(s)[np.arange(len(labels)), labels].mean()
    log_pt, log_ps = log_softmax(t / temperature), log_softmax(s / temperature)
    kl = (np.exp(log_pt) * (log_pt - log_ps)).sum(-1).mean()
    expected = ((1 - alpha) * ce + alpha * temperature ** 2 * kl +
                decay(model.student.trainable_variables, weight_decay))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    # The teacher is frozen: weight decay covers the student alone.
    assert len(model.trainable_variables) == len(
        model.student.trainable_variables)


def test_dml_loss_matches_numpy():
    temperature, weight_decay = 2.0, 1e-3
    model = methods.build_method_model(
        "dml", num_peers=3, temperature=temperature,
        weight_decay=weight_decay, **ARCH)
    images, labels = data()
    y_pred = model(images, training=False)
    loss = float(model.compute_loss(images, labels, y_pred))
    z = np.asarray(y_pred["member_logits"], "float64")
    expected = 0.0
    for i in range(3):
        expected += -log_softmax(z[:, i])[np.arange(6), labels].mean()
        for j in range(3):
            if j != i:
                log_pj = log_softmax(z[:, j] / temperature)
                log_pi = log_softmax(z[:, i] / temperature)
                expected += temperature ** 2 * (np.exp(log_pj) * (
                    log_pj - log_pi)).sum(-1).mean() / 2
    expected += decay(model.trainable_variables, weight_decay)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_dml_targets_are_stopped():
    # d/dz_i of T^2 KL(stop(p_j) || p_i) is T (p_i - p_j): each peer is
    # pulled towards the others' mean and pushes nothing onto them.
    temperature = 2.0
    logits = tf.constant(np.random.default_rng(1).normal(size=(5, 3, 4)),
                         tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        total = tf.reduce_sum(dml.dml_kl(logits, temperature))
    gradient = tape.gradient(total, logits).numpy()
    p = np.exp(log_softmax(logits.numpy() / temperature))
    others = (p.sum(1, keepdims=True) - p) / 2
    np.testing.assert_allclose(gradient, temperature * (p - others),
                               atol=1e-5)


def test_no_sharing_has_one_trunk_per_branch():
    shared = build_one_resnet(num_branches=3, **ARCH)
    unshared = build_one_resnet(num_branches=3, share_trunk=False, **ARCH)
    plain = build_one_resnet(num_branches=1, **ARCH)
    gate = sum(int(np.prod(w.shape)) for name in ("gate_dense", "gate_bn")
               for w in shared.network.get_layer(name).trainable_weights)
    assert gate > 0
    assert count_trainable(unshared) == 3 * count_trainable(plain) + gate
    assert count_trainable(unshared.target_model()) == count_trainable(plain)
    trunks = [layer.name for layer in unshared.network.layers
              if layer.name.endswith("_trunk")]
    assert trunks == ["branch0_trunk", "branch1_trunk", "branch2_trunk"]
    images, _ = data()
    # Branch 0 reads its own trunk: the target is trunk 0 + branch 0.
    np.testing.assert_allclose(
        unshared.target_model()(images),
        unshared(images, training=False)["branch_logits"][:, 0], atol=1e-5)
    assert isinstance(unshared.network.get_layer("branch1_trunk"),
                      keras.Model)

"""KDCL: its loss and teachers against NumPy references of the paper's
equations (Guo et al., CVPR 2020; docs/family/kdcl.md), its views."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from one_keras import methods
from one_keras.methods import kdcl
from tests import tracing
from tests.methods.numpy_reference import cross_entropy
from tests.methods.numpy_reference import log_softmax

ARCH = {"num_classes": 4, "input_shape": (8, 8, 3), "depth": 8, "width": 4}


def naive_teacher(z, labels):
    """Per sample, the student (axis 1) of lowest cross-entropy."""
    ce = np.stack([cross_entropy(z[:, i], labels)
                   for i in range(z.shape[1])], 1)
    return z[np.arange(len(labels)), ce.argmin(1)]


def min_logit_teacher(z, labels):
    """Subtract each student's true-class logit; minimum over students."""
    true_logit = z[np.arange(len(labels)), :, labels][..., None]
    return (z - true_logit).min(1)


def simplex_grid(num_members, step):
    """Every point of the simplex whose coordinates are multiples of
    `step`."""
    ticks = np.arange(0.0, 1.0 + step / 2, step)
    points = [p + (1.0 - sum(p),)
              for p in itertools.product(ticks, repeat=num_members - 1)
              if sum(p) <= 1.0 + 1e-9]
    return np.clip(np.array(points), 0.0, 1.0)


def linear_teacher(z, labels):
    """The simplex combination of lowest mean CE, by grid search (convex:
    the grid's best is within O(step^2) of the minimum)."""
    grid = simplex_grid(z.shape[1], 0.004)
    combined = np.einsum("gm,bmc->gbc", grid, z)
    mean_ce = cross_entropy(combined, labels).mean(-1)
    return np.einsum("m,bmc->bc", grid[mean_ce.argmin()], z)


# The linear variant's solver loop and the other variants' whole-model
# checks take seconds: the slow tier runs them.
SLOW = pytest.mark.slow
VARIANTS_MODEL_SLOW = [pytest.param("naive", marks=SLOW),
                       pytest.param("linear", marks=SLOW), "min_logit"]
VARIANTS_SOLVER_SLOW = ["naive", pytest.param("linear", marks=SLOW),
                        "min_logit"]

NUMPY_TEACHERS = {"naive": naive_teacher, "linear": linear_teacher,
                  "min_logit": min_logit_teacher}


def teacher_of(variant, labels, z):
    """`kdcl.kdcl_teacher`, traced (the linear solver's loop runs seconds
    eagerly)."""
    with tracing.traced():
        return np.asarray(tf.function(kdcl.kdcl_teacher, autograph=False)(
            variant, labels, z), "float64")


def random_logits(seed, scale=2.0, shape=(6, 3, 4)):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape) * scale).astype("float32"), \
        rng.integers(0, shape[-1], size=shape[0])


@pytest.mark.parametrize("variant", kdcl.KDCL_VARIANTS)
def test_teacher_matches_numpy(variant):
    for seed, scale in [(0, 1.0), (1, 3.0)]:
        z, labels = random_logits(seed, scale)
        teacher = teacher_of(variant, labels, z)
        expected = NUMPY_TEACHERS[variant](z.astype("float64"), labels)
        if variant == "linear":  # An iterative solve: compare the CE.
            np.testing.assert_allclose(
                cross_entropy(teacher, labels).mean(),
                cross_entropy(expected, labels).mean(), rtol=1e-4)
        else:
            np.testing.assert_allclose(teacher, expected, atol=1e-5)


@pytest.mark.parametrize("variant", kdcl.KDCL_VARIANTS)
def test_teacher_is_at_least_as_good_as_every_student(variant):
    # The paper's aim: a soft target of lower CE than any student (per
    # sample for naive and min_logit, on the batch for linear).
    z, labels = random_logits(2, 3.0, shape=(8, 3, 5))
    teacher = teacher_of(variant, labels, z)
    students = np.stack([cross_entropy(z[:, i].astype("float64"), labels)
                         for i in range(3)], 1)
    if variant == "linear":
        assert cross_entropy(teacher, labels).mean() <= \
            students.mean(0).min() + 1e-5
    else:
        assert np.all(cross_entropy(teacher, labels) <=
                      students.min(1) + 1e-5)


@pytest.mark.parametrize("variant", VARIANTS_MODEL_SLOW)
def test_kdcl_loss_matches_numpy(variant):
    keras.utils.set_random_seed(0)
    temperature, weight_decay = 2.5, 1e-3
    model = methods.build_method_model(
        "kdcl", num_students=3, kdcl_variant=variant,
        temperature=temperature, weight_decay=weight_decay, **ARCH)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(6, 8, 8, 3)).astype("float32")
    labels = rng.integers(0, 4, size=6)
    y_pred = model(images, training=False)
    loss = float(tf.function(model.compute_loss)(images, labels, y_pred))
    z = np.asarray(y_pred["member_logits"], "float64")
    teacher = NUMPY_TEACHERS[variant](z, labels)
    log_pt = log_softmax(teacher / temperature)
    expected = 0.0
    for i in range(3):
        log_pi = log_softmax(z[:, i] / temperature)
        expected += cross_entropy(z[:, i], labels).mean()
        expected += temperature ** 2 * (np.exp(log_pt) * (
            log_pt - log_pi)).sum(-1).mean()
    expected += 0.5 * weight_decay * sum(
        float(np.sum(v.numpy() ** 2)) for v in model.trainable_variables)
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


@pytest.mark.parametrize("variant", VARIANTS_SOLVER_SLOW)
def test_teacher_is_stopped(variant):
    # d/dz_i of T^2 KL(stop(p_t) || p_i) is T (p_i - p_t): the teacher,
    # though made of the students' logits, pushes nothing back.
    temperature = 2.0
    z, labels = random_logits(3)
    logits = tf.constant(z)

    @tf.function
    def gradient_of(logits):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            total = tf.reduce_sum(kdcl.kdcl_kl(variant, labels, logits,
                                               temperature))
        return tape.gradient(total, logits)

    gradient = gradient_of(logits).numpy()
    teacher = teacher_of(variant, labels, z)
    p = np.exp(log_softmax(z.astype("float64") / temperature))
    p_t = np.exp(log_softmax(teacher / temperature))[:, None]
    np.testing.assert_allclose(gradient, temperature * (p - p_t), atol=1e-5)


@pytest.mark.slow
def test_views_apply_in_training_only():
    keras.utils.set_random_seed(0)
    images = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype(
        "float32")
    view = kdcl.build_view(0.25, "view")
    np.testing.assert_array_equal(view(images, training=False), images)
    first, second = (np.asarray(view(images, training=True))
                     for _ in range(2))
    assert not np.array_equal(first, second)
    model = methods.build_method_model("kdcl", **ARCH)
    without = methods.build_method_model("kdcl", student_views=False, **ARCH)
    assert len(model.views) == 2 and not without.views
    # Inference runs the plain students, as every deployable does.
    outputs = model(images, training=False)["member_logits"]
    np.testing.assert_allclose(outputs[:, 0],
                               model.target_model()(images), atol=1e-6)


def test_bad_settings_are_refused_in_one_line():
    with pytest.raises(ValueError, match="`kdcl_variant` must be one of"):
        kdcl.KDCLOptions(kdcl_variant="mean")
    with pytest.raises(ValueError, match="`num_students` must be"):
        kdcl.KDCLOptions(num_students=1)
    network = methods.peers.build_peers("resnet", 4, 1, input_shape=(8, 8, 3),
                                        depth=8, width=4)
    with pytest.raises(ValueError, match="at least 2 students"):
        kdcl.KDCLModel(network)

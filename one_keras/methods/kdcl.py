"""`KDCLModel`: online distillation via collaborative learning (KDCL).

Guo et al., CVPR 2020, "Online Knowledge Distillation via Collaborative
Learning". `K >= 2` separate students (plain networks, as DML's peers) see
their own random view of the batch; a soft target `z_t` is built from all
students' logits and the labels, and every student minimises
`CE(z_i, y) + T^2 KL(softmax(z_t / T) || softmax(z_i / T))`, `z_t` stopped.
How `z_t` is built is the variant (`KDCL_VARIANTS`; docs/family/kdcl.md):

- `naive`: per sample, the logits of the student of lowest cross-entropy.
- `linear`: `sum_i w_i z_i`, the simplex weights `w` of lowest batch
  cross-entropy (solved at every step, `linear_weights`).
- `min_logit`: every student's logits minus its own true-class logit, then
  the minimum over students of each class.

Paper: https://openaccess.thecvf.com/content_CVPR_2020/html/Guo_Online_Knowledge_Distillation_via_Collaborative_Learning_CVPR_2020_paper.html
"""

import dataclasses

import keras
from keras import ops

from one_keras.methods import losses
from one_keras.methods.method import Method
from one_keras.methods.method import Options
from one_keras.methods.method import option
from one_keras.methods.method_model import WEIGHT_DECAY
from one_keras.methods.method_model import sparse_ce
from one_keras.methods.peers import PeersModel
from one_keras.methods.peers import build_peers
from one_keras.methods.peers import member_cross_entropy
from one_keras.utils import validation


# The ensemble teachers the paper names KDCL-Naive, -Linear and -MinLogit.
KDCL_VARIANTS = ("naive", "linear", "min_logit")
KDCL_TEMPERATURE = 2.0
# Largest shift of a student's view, a fraction of the image (pad 4, crop 32).
VIEW_SHIFT = 0.125
# Exponentiated-gradient steps of the `linear` variant's weights.
LINEAR_SOLVER_STEPS = 300


def _logits_and_true_class(y, member_logits):
    """The teachers' prologue: the students' logits in float32 and the
    labels one-hot.

    Args:
        y: integer labels, `(batch,)` or `(batch, 1)`.
        member_logits: `(batch, students, classes)`.

    Returns:
        A `(logits, true_class)` pair: `(batch, students, classes)` float32
        logits and `(batch, classes)` one-hot labels.
    """
    member_logits = ops.cast(member_logits, "float32")
    labels = ops.cast(ops.reshape(y, (-1,)), "int32")
    return member_logits, ops.one_hot(labels, member_logits.shape[-1])


def naive_teacher(y, member_logits):
    """KDCL-Naive: per sample, the logits of the student whose
    cross-entropy is lowest.

    Args:
        y: integer labels, `(batch,)` or `(batch, 1)`.
        member_logits: `(batch, students, classes)`.

    Returns:
        The teacher logits, `(batch, classes)`.
    """
    member_logits = ops.cast(member_logits, "float32")
    num_members = member_logits.shape[1]
    ce = ops.stack([sparse_ce(y, member_logits[:, i])
                    for i in range(num_members)], axis=1)
    best = ops.one_hot(ops.argmin(ce, axis=1), num_members)
    return ops.sum(ops.expand_dims(best, -1) * member_logits, axis=1)


def min_logit_teacher(y, member_logits):
    """KDCL-MinLogit: each student's logits minus its true-class logit, then
    the minimum over students, class by class (the teacher's true-class
    logit is 0, every other class takes the students' lowest margin, so its
    cross-entropy is at most every student's).

    Args:
        y: integer labels, `(batch,)` or `(batch, 1)`.
        member_logits: `(batch, students, classes)`.

    Returns:
        The teacher logits, `(batch, classes)`.
    """
    member_logits, true_class = _logits_and_true_class(y, member_logits)
    true_logit = ops.sum(member_logits * ops.expand_dims(true_class, 1),
                         axis=-1, keepdims=True)
    return ops.min(member_logits - true_logit, axis=1)


def linear_weights(y, member_logits, steps=LINEAR_SOLVER_STEPS):
    """KDCL-Linear's weights: the point `w` of the simplex whose combination
    `sum_i w_i z_i` has the lowest mean cross-entropy over the batch.

    The problem is convex; it is solved by `steps` exponentiated-gradient
    (mirror descent) steps from the uniform weights, each of size
    `1 / max_i H_ii` (the local curvature), so the result is close to, not
    exactly, the minimiser (docs/family/kdcl.md).

    Args:
        y: integer labels, `(batch,)` or `(batch, 1)`.
        member_logits: `(batch, students, classes)`.
        steps: int. Solver steps. Defaults to `LINEAR_SOLVER_STEPS`.

    Returns:
        The weights, `(students,)`, non-negative and summing to 1.
    """
    z, target = _logits_and_true_class(y, member_logits)
    z = ops.stop_gradient(z)
    count = ops.cast(ops.shape(z)[0], "float32")
    num_members = z.shape[1]

    def step(_, w):
        p = ops.softmax(ops.einsum("m,bmc->bc", w, z), axis=-1)
        gradient = ops.einsum("bc,bmc->m", p - target, z) / count
        mean_z = ops.einsum("bc,bmc->bm", p, z)
        curvature = ops.sum(ops.einsum("bc,bmc->bm", p, z * z)
                            - mean_z * mean_z, axis=0) / count
        size = 1.0 / (ops.max(curvature) + 1e-6)
        w = w * ops.exp(-size * (gradient - ops.min(gradient)))
        return w / ops.sum(w)

    uniform = ops.ones((num_members,), "float32") / num_members
    return ops.fori_loop(0, steps, step, uniform)


def linear_teacher(y, member_logits):
    """KDCL-Linear: the students' logits combined with `linear_weights`.

    Args:
        y: integer labels, `(batch,)` or `(batch, 1)`.
        member_logits: `(batch, students, classes)`.

    Returns:
        The teacher logits, `(batch, classes)`.
    """
    member_logits = ops.cast(member_logits, "float32")
    return ops.einsum("m,bmc->bc", linear_weights(y, member_logits),
                      member_logits)


_TEACHERS = {"naive": naive_teacher, "linear": linear_teacher,
             "min_logit": min_logit_teacher}


def kdcl_teacher(variant, y, member_logits):
    """The stopped soft-target logits of a KDCL variant.

    Args:
        variant: str. One of `KDCL_VARIANTS`.
        y: integer labels, `(batch,)` or `(batch, 1)`.
        member_logits: `(batch, students, classes)`.

    Returns:
        The teacher logits, `(batch, classes)`, without gradient.
    """
    validation.check_choice("kdcl_variant", variant, KDCL_VARIANTS)
    return ops.stop_gradient(_TEACHERS[variant](y, member_logits))


def kdcl_kl(variant, y, member_logits, temperature=KDCL_TEMPERATURE):
    """`T^2 sum_i KL(softmax(z_t / T) || softmax(z_i / T))` per sample, with
    `z_t = kdcl_teacher(variant, y, member_logits)` stopped.

    Returns:
        `(batch,)`.
    """
    member_logits = ops.cast(member_logits, "float32")
    teacher = kdcl_teacher(variant, y, member_logits)
    return losses.distillation_kl(teacher, member_logits, temperature)


def build_view(shift, name):
    """A student's training view: random horizontal flip and a random shift
    of up to `shift` of the image size (zero-filled, in normalised units:
    the mean colour); the identity outside training.

    Args:
        shift: float. Largest shift, a fraction of the image size (0: flip
            only).
        name: str. The layer's name.

    Returns:
        A `keras.Sequential` of Keras' random preprocessing layers.
    """
    layers = [keras.layers.RandomFlip("horizontal")]
    if shift:
        layers.append(keras.layers.RandomTranslation(
            shift, shift, fill_mode="constant",
            interpolation="nearest", fill_value=0.0))
    return keras.Sequential(layers, name=name)


@keras.saving.register_keras_serializable(package="one_keras")
class KDCLModel(PeersModel):
    """KDCL: `K >= 2` students distilling from a label-aware ensemble of
    themselves; student 0 is deployed.

    The loss is `sum_i [CE(z_i, y) + T^2 KL(softmax(z_t / T) ||
    softmax(z_i / T))]` plus coupled weight decay, `z_t` the stopped
    teacher of `variant`. In training (only), with `student_views`, student
    `i` sees its own random flip and shift of the batch (`build_view`), so
    inference and export see the plain networks. It reports `loss`, `ce`,
    `kl`, `member_{i}_accuracy` and `ensemble_accuracy`.

    Args:
        network: `keras.Model`. From `one_keras.methods.peers.build_peers`
            with at least 2 members.
        variant: str. The teacher, one of `KDCL_VARIANTS`. Defaults to
            `"min_logit"`.
        temperature: float. Temperature `T` > 0. Defaults to `2.0`.
        student_views: bool. Whether each student sees its own random view
            in training. Defaults to `True`.
        view_shift: float. Largest shift of a view, a fraction of the
            image size, as PCL's. Defaults to `0.125` (4 pixels of 32).
        weight_decay: float. Coupled L2 weight decay. Defaults to `1e-4`.
        normalization: dict or `None`. Recorded for export.

    Example:
    ```python
    network = one_keras.methods.peers.build_peers(
        "resnet", num_classes=100, num_members=2, depth=32)
    model = one_keras.methods.kdcl.KDCLModel(network, variant="linear")
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    model.fit(images, labels, epochs=300)
    deployed = model.deployed_model()  # student 0, a plain ResNet-32
    ```
    """

    member_noun = "student"
    deploys_every_member = True  # `peer_1`, ... beside `target`.

    def __init__(self, network, variant="min_logit",
                 temperature=KDCL_TEMPERATURE, student_views=True,
                 view_shift=VIEW_SHIFT, weight_decay=WEIGHT_DECAY,
                 normalization=None, **kwargs):
        validation.check_choice("variant", variant, KDCL_VARIANTS)
        validation.check_positive("temperature", temperature)
        validation.check_bool("student_views", student_views)
        validation.check_non_negative("view_shift", view_shift)
        if view_shift > 0.5:
            raise ValueError("`view_shift` must be in [0, 0.5] (a fraction "
                             f"of the image size). Received: "
                             f"view_shift={view_shift}")
        super().__init__(network, weight_decay=weight_decay,
                         normalization=normalization, **kwargs)
        if self.num_members < 2:
            raise ValueError(
                "`network` must have at least 2 students for KDCL. "
                f"Received: num_members={self.num_members}")
        self.variant = variant
        self.temperature = float(temperature)
        self.student_views = bool(student_views)
        self.view_shift = float(view_shift)
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.views = [build_view(self.view_shift, f"view{i}")
                      for i in range(self.num_members)] \
            if self.student_views else []

    def call(self, images, training=None):
        if not (training and self.views):
            return self.network(images, training=training)
        member_logits = [
            ops.expand_dims(self.member_model(i)(
                view(images, training=True), training=True), 1)
            for i, view in enumerate(self.views)]
        stacked = ops.concatenate(member_logits, axis=1)
        ensemble = self.network.get_layer("ensemble_logits")(stacked)
        return {"member_logits": stacked, "ensemble_logits": ensemble}

    def member_losses(self, y, member_logits):
        return {"ce": member_cross_entropy(y, member_logits),
                "kl": kdcl_kl(self.variant, y, member_logits,
                              self.temperature)}

    def get_config(self):
        return {**super().get_config(), "variant": self.variant,
                "temperature": self.temperature,
                "student_views": self.student_views,
                "view_shift": self.view_shift}


@dataclasses.dataclass(frozen=True)
class KDCLOptions(Options):
    """KDCL's options."""

    num_students: int = option(2, "Number of student networks.",
                               lower_bound=2)
    kdcl_variant: str = option(
        "min_logit", "KDCL's soft target: naive (per sample, the student of "
        "lowest CE), linear (the simplex combination of lowest CE) or "
        "min_logit (per class, the students' lowest logit after subtracting "
        "the true class's).", choices=KDCL_VARIANTS)
    temperature: float = option(KDCL_TEMPERATURE,
                                "Distillation temperature T.",
                                greater_than=0.0)
    student_views: bool = option(
        True, "Each student sees its own random flip and shift of the batch "
        "in training (on top of --augment).")
    view_shift: float = option(
        VIEW_SHIFT, "Largest shift of a student's view, as a fraction of "
        "the image size (0.125: pad 4, crop 32; 0: flip only).",
        lower_bound=0.0, upper_bound=0.5)


def build(options, request):
    """KDCL's training model: `num_students` fresh plain networks."""
    network = build_peers(request.model_name, request.num_classes,
                          options.num_students,
                          input_shape=request.input_shape, name="kdcl",
                          sync_bn=request.sync_bn, **request.architecture)
    return KDCLModel(network, variant=options.kdcl_variant,
                     temperature=options.temperature,
                     student_views=options.student_views,
                     view_shift=options.view_shift,
                     **request.model_arguments)


METHOD = Method(name="kdcl", summary="online distillation via collaborative "
                "learning: students on their own views distil from a "
                "label-aware ensemble (Guo et al. 2020)",
                options=KDCLOptions, build=build)

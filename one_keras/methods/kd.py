"""`KDModel`: Hinton knowledge distillation from a frozen teacher (Table 3).

    L = (1 - a) CE(z_s, y) + a T^2 KL(softmax(z_t / T) || softmax(z_s / T))

with `a = alpha`, the teacher `z_t` called with `training=False` and never
trained.

Paper: https://arxiv.org/abs/1503.02531
"""

import dataclasses
import os

import keras
import numpy as np
from keras import ops

from one_keras.methods import losses
from one_keras.methods.method import Method
from one_keras.methods.method import Options
from one_keras.methods.method import option
from one_keras.methods.method_model import MethodModel
from one_keras.methods.method_model import WEIGHT_DECAY
from one_keras.methods.method_model import deployed_model
from one_keras.methods.method_model import sparse_ce
from one_keras.methods.method_model import weighted_mean
from one_keras.models import deployment
from one_keras.utils import validation


# Hinton distillation's weight of the soft targets (paper Table 3's KD).
KD_ALPHA = 0.9
# Its temperature: the paper's `T` (Section 3), as ONE's.
KD_TEMPERATURE = 3.0


def kd_loss_terms(y_true, student_logits, teacher_logits, temperature):
    """Per-sample `(ce, kl)` of Hinton distillation.

    Args:
        y_true: Integer labels `(batch,)`.
        student_logits: `(batch, classes)`.
        teacher_logits: `(batch, classes)`; stopped.
        temperature: float. The temperature `T`.

    Returns:
        `ce`, the student's cross-entropy, and `kl`,
        `T^2 KL(softmax(z_t / T) || softmax(z_s / T))`, both `(batch,)`.
    """
    ce = sparse_ce(y_true, student_logits)
    kl = losses.distillation_kl(
        teacher_logits, ops.expand_dims(student_logits, 1), temperature)
    return ce, kl


@keras.saving.register_keras_serializable(package="one_keras")
class KDModel(MethodModel):
    """A student trained to match a frozen teacher and the labels.

    It reports `loss`, `ce`, `kl`, `student_accuracy` and
    `teacher_accuracy`; metrics given to `compile` score the student. Weight
    decay applies to the student only (the teacher is frozen).

    Args:
        student: `keras.Model`. Maps images to logits `(batch, classes)`.
        teacher: `keras.Model`. Maps the same images to logits of the same
            classes (for example a saved `ONEModel.target_model()`). It is
            frozen (`trainable = False`).
        alpha: float. Weight of the distillation term, in [0, 1]. Defaults
            to `0.9`.
        temperature: float. Temperature `T` > 0. Defaults to `3.0`.
        weight_decay: float. Coupled L2 weight decay. Defaults to `1e-4`.
        normalization: dict or `None`. Recorded for export.
        teacher_input: dict or `None`. What input the teacher's file takes
            (`{"path": ..., "input": "raw" or "normalised",
            "normalization": {...}}`, see `teacher_input`), recorded in the
            model and in the run's `inputs.json`.

    Example:
    ```python
    teacher = keras.models.load_model("resnet110/target.keras")
    student = one_keras.models.build_plain_network(
        "resnet", 100, depth=32, network_name="student")
    model = one_keras.methods.KDModel(student, teacher)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    model.fit(images, labels, epochs=300)
    deployed = model.deployed_model()  # the student
    ```
    """

    def __init__(self, student, teacher, alpha=KD_ALPHA,
                 temperature=KD_TEMPERATURE,
                 weight_decay=WEIGHT_DECAY, normalization=None,
                 teacher_input=None, **kwargs):
        check_logits_model("student", student)
        check_logits_model("teacher", teacher)
        if tuple(teacher.output.shape[1:]) != tuple(student.output.shape[1:]):
            raise ValueError(
                "`teacher` must predict as many classes as `student`. "
                f"Received: teacher classes={teacher.output.shape[-1]}, "
                f"student classes={student.output.shape[-1]}")
        if tuple(teacher.input.shape[1:]) != tuple(student.input.shape[1:]):
            raise ValueError(
                "`teacher` must take the student's input shape. Received: "
                f"teacher input={tuple(teacher.input.shape[1:])}, student "
                f"input={tuple(student.input.shape[1:])}")
        validation.check_non_negative("alpha", alpha)
        if alpha > 1:
            raise ValueError(f"`alpha` must be in [0, 1]. Received: "
                             f"alpha={alpha!r}")
        validation.check_positive("temperature", temperature)
        super().__init__(weight_decay=weight_decay,
                         normalization=normalization, **kwargs)
        teacher.trainable = False
        self.student = student
        self.teacher = teacher
        self.alpha = float(alpha)
        self.temperature = float(temperature)
        self.teacher_input = teacher_input
        self.num_classes = student.output.shape[-1]
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.student_accuracy = keras.metrics.SparseCategoricalAccuracy(
            name="student_accuracy")
        self.teacher_accuracy = keras.metrics.SparseCategoricalAccuracy(
            name="teacher_accuracy")
        self.built = True

    def call(self, images, training=None):
        return {"student_logits": self.student(images, training=training),
                "teacher_logits": self.teacher(images, training=False)}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        y = self.check_label_range(y)
        ce, kl = kd_loss_terms(y, y_pred["student_logits"],
                               y_pred["teacher_logits"], self.temperature)
        ce = weighted_mean(ce, sample_weight)
        kl = weighted_mean(kl, sample_weight)
        self.ce_tracker.update_state(ce)
        self.kl_tracker.update_state(kl)
        return self.finish_loss((1.0 - self.alpha) * ce + self.alpha * kl)

    def update_metrics(self, x, y, y_pred, sample_weight=None):
        self.student_accuracy.update_state(y, y_pred["student_logits"],
                                           sample_weight)
        self.teacher_accuracy.update_state(y, y_pred["teacher_logits"],
                                           sample_weight)
        if self._compile_metrics is not None:
            self._compile_metrics.update_state(
                y, y_pred["student_logits"], sample_weight)
        return self.get_metrics_result()

    def target_model(self, name=None):
        """The student (images -> logits)."""
        return self.student

    def describe_deployables(self):
        return {"target": "the student"}

    def report_metrics(self):
        return {"target": "student_accuracy"}

    def training_networks(self):
        """The student and the frozen teacher, which runs every step."""
        return [self.student, self.teacher]

    def get_config(self):
        return {**super().get_config(),
                "student": keras.saving.serialize_keras_object(self.student),
                "teacher": keras.saving.serialize_keras_object(self.teacher),
                "alpha": self.alpha, "temperature": self.temperature,
                "teacher_input": self.teacher_input}

    @classmethod
    def from_config(cls, config):
        student = keras.saving.deserialize_keras_object(config["student"])
        teacher = keras.saving.deserialize_keras_object(config["teacher"])
        return cls(**{**config, "student": student, "teacher": teacher})


def check_logits_model(name, model):
    """Raises unless `model` is a Keras model with one `(batch, classes)`
    output."""
    output = None
    if isinstance(model, keras.Model):
        try:
            output = model.output
        except (AttributeError, ValueError):
            output = None
    if output is None or isinstance(output, (dict, list, tuple)) or \
            len(output.shape) != 2:
        raise ValueError(
            f"`{name}` must be a Keras model mapping images to logits "
            f"(batch, classes), such as `ONEModel.target_model()`. "
            f"Received: {name}={model!r}")


@dataclasses.dataclass(frozen=True)
class KDOptions(Options):
    """Hinton distillation's options."""

    teacher: str = option("", "The teacher: a training run directory or "
                          "a trained .keras model (required).")
    alpha: float = option(KD_ALPHA, "Weight of the "
                          "distillation term.", lower_bound=0.0,
                          upper_bound=1.0)
    temperature: float = option(KD_TEMPERATURE,
                                "Distillation temperature T.",
                                greater_than=0.0)


def resolve_teacher(teacher, normalization=None, name=None):
    """The teacher as a frozen model of the student's inputs -> logits.

    The teacher is fed exactly what its own file expects: a deployable
    that normalises raw pixels itself (every `<name>.keras` a run writes)
    gets the raw pixels the student's normalised images came from; a
    training model gets them normalised with its own recorded
    normalisation.

    Args:
        teacher: `keras.Model` (a plain model, a deployed `<name>.keras`
            model, or a one_keras training model: its deployed model is
            taught from), a training run directory (its `model.keras`, else
            `target.keras`) or the path of a `.keras` file.
        normalization: dict or `None`. The normalisation of the student's
            inputs (`{"mean": [...], "std": [...]}`). `None`: the teacher
            is given the student's inputs as they are, as its network
            (without a deployable's `normalize` layer) takes them.
        name: str or `None`. The teacher as the messages name it
            (default: its path, else the model's name).

    Returns:
        A `keras.Model` mapping the student's inputs to logits.

    Raises:
        ValueError: no teacher, not a model, or (with `normalization`) a
            teacher whose input is unknown: neither a deployable that
            normalises raw pixels nor a training model that records its
            normalisation.
    """
    shown = name or (os.fspath(teacher) if isinstance(
        teacher, (str, os.PathLike)) else getattr(teacher, "name", teacher))
    teacher = load_teacher(teacher)
    contract = teacher_input(teacher)
    if normalization is None:
        return deployed_model(teacher)
    if contract is None:
        raise ValueError(
            f"`teacher` {shown!r} does not say what input it takes: it "
            "neither normalises raw pixels itself (as every <name>.keras "
            "a run writes does) nor records its normalisation (as a run's "
            "model.keras does). Pass a run directory or a deployable it "
            f"wrote. Received: teacher={shown!r}")
    core = deployed_model(teacher)
    if core is not teacher and _same_normalization(
            contract["normalization"], normalization):
        return core  # It takes the student's normalised images as they are.
    if contract["input"] == "raw":
        return _fed_raw_pixels(teacher, normalization)
    return _fed_raw_pixels(
        deployment.with_preprocessing(core, contract["normalization"]),
        normalization)


def load_teacher(teacher):
    """The teacher model, loaded where a path is given.

    Args:
        teacher: `keras.Model`, a training run directory (its
            `model.keras`, else `target.keras`) or the path of a `.keras`
            file.

    Returns:
        The `keras.Model`, as its file holds it.
    """
    if teacher is None or teacher == "":
        raise ValueError("`teacher` must be given for method 'kd': a "
                         "trained model or the path of a `.keras` file. "
                         f"Received: teacher={teacher!r}")
    if isinstance(teacher, (str, os.PathLike)):
        try:
            # Imported here: `saved_models` imports this package.
            from one_keras.methods import saved_models

            # Not compiled: its optimizer (if saved with one) is not needed.
            teacher = saved_models.load_model(teacher)
        except ValueError as error:
            raise ValueError(
                "`teacher` must be a training run directory or a `.keras` "
                f"file. Received: teacher={os.fspath(teacher)!r} "
                f"({str(error).split('Received: ', 1)[-1]})") from None
    if not isinstance(teacher, keras.Model):
        raise ValueError("`teacher` must be a `keras.Model`, a run "
                         "directory or a `.keras` path. Received: "
                         f"teacher={teacher!r}")
    return teacher


def teacher_input(teacher):
    """What input a teacher model takes, as a run records it.

    Args:
        teacher: `keras.Model`.

    Returns:
        `{"input": "raw", "normalization": {...}}` for a deployable that
        normalises raw 0-255 pixels itself, `{"input": "normalised",
        "normalization": {...}}` for a training model that records the
        normalisation of its inputs, `None` when unknown.
    """
    if deployment.takes_raw_pixels(teacher):
        kind, normalization = "raw", deployment.normalization_of(teacher)
    elif hasattr(teacher, "deployable_cores") and isinstance(
            getattr(teacher, "normalization", None), dict):
        kind, normalization = "normalised", teacher.normalization
    else:
        return None
    return {"input": kind, "normalization": {
        key: [float(v) for v in normalization[key]]
        for key in ("mean", "std")}}


def _same_normalization(first, second):
    """Whether two normalisations are the same (up to float rounding)."""
    try:
        return all(np.allclose(np.asarray(first[key], "float64"),
                               np.asarray(second[key], "float64"),
                               rtol=1e-6, atol=0.0)
                   for key in ("mean", "std"))
    except (KeyError, TypeError, ValueError):
        return False


def _fed_raw_pixels(raw_model, normalization):
    """`raw_model` (raw 0-255 pixels in) behind the inverse of
    `normalization`: normalised images in, as the student takes them."""
    std = np.asarray(normalization["std"], "float64")
    mean = np.asarray(normalization["mean"], "float64")
    images = keras.Input(shape=raw_model.input.shape[1:], name="images",
                         dtype="float32")
    raw = keras.layers.Rescaling(
        scale=(255.0 * std).tolist(), offset=(255.0 * mean).tolist(),
        dtype="float32", name="denormalize")(images)
    return keras.Model(images, raw_model(raw), name=raw_model.name)


def check(options, epochs):
    """A run of KD needs its teacher named."""
    if not options.teacher:
        raise ValueError(
            "`teacher` must name a training run directory or a trained "
            "`.keras` model for method 'kd' (e.g. the run of a bigger "
            "network). Received: teacher=''")


def build(options, request):
    """KD's training model: a fresh student and the frozen teacher, fed
    what its file expects (`resolve_teacher`)."""
    teacher = load_teacher(options.teacher)
    contract = teacher_input(teacher)
    return KDModel(request.plain_network("student"),
                   resolve_teacher(teacher, request.normalization,
                                   name=options.teacher),
                   teacher_input=contract and {
                       "path": os.path.abspath(options.teacher), **contract},
                   alpha=options.alpha,
                   temperature=options.temperature,
                   **request.model_arguments)


METHOD = Method(name="kd", summary="Hinton knowledge distillation from a "
                "trained teacher (Table 3)", options=KDOptions, build=build,
                check=check)

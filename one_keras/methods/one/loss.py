"""The ONE loss (paper Eq. 6, docs/method.md section 2).

    L = sum_i CE(z_i, y) + CE(z_e, y) + w * T^2 * sum_i KL(p_e || p_i)

with `p = softmax(z / T)` and the teacher `z_e` stopped in the KL term, so
that distillation trains the branches and the trunk but not the gate.
"""

import keras
import numpy as np
from keras import ops

from one_keras.methods.losses import distillation_kl
from one_keras.utils import validation


# The paper's distillation temperature `T` (Section 3).
ONE_TEMPERATURE = 3.0


def one_loss_terms(y_true, branch_logits, teacher_logits,
                   temperature=ONE_TEMPERATURE,
                   reduce=True):
    """Computes the two parts of the ONE loss: cross-entropy and distillation.

    With a single branch the teacher is the branch itself: the cross-entropy
    is then that of the branch alone and the distillation term is zero, so
    the plain network trains with the plain loss.

    Args:
        y_true: Integer class labels, shape `(batch,)` or `(batch, 1)`.
        branch_logits: Logits of every branch, `(batch, branches, classes)`.
        teacher_logits: Gate-weighted teacher logits, `(batch, classes)`.
        temperature: float. Distillation temperature `T` > 0. Defaults to
            `3.0`.
        reduce: bool. `True` returns batch means; `False` returns one value
            per sample. Defaults to `True`.

    Returns:
        A `(ce, kl)` pair: `ce` is the sum of the branch and teacher
        cross-entropies; `kl` is `T^2 * sum_i KL(p_e || p_i)`.
    """
    validation.check_positive("temperature", temperature)
    branch_logits = ops.cast(branch_logits, "float32")
    teacher_logits = ops.cast(teacher_logits, "float32")
    num_branches, num_classes = branch_logits.shape[1], branch_logits.shape[2]
    _check_concrete_labels(y_true, num_classes)
    labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
    branch_labels = ops.repeat(ops.expand_dims(labels, 1), num_branches,
                               axis=1)
    branch_ce = keras.losses.sparse_categorical_crossentropy(
        branch_labels, branch_logits, from_logits=True)
    ce = ops.sum(branch_ce, axis=1)
    if num_branches == 1:
        kl = ops.zeros_like(ce)
    else:
        ce = ce + keras.losses.sparse_categorical_crossentropy(
            labels, teacher_logits, from_logits=True)
        kl = distillation_kl(teacher_logits, branch_logits, temperature)
    if reduce:
        return ops.mean(ce), ops.mean(kl)
    return ce, kl


def one_loss(y_true, branch_logits, teacher_logits,
             temperature=ONE_TEMPERATURE,
             kl_weight=1.0):
    """The scalar ONE loss: `ce + kl_weight * kl` (batch means).

    Args:
        y_true: Integer class labels, shape `(batch,)` or `(batch, 1)`.
        branch_logits: Logits of every branch, `(batch, branches, classes)`.
        teacher_logits: Gate-weighted teacher logits, `(batch, classes)`.
        temperature: float. Distillation temperature `T` > 0. Defaults to
            `3.0`.
        kl_weight: float. Weight `w` >= 0 of the distillation term. Defaults
            to `1.0`.

    Returns:
        A scalar tensor.

    Example:
    ```python
    outputs = network(images)
    loss = one_keras.methods.losses.one_loss(labels, outputs["branch_logits"],
                                     outputs["teacher_logits"])
    ```
    """
    validation.check_non_negative("kl_weight", kl_weight)
    ce, kl = one_loss_terms(y_true, branch_logits, teacher_logits,
                            temperature)
    return ce + kl_weight * kl


def kl_rampup_weight(epoch, rampup_epochs):
    """The authors' sigmoid ramp-up of the KL weight, `exp(-5 (1 - t)^2)`.

    Args:
        epoch: int. The 0-based epoch.
        rampup_epochs: int. Epochs to reach weight 1 (80 in the authors'
            code); 0 turns the ramp off.

    Returns:
        The weight, a float in (0, 1].
    """
    if rampup_epochs <= 0:
        return 1.0
    progress = min(epoch, rampup_epochs) / rampup_epochs
    return float(np.exp(-5.0 * (1.0 - progress) ** 2))


def _check_concrete_labels(y_true, num_classes):
    """Checks labels that hold values now (NumPy or eager); skips symbols."""
    if isinstance(y_true, (np.ndarray, list, tuple)):
        validation.check_labels(y_true, num_classes, "y_true")
    elif hasattr(y_true, "numpy"):
        try:
            values = y_true.numpy()
        except (AttributeError, NotImplementedError, TypeError, ValueError):
            return
        validation.check_labels(values, num_classes, "y_true")

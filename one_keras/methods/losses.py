"""Loss terms shared by the distillation methods (ONE, KD, DML).

`distillation_kl` is the temperature-scaled KL divergence from a stopped
teacher to one or more students; each method's own loss lives with the
method (ONE's in `one_keras.methods.one.loss`).
"""

from keras import ops


def distillation_kl(teacher_logits, branch_logits, temperature):
    """`T^2 * sum_i KL(softmax(z_e / T) || softmax(z_i / T))` per sample.

    The teacher is stopped: no gradient flows into `teacher_logits`.

    Args:
        teacher_logits: `(batch, classes)`.
        branch_logits: `(batch, branches, classes)`.
        temperature: float. The temperature `T`.

    Returns:
        The per-sample KL summed over branches, `(batch,)`.
    """
    teacher = ops.stop_gradient(ops.cast(teacher_logits, "float32"))
    log_p_teacher = ops.expand_dims(
        ops.log_softmax(teacher / temperature, axis=-1), 1)
    log_p_branch = ops.log_softmax(
        ops.cast(branch_logits, "float32") / temperature, axis=-1)
    kl = ops.sum(ops.exp(log_p_teacher) * (log_p_teacher - log_p_branch),
                 axis=(1, 2))
    return temperature ** 2 * kl

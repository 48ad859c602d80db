"""Builds the ONE network: a shared trunk, `m + 1` branches and a gate.

ONE: "Knowledge Distillation by On-the-Fly Native Ensemble", Lan, Zhu and
Gong, NeurIPS 2018 (arXiv:1806.04606).
"""

import keras

from one_keras.methods.one.layers import UniformGate
from one_keras.models.initializers import dense_initializers
from one_keras.models.layers import FusedBatchNormalization
from one_keras.models.layers import batch_norm_synchronized
from one_keras.utils import validation


GATES = ("learned", "average")
# The paper's ONE: 3 branches (m = 2) and the learned gate.
NUM_BRANCHES = 3
GATE = "learned"


def build_one_network(inputs, trunk_output, build_branch,
                      num_branches=NUM_BRANCHES, gate=GATE,
                      name="one_network"):
    """Builds the functional ONE network around any trunk and branch.

    Args:
        inputs: `keras.KerasTensor`. The network's input (from `keras.Input`).
        trunk_output: `keras.KerasTensor`, or a list of `num_branches` of
            them. The shared trunk's output, computed from `inputs`: the gate
            reads it, and every branch starts from it. A list gives every
            branch its own trunk (the paper's "without sharing" ablation,
            see `build_trunks`): branch `i` starts from `trunk_output[i]` and
            the gate reads `trunk_output[0]`.
        build_branch: callable. `build_branch(features, prefix)` applies one
            freshly built branch to `features` and returns its logits
            `(batch, num_classes)`. Every layer it makes must be named with
            `prefix` (for example `f"{prefix}logits"`), so that the branches
            get their own weights and names. Branch `i` gets the prefix
            `f"branch{i}_"`; its last layer must be named `f"{prefix}logits"`.
        num_branches: int. Number of branches `m + 1`, >= 1. `1` builds the
            plain network through the same code. Defaults to `3`.
        gate: str. `"learned"` (pooling, Dense, BatchNorm, ReLU, softmax on the
            trunk output) or `"average"` (every branch weighs `1 / m`, the
            paper's "without gating" ablation). Defaults to `"learned"`. The
            gate's BatchNorm is synchronized across replicas when built
            inside `one_keras.models.common.synchronized_batch_norm()`.
        name: str. The model's name. Defaults to `"one_network"`.

    Returns:
        A functional `keras.Model` mapping `inputs` to a dict:
        `branch_logits` `(batch, branches, classes)`, `gate`
        `(batch, branches)` and `teacher_logits` `(batch, classes)`, the
        gate-weighted sum of the branch logits.
    """
    validation.check_int_at_least("num_branches", num_branches, 1)
    validation.check_choice("gate", gate, GATES)
    branch_inputs = [trunk_output] * num_branches
    if isinstance(trunk_output, (list, tuple)):
        if len(trunk_output) != num_branches:
            raise ValueError(
                "`trunk_output` must be one tensor or a list of "
                f"`num_branches`={num_branches} tensors, one per branch. "
                f"Received: {len(trunk_output)} tensors.")
        branch_inputs, trunk_output = list(trunk_output), trunk_output[0]
    branch_logits = []
    for index in range(num_branches):
        prefix = f"branch{index}_"
        logits = build_branch(branch_inputs[index], prefix)
        expected = f"{prefix}logits"
        if len(logits.shape) != 2:
            raise ValueError(
                "`build_branch` must return logits of shape "
                f"(batch, num_classes). Received: shape={logits.shape}.")
        producer = logits._keras_history.operation
        if producer.name != expected:
            raise ValueError(
                f"The last layer of branch {index} must be named "
                f"`{expected}`, so that export can find it. Received: "
                f"name={producer.name}.")
        branch_logits.append(logits)
    num_classes = branch_logits[0].shape[-1]
    stacked = _stack_branches(branch_logits, num_classes)
    if gate == "learned" and num_branches > 1:
        gate_scores = _learned_gate(trunk_output, num_branches)
    else:
        gate_scores = UniformGate(num_branches, name="gate")(trunk_output)
    teacher_logits = keras.layers.Dot(axes=1, name="teacher_logits")(
        [gate_scores, stacked])
    outputs = {"branch_logits": stacked, "gate": gate_scores,
               "teacher_logits": teacher_logits}
    return keras.Model(inputs=inputs, outputs=outputs, name=name)


def build_trunks(inputs, build_trunk, num_branches=NUM_BRANCHES,
                 share=True):
    """Applies the trunk once (shared) or once per branch (not shared).

    Args:
        inputs: `keras.KerasTensor`. The network's input.
        build_trunk: callable. `build_trunk(inputs) -> features` applies a
            freshly built trunk (its layers may have fixed names).
        num_branches: int. Number of branches `m + 1`. Defaults to `3`.
        share: bool. `True` applies one trunk, shared by every branch (ONE).
            `False` builds `num_branches` trunks, each wrapped in a
            sub-model named `f"branch{i}_trunk"` so their layer names do not
            clash (the paper's "without sharing" ablation: `m + 1` trunks,
            `(m + 1)` times the plain network's parameters plus the gate).
            Defaults to `True`.

    Returns:
        The trunk output (`share=True`) or a list of one per branch, as
        `build_one_network` takes for `trunk_output`.
    """
    validation.check_int_at_least("num_branches", num_branches, 1)
    if share:
        return build_trunk(inputs)
    outputs = []
    for index in range(num_branches):
        trunk_input = keras.Input(shape=inputs.shape[1:],
                                  name=f"branch{index}_trunk_images")
        trunk = keras.Model(trunk_input, build_trunk(trunk_input),
                            name=f"branch{index}_trunk")
        outputs.append(trunk(inputs))
    return outputs


def _stack_branches(branch_logits, num_classes):
    """Stacks `(batch, classes)` logits into `(batch, branches, classes)`."""
    reshaped = [
        keras.layers.Reshape((1, num_classes), name=f"branch{i}_expand")(z)
        for i, z in enumerate(branch_logits)]
    if len(reshaped) == 1:
        return keras.layers.Identity(name="branch_logits")(reshaped[0])
    return keras.layers.Concatenate(axis=1, name="branch_logits")(reshaped)


def _learned_gate(trunk_output, num_branches):
    """Gate of the paper: pooled trunk features -> FC -> BN -> ReLU -> softmax.

    Args:
        trunk_output: `keras.KerasTensor`. Trunk features, rank 2, 3 or 4.
        num_branches: int. Number of scores per sample.

    Returns:
        The gate scores, `(batch, num_branches)`, summing to 1 per sample.
    """
    pooling = {4: keras.layers.GlobalAveragePooling2D,
               3: keras.layers.GlobalAveragePooling1D}
    rank = len(trunk_output.shape)
    features = trunk_output
    if rank in pooling:
        features = pooling[rank](name="gate_pool")(trunk_output)
    elif rank != 2:
        raise ValueError(
            "The gate needs trunk features of rank 2, 3 or 4. Received: "
            f"shape={trunk_output.shape}.")
    kernel, bias = dense_initializers(features.shape[-1])
    scores = keras.layers.Dense(num_branches, kernel_initializer=kernel,
                                bias_initializer=bias,
                                name="gate_dense")(features)
    scores = FusedBatchNormalization(
        momentum=0.9, epsilon=1e-5, synchronized=batch_norm_synchronized(),
        name="gate_bn")(scores)
    scores = keras.layers.ReLU(name="gate_relu")(scores)
    return keras.layers.Softmax(name="gate", dtype="float32")(scores)

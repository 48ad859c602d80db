"""CL-ILR: collaborative learning of heads on shared lower layers.

Song and Chai, "Collaborative Learning for Deep Neural Networks", NeurIPS
2018 (arXiv:1805.11761). `H` heads (a backbone's last stage and classifier
each, as ONE's branches) share the lower layers. Head `h` learns from the
labels and from the average of the other heads' logits, softened:

    L = sum_h [beta * CE(z_h, y)
               + (1 - beta) * T^2 * KL(softmax(t_h / T) || softmax(z_h / T))]
    t_h = mean_{j != h} z_j

with the targets `t_h` stopped. Backpropagation rescaling multiplies the
gradient that reaches the shared layers by `1 / H` (`GradientRescale`), so
that their gradient is the heads' mean, not their sum. docs/family/cl_ilr.md
gives the loss of the authors' code (DefangChen/OKDDip `train_one.py --avg
--bpscale`) and where it differs.
"""

import dataclasses

import keras
from keras import ops

from one_keras.methods.method import Method
from one_keras.methods.method import Options
from one_keras.methods.method import option
from one_keras.methods.method_model import WEIGHT_DECAY
from one_keras.methods.method_model import sparse_ce
from one_keras.methods.method_model import weighted_mean
from one_keras.methods.one import ONEModel
from one_keras.methods.one import build_one_network
from one_keras.methods.one.callbacks import KL_RAMPUP_RECIPES
from one_keras.methods.one.callbacks import kl_rampup_callbacks
from one_keras.methods.one.callbacks import kl_rampup_option
from one_keras.models import backbone_parts
from one_keras.models.common import synchronized_batch_norm
from one_keras.utils import validation


# The paper's CIFAR setting: 4 heads (also the authors' code default),
# T = 2 and beta = 0.5.
NUM_HEADS = 4
CL_TEMPERATURE = 2.0
CL_BETA = 0.5
# The layer between the shared layers and the heads.
RESCALE_NAME = "backprop_rescale"


@keras.saving.register_keras_serializable(package="one_keras")
class GradientRescale(keras.layers.Layer):
    """Identity whose backward pass multiplies the gradient by `scale`.

    CL-ILR's backpropagation rescaling: put between the shared layers and
    `H` heads with `scale = 1 / H`. It is the identity in inference.

    Args:
        scale: float. Factor of the gradient, > 0.
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        validation.check_positive("scale", scale)
        self.scale = float(scale)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        return scale_gradient(inputs, self.scale)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def scale_gradient(x, scale):
    """`x` forward; the gradient times `scale` backward (every backend).

    Args:
        x: A tensor.
        scale: float. The gradient's factor.

    Returns:
        A tensor equal to `x`.
    """
    if keras.backend.backend() == "torch":
        return _torch_scale_gradient(x, scale)

    @ops.custom_gradient
    def rescaled_identity(value):
        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return upstream * ops.cast(scale, upstream.dtype)
        return ops.multiply(value, ops.ones((), value.dtype)), grad

    return rescaled_identity(x)


def _torch_scale_gradient(x, scale):
    """`scale_gradient` on torch, which `ops.custom_gradient` lacks."""
    import torch

    class _Rescale(torch.autograd.Function):
        @staticmethod
        def forward(ctx, value):
            return value.view_as(value)

        @staticmethod
        def backward(ctx, upstream):
            return upstream * scale

    return _Rescale.apply(x)


def cl_ilr_loss_terms(y_true, head_logits, temperature=CL_TEMPERATURE,
                      target_gradient=False):
    """The two parts of the CL-ILR loss, per sample.

    Args:
        y_true: Integer labels, `(batch,)` or `(batch, 1)`.
        head_logits: `(batch, heads, classes)`, at least 2 heads.
        temperature: float. Temperature `T` > 0. Defaults to `2.0`.
        target_gradient: bool. `False` stops the targets (the paper);
            `True` lets the gradient flow into the other heads through them
            (the authors' code). Defaults to `False`.

    Returns:
        A `(ce, kl)` pair of `(batch,)` tensors: `ce = sum_h CE(z_h, y)` and
        `kl = sum_h T^2 KL(softmax(t_h / T) || softmax(z_h / T))` with
        `t_h` the mean of the other heads' logits.
    """
    validation.check_positive("temperature", temperature)
    logits = ops.cast(head_logits, "float32")
    num_heads = logits.shape[1]
    if num_heads < 2:
        raise ValueError("`head_logits` must hold at least 2 heads: each "
                         "head learns from the others. Received: "
                         f"shape={logits.shape}")
    ce = sum(sparse_ce(y_true, logits[:, h]) for h in range(num_heads))
    targets = (ops.sum(logits, axis=1, keepdims=True) - logits) / (
        num_heads - 1)
    if not target_gradient:
        targets = ops.stop_gradient(targets)
    log_q = ops.log_softmax(targets / temperature, axis=-1)
    log_p = ops.log_softmax(logits / temperature, axis=-1)
    kl = ops.sum(ops.exp(log_q) * (log_q - log_p), axis=(1, 2))
    return ce, temperature ** 2 * kl


@keras.saving.register_keras_serializable(package="one_keras")
class CLILRModel(ONEModel):
    """CL-ILR: heads on shared layers, each distilled from the others.

    The loss is `beta * ce + (1 - beta) * w * kl` of `cl_ilr_loss_terms`
    (`w`: the KL ramp-up weight, 1 unless `kl_rampup_epochs`) plus coupled
    weight decay. It reports `loss`, `ce`, `kl`, `branch_{i}_accuracy` and
    `teacher_accuracy` (the heads' mean logits).

    Paper: https://arxiv.org/abs/1805.11761

    Args:
        network: `keras.Model`. From `build_cl_ilr_network`.
        temperature: float. Temperature `T` > 0. Defaults to `2.0`.
        beta: float. Weight of the labels' cross-entropy, in [0, 1]; the
            distillation term gets `1 - beta`. Defaults to `0.5`.
        target_gradient: bool. Whether the gradient flows into the targets
            (`False`: stopped, the paper). Defaults to `False`.
        kl_rampup_epochs: int. Epochs of the KL weight's sigmoid ramp-up
            (0: off). Defaults to `0`.
        weight_decay: float. Coupled L2 weight decay. Defaults to `1e-4`.
        normalization: dict or `None`. Recorded for export.

    Example:
    ```python
    model = one_keras.methods.build_method_model(
        "cl_ilr", num_classes=100, depth=32, num_branches=4)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    model.fit(images, labels, epochs=300)
    target = model.target_model()  # head 0: a plain ResNet-32
    ```
    """

    def __init__(self, network, temperature=CL_TEMPERATURE, beta=CL_BETA,
                 target_gradient=False, kl_rampup_epochs=0,
                 weight_decay=WEIGHT_DECAY, normalization=None, **kwargs):
        kwargs.pop("kl_weight", None)
        validation.check_number("beta", beta)
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"`beta` must be in [0, 1]. Received: "
                             f"beta={beta}")
        validation.check_bool("target_gradient", target_gradient)
        super().__init__(network, temperature=temperature,
                         kl_rampup_epochs=kl_rampup_epochs,
                         weight_decay=weight_decay,
                         normalization=normalization, **kwargs)
        if self.num_branches < 2:
            raise ValueError(
                "`network` must have at least 2 heads: each head learns "
                f"from the others. Received: num_branches="
                f"{self.num_branches}")
        self.beta = float(beta)
        self.target_gradient = bool(target_gradient)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        y = self.check_label_range(y)
        ce, kl = cl_ilr_loss_terms(y, y_pred["branch_logits"],
                                   self.temperature, self.target_gradient)
        ce = weighted_mean(ce, sample_weight)
        kl = weighted_mean(kl, sample_weight)
        self.ce_tracker.update_state(ce)
        self.kl_tracker.update_state(kl)
        ramp = ops.cast(self.kl_ramp, "float32")
        return self.finish_loss(self.beta * ce +
                                (1.0 - self.beta) * ramp * kl)

    def deployable_cores(self):
        """`target` (the shared layers and head 0) and `ensemble` (the
        heads' mean logits), without the rescaling layer: stock Keras
        layers only."""
        cores = super().deployable_cores()
        return {name: _without_rescale(core) for name, core in cores.items()}

    def describe_deployables(self):
        return {"target": "head 0", "ensemble": "the heads' mean logits"}

    def get_config(self):
        config = super().get_config()
        config.pop("kl_weight", None)
        config.update({"beta": self.beta,
                       "target_gradient": self.target_gradient})
        return config


def _without_rescale(model):
    """`model` (sharing its weights) with `GradientRescale` left out."""
    def reuse(layer):
        if isinstance(layer, GradientRescale):
            return keras.layers.Identity(name=layer.name)
        return layer
    return keras.models.clone_model(model, clone_function=reuse)


def build_cl_ilr_network(model_name, num_classes, num_heads=NUM_HEADS,
                         input_shape=None, name=None, **architecture):
    """A backbone whose last stage is split into `num_heads` heads.

    The shared layers are the backbone's trunk; every head is a copy of its
    last stage and classifier (as ONE's branches, built by
    `one_keras.methods.one.build_one_network` with the average gate, whose
    teacher is the heads' mean logits). A `GradientRescale(1 / num_heads)`
    named `backprop_rescale` sits between them.

    Args:
        model_name: str. A name of `one_keras.models.model_names()`.
        num_classes: int. Number of classes.
        num_heads: int. Number of heads, >= 2. Defaults to `4`.
        input_shape: tuple or `None`. Image shape.
        name: str or `None`. The network's name (default: `model_name`).
        **architecture: the backbone's architecture arguments.

    Returns:
        A functional `keras.Model`: images -> `branch_logits` `(batch,
        heads, classes)`, `gate` and `teacher_logits` (the mean logits).
    """
    validation.check_int_at_least("num_heads", num_heads, 2)
    parts = backbone_parts(model_name, num_classes, input_shape,
                           **architecture)
    inputs = keras.Input(shape=parts.input_shape, name="images")
    shared = GradientRescale(1.0 / num_heads, name=RESCALE_NAME)(
        parts.build_trunk(inputs))
    return build_one_network(inputs, shared, parts.build_branch,
                             num_branches=num_heads, gate="average",
                             name=name or model_name)


@dataclasses.dataclass(frozen=True)
class CLILROptions(Options):
    """CL-ILR's options (the paper's defaults)."""

    num_branches: int = option(
        NUM_HEADS, "Heads H on the shared layers (CL-ILR: >= 2).",
        lower_bound=2)
    temperature: float = option(
        CL_TEMPERATURE, "Distillation temperature T (CL-ILR paper: 2).",
        greater_than=0.0)
    beta: float = option(
        CL_BETA, "CL-ILR: weight of the labels' cross-entropy; the "
        "distillation term gets 1 - beta.", lower_bound=0.0, upper_bound=1.0)
    target_gradient: bool = option(
        False, "CL-ILR, OKDDip: let the gradient flow into the peers' "
        "targets (CL-ILR: the authors' code; OKDDip: the paper and code).")
    kl_rampup_epochs: int = kl_rampup_option()


def build(options, request):
    """CL-ILR's training model for `options` and a `BuildRequest`."""
    with synchronized_batch_norm(request.sync_bn):
        network = build_cl_ilr_network(
            request.model_name, request.num_classes,
            num_heads=options.num_branches, input_shape=request.input_shape,
            name="cl_ilr", **request.architecture)
    return CLILRModel(network, temperature=options.temperature,
                      beta=options.beta,
                      target_gradient=options.target_gradient,
                      kl_rampup_epochs=options.kl_rampup_epochs or 0,
                      **request.model_arguments)


METHOD = Method(
    name="cl_ilr", summary="CL-ILR: heads on shared layers, each distilled "
    "from the others' mean, with backpropagation rescaling (Song and Chai "
    "2018)",
    options=CLILROptions, build=build, callbacks=kl_rampup_callbacks,
    recipes=KL_RAMPUP_RECIPES)

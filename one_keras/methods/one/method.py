"""ONE: a backbone's last stage split into `m + 1` branches on one trunk,
trained as an on-the-fly native ensemble (paper Tables 1-6).

Paper: https://arxiv.org/abs/1806.04606
"""

import dataclasses

import keras

from one_keras.methods.method import Method
from one_keras.methods.method import Options
from one_keras.methods.method import option
from one_keras.methods.one.callbacks import KL_RAMPUP_RECIPES
from one_keras.methods.one.callbacks import kl_rampup_callbacks
from one_keras.methods.one.callbacks import kl_rampup_option
from one_keras.methods.one.loss import ONE_TEMPERATURE
from one_keras.methods.one.one_model import ONEModel
from one_keras.methods.one.one_network import GATE
from one_keras.methods.one.one_network import GATES
from one_keras.methods.one.one_network import NUM_BRANCHES
from one_keras.methods.one.one_network import build_one_network
from one_keras.methods.one.one_network import build_trunks
from one_keras.models import backbone_parts
from one_keras.models import resnet_cifar
from one_keras.models.common import synchronized_batch_norm
from one_keras.models.registry import CIFAR_SHAPE

ONE_MODEL_ARGUMENTS = ("temperature", "kl_weight", "kl_rampup_epochs",
                       "weight_decay", "normalization")


def build_one_model(name, num_classes, num_branches=NUM_BRANCHES,
                    input_shape=None, gate=GATE, share_trunk=True,
                    sync_bn=False,
                    **kwargs):
    """Builds a backbone of the ONE paper, split into ONE branches, by name.

    Each backbone keeps all but its last stage as the shared trunk; every
    branch is a copy of the last stage and the classifier (for DenseNet: the
    last dense block, the final BN and ReLU and the classifier). Branch 0 is
    the target network, deployed with `ONEModel.target_model()`.

    Args:
        name: str. One of `one_keras.models.model_names()`: `"resnet"`
            (CIFAR ResNet; kwargs `depth`, `block`, `width`),
            `"resnext29_8x64d"` and `"densenet_bc_190_40"` (CIFAR),
            `"resnet18"` and `"resnext50_32x4d"` (ImageNet).
        num_classes: int. Number of classes.
        num_branches: int. Branches `m + 1`, >= 1 (1 is the plain network).
            Defaults to `3`.
        input_shape: tuple or `None`. Image shape `(height, width,
            channels)`. Defaults to `None`: `(32, 32, 3)` for the CIFAR
            models, `(224, 224, 3)` for the ImageNet ones.
        gate: str. `"learned"` or `"average"`. Defaults to `"learned"`.
        share_trunk: bool. `False` gives every branch its own copy of the
            trunk (the paper's "without sharing" ablation). Defaults to
            `True`.
        sync_bn: bool. `True` synchronizes every BatchNorm (the gate's too)
            across replicas: several devices then normalise over the global
            batch, as one device does. Defaults to `False` (each replica's
            own slice).
        **kwargs: architecture arguments that override the named
            configuration (e.g. `depth=110, block="bottleneck"` for
            `"resnet"`, `growth_rate=12, depth=100` for
            `"densenet_bc_190_40"`), `one_keras.ONEModel` arguments
            (`temperature`, `kl_weight`, `kl_rampup_epochs`, `weight_decay`,
            `normalization`), and `network_name`, the inner network's name
            (defaults to `name`).

    Returns:
        A `one_keras.ONEModel`. Compile it with an optimizer and call `fit`.

    Example:
    ```python
    model = one_keras.methods.one.build_one_model("resnext29_8x64d",
                                                  num_classes=100)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    target = model.target_model()  # a plain ResNeXt-29 (8x64d)
    ```
    """
    network_name = kwargs.pop("network_name", name)
    one_arguments = {k: kwargs.pop(k) for k in ONE_MODEL_ARGUMENTS
                     if k in kwargs}
    parts = backbone_parts(name, num_classes, input_shape, **kwargs)
    with synchronized_batch_norm(sync_bn):
        inputs = keras.Input(shape=parts.input_shape, name="images")
        trunk_output = build_trunks(inputs, parts.build_trunk,
                                    num_branches=num_branches,
                                    share=share_trunk)
        network = build_one_network(inputs, trunk_output, parts.build_branch,
                                    num_branches=num_branches, gate=gate,
                                    name=network_name)
    return ONEModel(network, **one_arguments)


def build_one_resnet(depth=resnet_cifar.DEPTH, num_classes=10,
                     num_branches=NUM_BRANCHES, input_shape=CIFAR_SHAPE,
                     block=resnet_cifar.BLOCK, width=resnet_cifar.WIDTH,
                     name="one_resnet", **kwargs):
    """Builds a CIFAR ResNet whose last stage is split into ONE branches.

    Args:
        depth: int. Network depth, of the form `6 * n + 2` (32, 110, ...).
            Defaults to `32`.
        num_classes: int. Number of classes. Defaults to `10`.
        num_branches: int. Branches `m + 1`, >= 1 (1 is the plain network).
            Defaults to `3`.
        input_shape: tuple. Image shape `(height, width, channels)`.
            Defaults to `(32, 32, 3)`.
        block: str. `"basic"` (He et al.) or `"bottleneck"` (the authors'
            code for depth >= 44). Defaults to `"basic"`.
        width: int. Stem width (16 in the paper). Defaults to `16`.
        name: str. Name of the inner network. Defaults to `"one_resnet"`.
        **kwargs: `gate`, `share_trunk`, `sync_bn` and the `ONEModel`
            arguments of `build_one_model`.

    Returns:
        A `one_keras.ONEModel`. Compile it with an optimizer and call `fit`.

    Example:
    ```python
    model = one_keras.methods.one.build_one_resnet(depth=32, num_classes=100)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    model.fit(images, labels, epochs=300)
    target = model.target_model()  # branch 0 only: a plain ResNet-32
    ```
    """
    return build_one_model("resnet", num_classes, num_branches=num_branches,
                           input_shape=input_shape, depth=depth, block=block,
                           width=width, network_name=name, **kwargs)


@dataclasses.dataclass(frozen=True)
class ONEOptions(Options):
    """ONE's options (the ablations of Table 5 included)."""

    num_branches: int = option(
        NUM_BRANCHES, "Branches m+1 (1 trains the plain network).",
        lower_bound=1)
    gate: str = option(GATE, "Gate that mixes the branches into the "
                       "teacher (average: ONE without gating).",
                       choices=GATES)
    no_distillation: bool = option(
        False, "ONE ablation: drop the KL term (paper Table 5).")
    no_sharing: bool = option(
        False, "ONE ablation: one trunk per branch (paper Table 5).")
    temperature: float = option(
        ONE_TEMPERATURE,
        "Distillation temperature T of the teacher's soft targets.",
        greater_than=0.0)
    kl_rampup_epochs: int = kl_rampup_option()


def build(options, request):
    """ONE's training model for `options` and a `BuildRequest`."""
    return build_one_model(
        request.model_name, request.num_classes,
        num_branches=options.num_branches, input_shape=request.input_shape,
        gate=options.gate, share_trunk=not options.no_sharing,
        sync_bn=request.sync_bn, temperature=options.temperature,
        kl_weight=0.0 if options.no_distillation else 1.0,
        kl_rampup_epochs=options.kl_rampup_epochs or 0,
        **request.model_arguments, **request.architecture)


METHOD = Method(
    name="one", summary="ONE: m+1 branches on one trunk and a gate, "
    "distilled on the fly (the paper's method)",
    options=ONEOptions, build=build, callbacks=kl_rampup_callbacks,
    recipes=KL_RAMPUP_RECIPES)

"""`build_one_model`: every backbone of the paper, trained with ONE, by name."""

import collections
import inspect

import keras

from one_keras.models import densenet_cifar
from one_keras.models import resnet_imagenet
from one_keras.models import resnext_cifar
from one_keras.models import resnext_imagenet
from one_keras.models.common import synchronized_batch_norm
from one_keras.models.one_resnet import build_one_resnet
from one_keras.one_model import ONEModel
from one_keras.one_network import build_one_network
from one_keras.one_network import build_trunks

CIFAR_SHAPE = (32, 32, 3)
IMAGENET_SHAPE = (224, 224, 3)
ONE_MODEL_KWARGS = ("temperature", "kl_weight", "kl_rampup_epochs",
                    "weight_decay", "normalization")

ModelSpec = collections.namedtuple(
    "ModelSpec", ["build_trunk", "branch_builder", "input_shape",
                  "architecture"])

MODELS = {
    "resnext29_8x64d": ModelSpec(
        resnext_cifar.build_resnext_cifar_trunk,
        resnext_cifar.resnext_cifar_branch_builder, CIFAR_SHAPE,
        {"depth": 29, "cardinality": 8, "bottleneck_width": 64,
         "widen_factor": 4}),
    "densenet_bc_190_40": ModelSpec(
        densenet_cifar.build_densenet_cifar_trunk,
        densenet_cifar.densenet_cifar_branch_builder, CIFAR_SHAPE,
        {"depth": 190, "growth_rate": 40, "compression": 0.5}),
    "resnet18": ModelSpec(
        resnet_imagenet.build_resnet_imagenet_trunk,
        resnet_imagenet.resnet_imagenet_branch_builder, IMAGENET_SHAPE,
        {"depth": 18}),
    "resnext50_32x4d": ModelSpec(
        resnext_imagenet.build_resnext_imagenet_trunk,
        resnext_imagenet.resnext_imagenet_branch_builder, IMAGENET_SHAPE,
        {"depth": 50, "cardinality": 32, "bottleneck_width": 4}),
}
RESNET_ARCHITECTURE = ("depth", "block", "width")


def model_names():
    """The names `build_one_model` accepts.

    Returns:
        A list of str: `"resnet"` (the CIFAR ResNet of
        `one_keras.models.build_one_resnet`) and the zoo models.
    """
    return ["resnet"] + list(MODELS)


def build_one_model(name, num_classes, num_branches=3, input_shape=None,
                    gate="learned", share_trunk=True, sync_bn=False,
                    **kwargs):
    """Builds a backbone of the ONE paper, split into ONE branches, by name.

    Each backbone keeps all but its last stage as the shared trunk; every
    branch is a copy of the last stage and the classifier (for DenseNet: the
    last dense block, the final BN and ReLU and the classifier). Branch 0 is
    the target network, deployed with `ONEModel.target_model()`.

    Paper: https://arxiv.org/abs/1806.04606

    Args:
        name: str. One of `model_names()`: `"resnet"` (CIFAR ResNet; kwargs
            `depth`, `block`, `width`), `"resnext29_8x64d"` and
            `"densenet_bc_190_40"` (CIFAR), `"resnet18"` and
            `"resnext50_32x4d"` (ImageNet).
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
            across the replicas of a `tf.distribute` strategy: several
            devices then normalise over the global batch, as one device
            does. Defaults to `False` (each replica's own slice).
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
    model = one_keras.models.build_one_model("resnext29_8x64d",
                                             num_classes=100)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    target = model.target_model()  # a plain ResNeXt-29 (8x64d)
    ```
    """
    if name not in model_names():
        allowed = ", ".join(repr(n) for n in model_names())
        raise ValueError(f"`name` must be one of {allowed}. "
                         f"Received: name={name!r}")
    network_name = kwargs.pop("network_name", name)
    one_kwargs = {k: kwargs.pop(k) for k in ONE_MODEL_KWARGS if k in kwargs}
    architecture = (RESNET_ARCHITECTURE if name == "resnet"
                    else tuple(MODELS[name].architecture))
    unknown = sorted(set(kwargs) - set(architecture))
    if unknown:
        allowed = ", ".join(architecture + ONE_MODEL_KWARGS +
                            ("network_name",))
        raise ValueError(
            f"Unknown arguments for model {name!r}: {', '.join(unknown)}. "
            f"It accepts: {allowed}. Received: kwargs={kwargs!r}")
    if name == "resnet":
        return build_one_resnet(
            num_classes=num_classes, num_branches=num_branches,
            input_shape=input_shape or CIFAR_SHAPE, gate=gate,
            share_trunk=share_trunk, sync_bn=sync_bn, name=network_name,
            **kwargs, **one_kwargs)
    spec = MODELS[name]
    architecture = {**spec.architecture, **kwargs}
    build_branch = spec.branch_builder(
        num_classes, **_accepted(spec.branch_builder, architecture))
    with synchronized_batch_norm(sync_bn):
        inputs = keras.Input(shape=input_shape or spec.input_shape,
                             name="images")
        trunk_output = build_trunks(
            inputs, lambda x: spec.build_trunk(
                x, **_accepted(spec.build_trunk, architecture)),
            num_branches=num_branches, share=share_trunk)
        network = build_one_network(inputs, trunk_output, build_branch,
                                    num_branches=num_branches, gate=gate,
                                    name=network_name)
    return ONEModel(network, **one_kwargs)


def _accepted(function, arguments):
    """The entries of `arguments` that `function` takes as parameters."""
    parameters = inspect.signature(function).parameters
    return {k: v for k, v in arguments.items() if k in parameters}

"""The backbones of the paper by name: architecture only, no method.

A backbone is a trunk (every stage but the last) and a branch (the last
stage and the classifier, its layers named with a prefix). Stacking one
branch on the trunk gives the plain network (`build_plain_network`); the
training methods (`one_keras.methods`) take a backbone: ONE puts `m + 1`
branches on one trunk, the baselines train plain networks.
"""

import dataclasses
import inspect
from typing import Callable

import keras

from one_keras.models import densenet_cifar
from one_keras.models import resnet_cifar
from one_keras.models import resnet_imagenet
from one_keras.models import resnext_cifar
from one_keras.models import resnext_imagenet
from one_keras.models.common import synchronized_batch_norm
from one_keras.utils import validation


CIFAR_SHAPE = (32, 32, 3)
IMAGENET_SHAPE = (224, 224, 3)
# The plain network's branch has the prefix of ONE's branch 0, so that its
# layers are named as in ONE's target (export finds `branch0_logits`).
PLAIN_BRANCH_PREFIX = "branch0_"


@dataclasses.dataclass(frozen=True)
class Backbone:
    """A backbone of the zoo, before it is sized.

    Attributes:
        build_trunk: callable. `build_trunk(inputs, **architecture)` applies
            a fresh trunk and returns its features.
        branch_builder: callable. `branch_builder(num_classes,
            **architecture)` returns `build_branch(features, prefix) ->
            logits`, whose last layer is named `f"{prefix}logits"`.
        input_shape: tuple. The default image shape.
        architecture: dict. The named configuration (e.g. ResNeXt-29's
            `cardinality=8`); arguments given to the builders override it.
        options: tuple of str. The architecture arguments a training run
            may set (`TrainConfig` fields and `one-train` flags such as
            `--depth`); a run sets none of the others. Defaults to `()`:
            the architecture is fixed.
    """

    build_trunk: Callable
    branch_builder: Callable
    input_shape: tuple
    architecture: dict
    options: tuple = ()


@dataclasses.dataclass(frozen=True)
class BackboneParts:
    """A backbone sized for a number of classes and an architecture.

    Attributes:
        name: str. The backbone's name.
        input_shape: tuple. Image shape.
        build_trunk: callable. `build_trunk(inputs) -> features`.
        build_branch: callable. `build_branch(features, prefix) -> logits`.
    """

    name: str
    input_shape: tuple
    build_trunk: Callable
    build_branch: Callable


BACKBONES = {
    "resnet": Backbone(
        resnet_cifar.build_resnet_trunk, resnet_cifar.resnet_branch_builder,
        CIFAR_SHAPE, {}, options=("depth", "block", "width")),
    "resnext29_8x64d": Backbone(
        resnext_cifar.build_resnext_cifar_trunk,
        resnext_cifar.resnext_cifar_branch_builder, CIFAR_SHAPE,
        {"depth": 29, "cardinality": 8, "bottleneck_width": 64,
         "widen_factor": 4}),
    "densenet_bc_190_40": Backbone(
        densenet_cifar.build_densenet_cifar_trunk,
        densenet_cifar.densenet_cifar_branch_builder, CIFAR_SHAPE,
        {"depth": 190, "growth_rate": 40, "compression": 0.5}),
    "resnet18": Backbone(
        resnet_imagenet.build_resnet_imagenet_trunk,
        resnet_imagenet.resnet_imagenet_branch_builder, IMAGENET_SHAPE,
        {"depth": 18}),
    "resnext50_32x4d": Backbone(
        resnext_imagenet.build_resnext_imagenet_trunk,
        resnext_imagenet.resnext_imagenet_branch_builder, IMAGENET_SHAPE,
        {"depth": 50, "cardinality": 32, "bottleneck_width": 4}),
}


def model_names():
    """The backbone names: `"resnet"` (the CIFAR ResNet; `depth`, `block`,
    `width`) and the zoo models of the paper.

    Returns:
        A list of str.
    """
    return list(BACKBONES)


def architecture_arguments(name):
    """The architecture arguments backbone `name` accepts.

    Returns:
        A tuple of str: its named configuration's keys, or (no named
        configuration) its trunk's parameters.
    """
    backbone = _backbone(name)
    if backbone.architecture:
        return tuple(backbone.architecture)
    parameters = inspect.signature(backbone.build_trunk).parameters
    return tuple(parameters)[1:]  # After `inputs`.


def architecture_options(name):
    """The architecture options a training run of backbone `name` may set.

    Args:
        name: str. One of `model_names()`.

    Returns:
        A tuple of str (e.g. `("depth", "block", "width")` for `"resnet"`);
        empty for a backbone of a fixed architecture.
    """
    return _backbone(name).options


def check_architecture(name, architecture, alternatives=""):
    """Refuses arguments that backbone `name` does not take, in one line.

    Args:
        name: str. One of `model_names()`.
        architecture: dict. The arguments given.
        alternatives: str. What else the caller would have accepted, added
            to the message (e.g. a method's options).
    """
    accepted = architecture_arguments(name)
    unknown = sorted(set(architecture) - set(accepted))
    if unknown:
        raise ValueError(
            f"Unknown arguments for model {name!r}: {', '.join(unknown)}. "
            f"It accepts: {', '.join(accepted)}{alternatives}. Received: "
            f"kwargs={architecture!r}")


def backbone_parts(name, num_classes, input_shape=None, **architecture):
    """Sizes backbone `name` for `num_classes` and an architecture.

    Args:
        name: str. One of `model_names()`.
        num_classes: int. Number of classes.
        input_shape: tuple or `None`. Image shape; `None` takes the
            backbone's (32x32 for CIFAR models, 224x224 for ImageNet ones).
        **architecture: arguments of `architecture_arguments(name)` that
            override the named configuration.

    Returns:
        A `BackboneParts`.
    """
    backbone = _backbone(name)
    check_architecture(name, architecture)
    arguments = {**backbone.architecture, **architecture}
    build_branch = backbone.branch_builder(
        num_classes, **_accepted(backbone.branch_builder, arguments))
    trunk_arguments = _accepted(backbone.build_trunk, arguments)
    return BackboneParts(
        name=name, input_shape=tuple(input_shape or backbone.input_shape),
        build_trunk=lambda x: backbone.build_trunk(x, **trunk_arguments),
        build_branch=build_branch)


def build_plain_network(name, num_classes, input_shape=None, sync_bn=False,
                        network_name=None, **architecture):
    """Builds the plain network of a backbone: the trunk and one branch.

    Args:
        name: str. One of `model_names()`.
        num_classes: int. Number of classes.
        input_shape: tuple or `None`. Image shape (`None`: the backbone's).
        sync_bn: bool. BatchNorm synchronized across replicas (see
            `one_keras.models.common.synchronized_batch_norm`). Defaults to
            `False`.
        network_name: str or `None`. The model's name (`None`: `name`).
        **architecture: see `backbone_parts`.

    Returns:
        A functional `keras.Model` mapping images to logits; its last layer
        is `branch0_logits`, as in a ONE target.

    Example:
    ```python
    network = one_keras.models.build_plain_network(
        "resnet", num_classes=100, depth=32)  # ResNet-32, 0.47M parameters
    ```
    """
    parts = backbone_parts(name, num_classes, input_shape, **architecture)
    with synchronized_batch_norm(sync_bn):
        inputs = keras.Input(shape=parts.input_shape, name="images")
        logits = parts.build_branch(parts.build_trunk(inputs),
                                    PLAIN_BRANCH_PREFIX)
    return keras.Model(inputs, logits, name=network_name or name)


def _backbone(name):
    validation.check_choice("name", name, model_names())
    return BACKBONES[name]


def _accepted(function, arguments):
    """The entries of `arguments` that `function` takes as parameters."""
    parameters = inspect.signature(function).parameters
    return {k: v for k, v in arguments.items() if k in parameters}

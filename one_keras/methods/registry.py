"""`build_method_model`: the paper's methods and ablations, built by name.

Each method is one entry of `BUILDERS`: a function that takes the
`MethodRequest` (every argument of `build_method_model`, checked) and
returns the training model. Adding a method is adding its model module
under `one_keras/methods/` and one builder here (see docs/contributing.md).
"""

import dataclasses
import inspect
from typing import Any
from typing import Optional

import keras

from one_keras import validation
from one_keras.methods.deployment import deployed_model
from one_keras.methods.dml import DMLModel
from one_keras.methods.ensemble import EnsembleModel
from one_keras.methods.kd import KDModel
from one_keras.methods.one import build_one_model
from one_keras.methods.peers import build_peers
from one_keras.methods.snapshot import SnapshotModel
from one_keras.methods.vanilla import build_vanilla_model
from one_keras.models import build_plain_network

__all__ = ["BUILDERS", "DEFAULT_TEMPERATURE", "METHODS", "MethodRequest",
           "build_method_model"]

# Distillation temperature when `temperature=None`; other methods: 1.
DEFAULT_TEMPERATURE = {"one": 3.0, "kd": 3.0, "dml": 1.0}


@dataclasses.dataclass(frozen=True)
class MethodRequest:
    """The arguments of `build_method_model`, as its builders receive them.

    `common` holds the `weight_decay` and `normalization` every model takes;
    `architecture` the backbone's own arguments (e.g. `depth`, `width`).
    """

    model_name: str
    num_classes: int
    input_shape: Optional[tuple]
    num_branches: int
    num_peers: int
    num_snapshots: int
    teacher: Any
    alpha: float
    temperature: float
    gate: str
    kl_weight: float
    share_trunk: bool
    kl_rampup_epochs: int
    common: dict
    architecture: dict


def _build_one(request):
    return build_one_model(
        request.model_name, request.num_classes,
        num_branches=request.num_branches, input_shape=request.input_shape,
        gate=request.gate, share_trunk=request.share_trunk,
        temperature=request.temperature, kl_weight=request.kl_weight,
        kl_rampup_epochs=request.kl_rampup_epochs, **request.common,
        **request.architecture)


def _build_vanilla(request):
    return build_vanilla_model(request.model_name, request.num_classes,
                               input_shape=request.input_shape,
                               **request.common, **request.architecture)


def _build_kd(request):
    teacher = _resolve_teacher(request.teacher)
    student = build_plain_network(request.model_name, request.num_classes,
                                  request.input_shape, network_name="student",
                                  **request.architecture)
    return KDModel(student, teacher, alpha=request.alpha,
                   temperature=request.temperature, **request.common)


def _peer_network(request, name, minimum_peers):
    """The `num_peers` networks side by side that DML and ensembles train."""
    validation.check_int_at_least("num_peers", request.num_peers,
                                  minimum_peers)
    return build_peers(request.model_name, request.num_classes,
                       request.num_peers, input_shape=request.input_shape,
                       name=name, **request.architecture)


def _build_dml(request):
    return DMLModel(_peer_network(request, "dml", 2),
                    temperature=request.temperature, **request.common)


def _build_ensemble(request):
    return EnsembleModel(_peer_network(request, "ensemble", 1),
                         **request.common)


def _build_snapshot(request):
    validation.check_int_at_least("num_snapshots", request.num_snapshots, 1)
    network = build_plain_network(request.model_name, request.num_classes,
                                  request.input_shape, network_name="network",
                                  **request.architecture)
    snapshots = build_peers(request.model_name, request.num_classes,
                            request.num_snapshots,
                            input_shape=request.input_shape,
                            name="snapshots", **request.architecture)
    return SnapshotModel(network, snapshots, **request.common)


# Method name -> builder, in the order the CLI lists them.
BUILDERS = {
    "one": _build_one,
    "vanilla": _build_vanilla,
    "kd": _build_kd,
    "dml": _build_dml,
    "ensemble": _build_ensemble,
    "snapshot": _build_snapshot,
}
METHODS = tuple(BUILDERS)


def build_method_model(method, model_name="resnet", num_classes=10,
                       input_shape=None, num_branches=3, num_peers=2,
                       num_snapshots=5, teacher=None, alpha=0.9,
                       temperature=None, gate="learned", kl_weight=1.0,
                       share_trunk=True, kl_rampup_epochs=0,
                       weight_decay=1e-4, normalization=None, sync_bn=False,
                       **architecture):
    """Builds the training model of a method of the paper, by name.

    Args:
        method: str. One of `METHODS`.
        model_name: str. A name of `one_keras.models.model_names()`.
            Defaults to `"resnet"`.
        num_classes: int. Number of classes. Defaults to `10`.
        input_shape: tuple or `None`. Image shape; `None` takes the model's
            default.
        num_branches: int. ONE branches `m + 1` (Table 6). Defaults to `3`.
        num_peers: int. Networks of `"dml"` (>= 2) and `"ensemble"` (the
            paper's 2-Net and 3-Net). Defaults to `2`.
        num_snapshots: int. Snapshots `M` of `"snapshot"`. Defaults to `5`.
        teacher: `keras.Model`, str or `None`. The frozen teacher of
            `"kd"`: a model mapping images to logits, a model with a
            `deployed_model()` (e.g. a `ONEModel`), or the path of a
            `.keras` file holding either. Required for `"kd"` only.
        alpha: float. KD's distillation weight, in [0, 1]. Defaults to
            `0.9`.
        temperature: float or `None`. Distillation temperature; `None`
            takes the method's default (3 for ONE and KD, 1 for DML).
        gate: str. ONE's gate, `"learned"` or `"average"` (the "without
            gating" ablation). Defaults to `"learned"`.
        kl_weight: float. ONE's KL weight (0: "without online
            distillation"). Defaults to `1.0`.
        share_trunk: bool. `False`: ONE "without sharing" (one trunk per
            branch). Defaults to `True`.
        kl_rampup_epochs: int. ONE's KL ramp-up. Defaults to `0`.
        weight_decay: float. Coupled L2 weight decay. Defaults to `1e-4`.
        normalization: dict or `None`. Input normalisation, recorded for
            export.
        sync_bn: bool. BatchNorm synchronized across replicas (see
            `one_keras.methods.one.build_one_model`). Defaults to `False`.
        **architecture: architecture arguments of `build_one_model` (e.g.
            `depth`, `width`).

    Returns:
        A `keras.Model` to `compile` and `fit`; `deployed_model()` returns
        what a user deploys. For `"snapshot"`, compile with a
        `CyclicCosineDecay` of `num_snapshots` cycles.

    Example:
    ```python
    model = one_keras.methods.build_method_model(
        "dml", num_classes=100, input_shape=(32, 32, 3), depth=32)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    model.fit(train, epochs=300)
    model.deployed_model().save("dml_peer0.keras")
    ```
    """
    validation.check_choice("method", method, METHODS)
    if method != "one":
        _check_one_only(method, gate=gate, kl_weight=kl_weight,
                        share_trunk=share_trunk,
                        kl_rampup_epochs=kl_rampup_epochs)
    if method != "kd" and teacher is not None:
        raise ValueError("`teacher` is used by method 'kd' only. Received: "
                         f"teacher={teacher!r}, method={method!r}")
    if temperature is None:
        temperature = DEFAULT_TEMPERATURE.get(method, 1.0)
    request = MethodRequest(
        model_name=model_name, num_classes=num_classes,
        input_shape=input_shape, num_branches=num_branches,
        num_peers=num_peers, num_snapshots=num_snapshots, teacher=teacher,
        alpha=alpha, temperature=temperature, gate=gate,
        kl_weight=kl_weight, share_trunk=share_trunk,
        kl_rampup_epochs=kl_rampup_epochs,
        common={"weight_decay": weight_decay,
                "normalization": normalization},
        architecture={**architecture, "sync_bn": sync_bn})  # Every builder.
    return BUILDERS[method](request)


def _resolve_teacher(teacher):
    """The teacher as a frozen images -> logits model."""
    if teacher is None:
        raise ValueError("`teacher` must be given for method 'kd': a "
                         "trained model or the path of a `.keras` file. "
                         "Received: teacher=None")
    if isinstance(teacher, str):
        # Frozen: its optimizer (if it was saved with one) is not needed.
        teacher = keras.models.load_model(teacher, compile=False)
    if not isinstance(teacher, keras.Model):
        raise ValueError("`teacher` must be a `keras.Model` or a `.keras` "
                         f"path. Received: teacher={teacher!r}")
    return deployed_model(teacher)


def _check_one_only(method, **arguments):
    """Refuses a ONE ablation argument set away from its default."""
    parameters = inspect.signature(build_method_model).parameters
    for name, value in arguments.items():
        if value != parameters[name].default:
            raise ValueError(
                f"`{name}` is a ONE ablation and applies to method 'one' "
                f"only. Received: {name}={value!r}, method={method!r}")

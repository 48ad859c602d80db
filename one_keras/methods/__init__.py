"""The paper's baselines and ablations, built by name (Tables 3-6).

`build_method_model(method, ...)` returns a model ready to `compile` and
`fit`; every one has `target_model()` and `deployed_model()`:

| method | model | deployed |
|---|---|---|
| `"one"` | `ONEModel` (ablations: `kl_weight=0`, `share_trunk=False`, `gate="average"`, `num_branches`) | branch 0 |
| `"vanilla"` | `ONEModel` with one branch | the network |
| `"kd"` | `KDModel` (frozen `teacher`) | the student |
| `"dml"` | `DMLModel` (`num_peers` peers) | peer 0 |
| `"ensemble"` | `EnsembleModel` (`num_peers` networks) | probability average |
| `"snapshot"` | `SnapshotModel` (`num_snapshots`) | probability average |
"""

import keras
import numpy as np

from one_keras import validation
from one_keras.methods.dml import DMLModel
from one_keras.methods.ensemble import EnsembleModel
from one_keras.methods.kd import KDModel
from one_keras.methods.options import METHOD_OPTIONS
from one_keras.methods.options import check_method_options
from one_keras.methods.peers import PeersModel
from one_keras.methods.peers import build_peers
from one_keras.methods.peers import build_plain_network
from one_keras.methods.snapshot import CyclicCosineDecay
from one_keras.methods.snapshot import SnapshotCallback
from one_keras.methods.snapshot import SnapshotModel
from one_keras.methods.vanilla import build_vanilla_model
from one_keras.models import build_one_model

METHODS = ("one", "vanilla", "kd", "dml", "ensemble", "snapshot")
DEFAULT_TEMPERATURE = {"one": 3.0, "kd": 3.0, "dml": 1.0}


def build_method_model(method, model_name="resnet", num_classes=10,
                       input_shape=None, num_branches=3, num_peers=2,
                       num_snapshots=5, teacher=None, alpha=0.9,
                       temperature=None, gate="learned", kl_weight=1.0,
                       share_trunk=True, kl_rampup_epochs=0,
                       weight_decay=1e-4, normalization=None,
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
        _check_one_only(method, gate=(gate, "learned"),
                        kl_weight=(kl_weight, 1.0),
                        share_trunk=(share_trunk, True),
                        kl_rampup_epochs=(kl_rampup_epochs, 0))
    if method != "kd" and teacher is not None:
        raise ValueError("`teacher` is used by method 'kd' only. Received: "
                         f"teacher={teacher!r}, method={method!r}")
    if temperature is None:
        temperature = DEFAULT_TEMPERATURE.get(method, 1.0)
    common = {"weight_decay": weight_decay, "normalization": normalization}
    if method == "one":
        return build_one_model(
            model_name, num_classes, num_branches=num_branches,
            input_shape=input_shape, gate=gate, share_trunk=share_trunk,
            temperature=temperature, kl_weight=kl_weight,
            kl_rampup_epochs=kl_rampup_epochs, **common, **architecture)
    if method == "vanilla":
        return build_vanilla_model(model_name, num_classes,
                                   input_shape=input_shape, **common,
                                   **architecture)
    if method == "kd":
        teacher = _resolve_teacher(teacher)
        student = build_plain_network(model_name, num_classes, input_shape,
                                      "student", **architecture)
        return KDModel(student, teacher, alpha=alpha,
                       temperature=temperature, **common)
    if method in ("dml", "ensemble"):
        minimum = 2 if method == "dml" else 1
        validation.check_int_at_least("num_peers", num_peers, minimum)
        network = build_peers(model_name, num_classes, num_peers,
                              input_shape=input_shape, name=method,
                              **architecture)
        if method == "dml":
            return DMLModel(network, temperature=temperature, **common)
        return EnsembleModel(network, **common)
    validation.check_int_at_least("num_snapshots", num_snapshots, 1)
    network = build_plain_network(model_name, num_classes, input_shape,
                                  "network", **architecture)
    snapshots = build_peers(model_name, num_classes, num_snapshots,
                            input_shape=input_shape, name="snapshots",
                            **architecture)
    return SnapshotModel(network, snapshots, **common)


def deployed_model(model):
    """What a user deploys from a trained method model (see the table
    above); a plain Keras model is returned as it is."""
    if hasattr(model, "deployed_model"):
        return model.deployed_model()
    return model


def training_networks(model):
    """The networks one training step runs forward (for TrCost).

    Args:
        model: A model from `build_method_model`.

    Returns:
        A list of `keras.Model`: the student and its teacher for KD, else
        the network being trained (a snapshot run trains one network; the
        stored snapshots only run at test time).
    """
    if isinstance(model, KDModel):
        return [model.student, model.teacher]
    return [model.network]


def count_parameters(model):
    """Weights of `model` a user ships, without BatchNorm moving statistics.

    Frozen weights count too (the snapshots of a snapshot ensemble).

    Args:
        model: `keras.Model`.

    Returns:
        int.
    """
    return int(sum(np.prod(w.shape) for w in model.weights
                   if "moving_" not in w.path))


def _resolve_teacher(teacher):
    """The teacher as a frozen images -> logits model."""
    if teacher is None:
        raise ValueError("`teacher` must be given for method 'kd': a "
                         "trained model or the path of a `.keras` file. "
                         "Received: teacher=None")
    if isinstance(teacher, str):
        teacher = keras.models.load_model(teacher)
    if not isinstance(teacher, keras.Model):
        raise ValueError("`teacher` must be a `keras.Model` or a `.keras` "
                         f"path. Received: teacher={teacher!r}")
    return deployed_model(teacher)


def _check_one_only(method, **arguments):
    for name, (value, default) in arguments.items():
        if value != default:
            raise ValueError(
                f"`{name}` is a ONE ablation and applies to method 'one' "
                f"only. Received: {name}={value!r}, method={method!r}")


__all__ = ["CyclicCosineDecay", "DMLModel", "EnsembleModel", "KDModel",
           "METHODS", "METHOD_OPTIONS", "PeersModel", "SnapshotCallback",
           "SnapshotModel", "build_method_model", "check_method_options",
           "deployed_model"]

"""PCL: peer collaborative learning (Wu and Gong, AAAI 2021).

`m` branches (peers) on a shared trunk, each fed its own randomly augmented
view of the batch; a peer ensemble teacher (the peers' pooled features
concatenated, with its own classifier) and a peer mean teacher (a temporal
moving average of the whole network) both teach the peers:

    L = CE(z_e, y) + sum_i [CE(z_i, y) + w(e) T^2 KL(p_e || p_i)
        + w(e) / (m - 1) sum_{j != i} T^2 KL(p'_j || p_i)]

with `p = softmax(z / T)`, `z_e` the ensemble teacher's logits and `z'_j`
the mean network's peer `j` on the view of peer `j`, both stopped. The mean
network's branch 0 is deployed (docs/family/pcl.md).

Paper: https://arxiv.org/abs/2006.04147
"""

import dataclasses

import keras
from keras import ops

from one_keras.methods import losses
from one_keras.methods.method import Method
from one_keras.methods.method import Options
from one_keras.methods.method import option
from one_keras.methods.method_model import MethodModel
from one_keras.methods.method_model import WEIGHT_DECAY
from one_keras.methods.method_model import sparse_ce
from one_keras.methods.method_model import weighted_mean
from one_keras.methods.one.callbacks import KLRampUp
from one_keras.methods.one.callbacks import add_kl_ramp
from one_keras.models import backbone_parts
from one_keras.models.common import synchronized_batch_norm
from one_keras.models.initializers import dense_initializers
from one_keras.utils import validation


# The paper's settings: 3 peers, T = 3, EMA decay 0.999, and the ramp-up of
# Mean Teacher over 80 epochs (of 300).
NUM_BRANCHES = 3
PCL_TEMPERATURE = 3.0
EMA_DECAY = 0.999
RAMPUP_EPOCHS = 80
# A view is shifted by up to 1/8 of the image (pad 4, crop 32 on CIFAR).
VIEW_SHIFT = 0.125
OUTPUT_KEYS = ("branch_logits", "ensemble_logits")


def pcl_loss_terms(y_true, branch_logits, ensemble_logits,
                   mean_branch_logits, temperature=PCL_TEMPERATURE):
    """The three per-sample parts of the PCL loss.

    Args:
        y_true: Integer labels, `(batch,)` or `(batch, 1)`.
        branch_logits: The peers' logits, `(batch, m, classes)`, `m >= 2`.
        ensemble_logits: The peer ensemble teacher's logits, `(batch,
            classes)`.
        mean_branch_logits: The mean network's peers on the same views,
            `(batch, m, classes)`.
        temperature: float. Distillation temperature `T` > 0. Defaults to
            `3.0`.

    Returns:
        A dict of `(batch,)` tensors: `ce` (`CE(z_e, y) + sum_i CE(z_i,
        y)`), `pe` (`sum_i T^2 KL(p_e || p_i)`) and `pm` (`sum_i mean_{j
        != i} T^2 KL(p'_j || p_i)`); the teachers are stopped.
    """
    validation.check_positive("temperature", temperature)
    branch_logits = ops.cast(branch_logits, "float32")
    mean_branch_logits = ops.cast(mean_branch_logits, "float32")
    num_branches = branch_logits.shape[1]
    if num_branches is None or num_branches < 2:
        raise ValueError("PCL needs at least 2 peers (`num_branches` >= 2). "
                         f"Received: num_branches={num_branches}")
    ce = sparse_ce(y_true, ensemble_logits)
    for index in range(num_branches):
        ce = ce + sparse_ce(y_true, branch_logits[:, index])
    pe = losses.distillation_kl(ensemble_logits, branch_logits, temperature)
    pm = 0.0
    for index in range(num_branches):
        peer = branch_logits[:, index:index + 1]
        for other in range(num_branches):
            if other != index:
                pm = pm + losses.distillation_kl(
                    mean_branch_logits[:, other], peer, temperature)
    return {"ce": ce, "pe": pe, "pm": pm / (num_branches - 1)}


def build_pcl_network(model_name, num_classes, num_branches=NUM_BRANCHES,
                      input_shape=None, name="pcl", **architecture):
    """The multi-branch network of PCL, one view per branch.

    Args:
        model_name: str. A name of `one_keras.models.model_names()`.
        num_classes: int. Number of classes.
        num_branches: int. Peers `m` >= 2. Defaults to `3`.
        input_shape: tuple or `None`. Image shape (`None`: the backbone's).
        name: str. The model's name. Defaults to `"pcl"`.
        **architecture: the backbone's architecture arguments.

    Returns:
        A functional `keras.Model` of `m` image inputs (`view{i}`, the view
        of peer `i`) with the outputs `branch_logits` `(batch, m, classes)`
        and `ensemble_logits` `(batch, classes)`. Its sub-models are
        `trunk` (images -> features, run once per view) and `branch{i}`
        (features -> `[logits, pooled features]`); the ensemble teacher's
        classifier is the layer `ensemble_logits`.
    """
    validation.check_int_at_least("num_branches", num_branches, 2)
    parts = backbone_parts(model_name, num_classes, input_shape,
                           **architecture)
    images = keras.Input(shape=parts.input_shape, name="images")
    trunk = keras.Model(images, parts.build_trunk(images), name="trunk")
    branches = []
    for index in range(num_branches):
        prefix = f"branch{index}_"
        features = keras.Input(shape=trunk.output.shape[1:],
                               name=f"{prefix}features")
        logits = parts.build_branch(features, prefix)
        pooled = logits._keras_history.operation.input
        branches.append(keras.Model(features, [logits, pooled],
                                    name=f"branch{index}"))
    views = [keras.Input(shape=parts.input_shape, name=f"view{index}")
             for index in range(num_branches)]
    outputs = [branch(trunk(view)) for branch, view in zip(branches, views)]
    stacked = keras.layers.Concatenate(axis=1, name="branch_logits")([
        keras.layers.Reshape((1, num_classes), name=f"branch{i}_expand")(
            logits) for i, (logits, _) in enumerate(outputs)])
    fused = keras.layers.Concatenate(name="fused_features")(
        [pooled for _, pooled in outputs])
    kernel, bias = dense_initializers(fused.shape[-1])
    ensemble = keras.layers.Dense(num_classes, kernel_initializer=kernel,
                                  bias_initializer=bias,
                                  name="ensemble_logits")(fused)
    return keras.Model(views, {"branch_logits": stacked,
                               "ensemble_logits": ensemble}, name=name)


@keras.saving.register_keras_serializable(package="one_keras")
class PCLModel(MethodModel):
    """Peer collaborative learning; the mean network's branch 0 is deployed.

    Training runs the network on `m` views (each peer's own random flip and
    shift of the batch, `view_shift`) and the mean network on the same
    views; the mean network is an exponential moving average of every
    variable of the network (BatchNorm statistics included), updated at the
    start of each training step as `decay = min(1 - 1 / (t + 1),
    ema_decay)` (the authors' warm-up) and run in inference mode. It reports
    `loss`, `ce`, `pe`, `pm`, `branch_{i}_accuracy`, `ensemble_accuracy`
    and the mean network's `mean_branch_{i}_accuracy` and
    `mean_ensemble_accuracy`.

    Args:
        network: `keras.Model`. From `build_pcl_network`.
        mean_network: `keras.Model`. A second `build_pcl_network` of the
            same architecture; it is made non-trainable.
        temperature: float. Distillation temperature `T` > 0. Defaults to
            `3.0`.
        ema_decay: float. Decay of the moving average, in [0, 1]. Defaults
            to `0.999`.
        rampup_epochs: int. Epochs over which the distillation weight ramps
            up as `exp(-5 (1 - e / R)^2)`; 0 turns it off. Defaults to `80`.
        view_shift: float. Largest shift of a peer's view, a fraction of
            the image size, in [0, 0.5]; 0 gives every peer the batch as it
            comes (a random flip is drawn anyway unless `branch_views` is
            off). Defaults to `0.125`.
        branch_views: bool. `False` gives every peer the batch as it comes.
            Defaults to `True`.
        seed: int or `None`. Seed of the views. Defaults to `None`.
        weight_decay, normalization: see `MethodModel`.

    Example:
    ```python
    model = one_keras.methods.build_method_model("pcl", depth=20)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    model.fit(images, labels, epochs=300)
    deployed = model.deployed_model()  # the mean network's branch 0
    ```
    """

    def __init__(self, network, mean_network, temperature=PCL_TEMPERATURE,
                 ema_decay=EMA_DECAY, rampup_epochs=RAMPUP_EPOCHS,
                 view_shift=VIEW_SHIFT, branch_views=True, seed=None,
                 weight_decay=WEIGHT_DECAY, normalization=None, **kwargs):
        _check_network(network, "network")
        _check_network(mean_network, "mean_network")
        validation.check_positive("temperature", temperature)
        validation.check_int_at_least("rampup_epochs", rampup_epochs, 0)
        for key, value, high in (("ema_decay", ema_decay, 1.0),
                                 ("view_shift", view_shift, 0.5)):
            validation.check_non_negative(key, value)
            if value > high:
                raise ValueError(f"`{key}` must be in [0, {high}]. "
                                 f"Received: {key}={value}")
        super().__init__(weight_decay=weight_decay,
                         normalization=normalization, **kwargs)
        self.network = network
        self.mean_network = mean_network
        mean_network.trainable = False
        _variable_pairs(network, mean_network)  # Checks the architecture.
        self.temperature = float(temperature)
        self.ema_decay = float(ema_decay)
        self.rampup_epochs = int(rampup_epochs)
        self.view_shift = float(view_shift)
        self.branch_views = bool(branch_views)
        self.seed = seed
        shape = network.output["branch_logits"].shape
        self.num_branches, self.num_classes = shape[1], shape[2]
        self.ema_step = self.add_weight(
            shape=(), dtype="int32", trainable=False, name="ema_step",
            initializer="zeros")
        self.kl_ramp = add_kl_ramp(self, self.rampup_epochs)
        # The views' random state is saved with the model (see
        # `save_own_variables`), so a resumed run draws the same views.
        self.view_seed = keras.random.SeedGenerator(seed, name="view_seed")
        self.view_flip = keras.layers.RandomFlip("horizontal",
                                                 name="view_flip")
        self.view_translation = keras.layers.RandomTranslation(
            self.view_shift, self.view_shift, fill_mode="constant",
            interpolation="nearest", name="view_translation")
        self.pe_tracker = keras.metrics.Mean(name="pe")
        self.pm_tracker = keras.metrics.Mean(name="pm")
        self.accuracies = {
            key: keras.metrics.SparseCategoricalAccuracy(name=f"{key}_accuracy")
            for prefix in ("", "mean_")
            for key in [f"{prefix}branch_{i}" for i in range(self.num_branches)]
            + [f"{prefix}ensemble"]}
        self.built = True

    def _own_state(self):
        return (self._trainable_variables + self._non_trainable_variables
                + [self.view_seed.state])

    def save_own_variables(self, store):
        for index, variable in enumerate(self._own_state()):
            store[f"{index}"] = variable

    def load_own_variables(self, store):
        state = self._own_state()
        if len(store.keys()) != len(state):
            raise ValueError(
                f"The saved state of {self.name} holds {len(store.keys())} "
                f"variables, this model {len(state)}: it was saved from "
                "another model. Load a file of a PCL model of this "
                "architecture.")
        for index, variable in enumerate(state):
            variable.assign(store[f"{index}"])

    def _views(self, images):
        if not self.branch_views:
            return [images] * self.num_branches
        views = []
        for _ in range(self.num_branches):
            view = images
            for layer in (self.view_flip, self.view_translation):
                transform = layer.get_random_transformation(
                    view, training=True, seed=self.view_seed)
                view = layer.transform_images(view, transform, training=True)
            views.append(view)
        return views

    def update_mean_network(self):
        """One step of the moving average: `mean = d * mean + (1 - d) *
        network` over every variable, `d = min(1 - 1 / (t + 1),
        ema_decay)` at step `t` (0 at the first step: a copy)."""
        step = ops.cast(self.ema_step, "float32")
        decay = ops.minimum(1.0 - 1.0 / (step + 1.0), self.ema_decay)
        for source, average in _variable_pairs(self.network,
                                               self.mean_network):
            value = ops.cast(ops.stop_gradient(source), average.dtype)
            average.assign(ops.cast(decay, average.dtype) * average
                           + ops.cast(1.0 - decay, average.dtype) * value)
        self.ema_step.assign_add(1)

    def call(self, images, training=None):
        if training:
            self.update_mean_network()
            views = self._views(images)
        else:
            views = [images] * self.num_branches
        outputs = self.network(views, training=training)
        mean = self.mean_network(views, training=False)
        return {**outputs,
                "mean_branch_logits": ops.stop_gradient(mean["branch_logits"]),
                "mean_ensemble_logits": ops.stop_gradient(
                    mean["ensemble_logits"])}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        y = self.check_label_range(y)
        terms = pcl_loss_terms(y, y_pred["branch_logits"],
                               y_pred["ensemble_logits"],
                               y_pred["mean_branch_logits"], self.temperature)
        values = {key: weighted_mean(value, sample_weight)
                  for key, value in terms.items()}
        self.ce_tracker.update_state(values["ce"])
        self.pe_tracker.update_state(values["pe"])
        self.pm_tracker.update_state(values["pm"])
        ramp = ops.cast(self.kl_ramp, "float32")
        return self.finish_loss(
            values["ce"] + ramp * (values["pe"] + values["pm"]))

    def update_metrics(self, x, y, y_pred, sample_weight=None):
        for prefix in ("", "mean_"):
            branches = y_pred[f"{prefix}branch_logits"]
            for index in range(self.num_branches):
                self.accuracies[f"{prefix}branch_{index}"].update_state(
                    y, branches[:, index], sample_weight)
            self.accuracies[f"{prefix}ensemble"].update_state(
                y, y_pred[f"{prefix}ensemble_logits"], sample_weight)
        if self._compile_metrics is not None:
            self._compile_metrics.update_state(
                y, y_pred["mean_branch_logits"][:, 0], sample_weight)
        return self.get_metrics_result()

    def fit(self, x=None, y=None, *args, callbacks=None, **kwargs):
        callbacks = list(callbacks or [])
        if not any(isinstance(c, KLRampUp) for c in callbacks):
            callbacks.append(KLRampUp(self.rampup_epochs))
        return super().fit(x, y, *args, callbacks=callbacks, **kwargs)

    def _branch(self, network, index, images):
        trunk = network.get_layer("trunk")
        return network.get_layer(f"branch{index}")(trunk(images))

    def target_model(self, name=None):
        """The mean network's trunk and branch 0: a plain network (images
        -> logits) with the vanilla network's parameters."""
        images = keras.Input(shape=self.network.input[0].shape[1:],
                             name="images")
        logits, _ = self._branch(self.mean_network, 0, images)
        return keras.Model(images, logits, name=name or "pcl_mean_target")

    def ensemble_model(self, name=None):
        """The mean network's peer ensemble teacher: every branch on one
        image, their pooled features concatenated into its classifier."""
        images = keras.Input(shape=self.network.input[0].shape[1:],
                             name="images")
        features = [self._branch(self.mean_network, i, images)[1]
                    for i in range(self.num_branches)]
        fused = keras.layers.Concatenate(name="fused_features")(features)
        logits = self.mean_network.get_layer("ensemble_logits")(fused)
        return keras.Model(images, logits, name=name or "pcl_mean_ensemble")

    def deployable_cores(self):
        """`target` (the mean network's branch 0) and `ensemble` (the mean
        network's peer ensemble teacher)."""
        return {"target": self.target_model(),
                "ensemble": self.ensemble_model()}

    def describe_deployables(self):
        return {"target": "peer mean teacher: the mean network's branch 0",
                "ensemble": "the mean network's peer ensemble teacher, "
                            f"{self.num_branches} branches' features fused"}

    def report_metrics(self):
        return {"target": "mean_branch_0_accuracy",
                "ensemble": "mean_ensemble_accuracy"}

    def training_networks(self):
        """Both networks; each runs its trunk once per view."""
        extra = self.num_branches - 1
        return ([self.network, self.mean_network]
                + [self.network.get_layer("trunk"),
                   self.mean_network.get_layer("trunk")] * extra)

    def get_config(self):
        config = super().get_config()
        config.update({
            "network": keras.saving.serialize_keras_object(self.network),
            "mean_network": keras.saving.serialize_keras_object(
                self.mean_network),
            "temperature": self.temperature, "ema_decay": self.ema_decay,
            "rampup_epochs": self.rampup_epochs,
            "view_shift": self.view_shift, "branch_views": self.branch_views,
            "seed": self.seed, "weight_decay": self.weight_decay,
            "normalization": self.normalization})
        return config

    @classmethod
    def from_config(cls, config):
        networks = {key: keras.saving.deserialize_keras_object(config[key])
                    for key in ("network", "mean_network")}
        return cls(**{**config, **networks})


def _check_network(network, name):
    outputs = getattr(network, "output", None)
    if not isinstance(network, keras.Model) or not isinstance(outputs, dict) \
            or set(outputs) != set(OUTPUT_KEYS):
        raise ValueError(
            f"`{name}` must be a functional model from "
            "`one_keras.methods.pcl.build_pcl_network` with the outputs "
            f"{list(OUTPUT_KEYS)}. Received: {name}={network!r}")


def _variable_pairs(network, mean_network):
    """`(network variable, mean network variable)` pairs, by position."""
    sources, averages = network.variables, mean_network.variables
    if [tuple(v.shape) for v in sources] != \
            [tuple(v.shape) for v in averages]:
        raise ValueError(
            "`mean_network` must have the architecture of `network` (the "
            "same variables in the same order): build both with "
            "`build_pcl_network` and the same arguments.")
    return list(zip(sources, averages))


@dataclasses.dataclass(frozen=True)
class PCLOptions(Options):
    """PCL's options (paper defaults)."""

    num_branches: int = option(NUM_BRANCHES, "Peers m (branches).",
                               lower_bound=2)
    temperature: float = option(PCL_TEMPERATURE,
                                "Distillation temperature T.",
                                greater_than=0.0)
    ema_decay: float = option(
        EMA_DECAY, "Decay of the peer mean teacher's moving average.",
        lower_bound=0.0, upper_bound=1.0)
    rampup_epochs: int = option(
        RAMPUP_EPOCHS, "Epochs of the distillation weight's ramp-up "
        "exp(-5(1-e/R)^2) (0: off).", lower_bound=0)
    branch_views: bool = option(
        True, "Give each peer its own random flip and shift of the batch.")
    view_shift: float = option(
        VIEW_SHIFT, "Largest shift of a peer's view, as a fraction of the "
        "image size (0.125: pad 4, crop 32).", lower_bound=0.0,
        upper_bound=0.5)


def build(options, request):
    """PCL's training model: the network and its mean network."""
    networks = []
    with synchronized_batch_norm(request.sync_bn):
        for name in ("pcl", "pcl_mean"):
            networks.append(build_pcl_network(
                request.model_name, request.num_classes,
                options.num_branches, input_shape=request.input_shape,
                name=name, **request.architecture))
    return PCLModel(*networks, temperature=options.temperature,
                    ema_decay=options.ema_decay,
                    rampup_epochs=options.rampup_epochs,
                    view_shift=options.view_shift,
                    branch_views=options.branch_views,
                    **request.model_arguments)


def callbacks(options, epochs):
    """The distillation weight's ramp-up."""
    return [KLRampUp(options.rampup_epochs)]


METHOD = Method(
    name="pcl", summary="PCL: peers on one trunk, each on its own view, "
    "taught by a peer ensemble and a peer mean teacher (AAAI 2021)",
    options=PCLOptions, build=build, callbacks=callbacks)

__all__ = ["PCLModel", "build_pcl_network", "pcl_loss_terms"]

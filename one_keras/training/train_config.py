"""The settings of a training run: `TrainConfig`, checked when built."""

import dataclasses
import os
import sys

import numpy as np

from one_keras import data as data_lib
from one_keras import methods as methods_lib
from one_keras.methods import method as method_lib
from one_keras.methods import recipes
from one_keras.methods.method_model import WEIGHT_DECAY
from one_keras.models import architecture_options
from one_keras.models import model_names
from one_keras.models import resnet_cifar
from one_keras.training import distribution
from one_keras.training import precision
from one_keras.utils import validation


MODELS = tuple(model_names())
RECIPES = recipes.RECIPES
STRATEGIES = distribution.STRATEGIES
DTYPE_POLICIES = precision.DTYPE_POLICIES
VERBOSITIES = ("auto", 0, 1, 2)
# Number fields that must be finite (the methods' options check their own).
FLOAT_FIELDS = ("lr", "momentum", "weight_decay")
BOOL_FIELDS = ("download", "skip_bad_images", "nesterov", "mixed_precision",
               "sync_bn", "deterministic", "restart")
# Fields whose `None` takes the recipe's value.
RECIPE_FIELDS = ("nesterov", "block")
STR_FIELDS = ("data_dir", "tpu")
# The architecture options of the backbones (`one_keras.models.
# architecture_options`): a run sets those of its backbone only, and these
# are their values when not given (`block`: the recipe's).
ARCHITECTURE_FIELDS = ("depth", "block", "width")
ARCHITECTURE_DEFAULTS = {"depth": 14, "width": 16}
# Fields that take a path: an `os.PathLike` is kept as its str.
PATH_FIELDS = ("data_dir", "output_dir")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs. The CLI builds it from flags.

    Attributes:
        dataset: str. Dataset name (see `one_keras.data.dataset_names()`).
        data_dir: str. tfds data directory, or the image folder ("" = tfds'
            default `~/tensorflow_datasets`).
        download: bool. Download and prepare a missing tfds dataset.
        image_size: int. Input side for `imagenet2012`/`image_folder` (0 =
            the dataset's default).
        augment: str. Training augmentation (`one_keras.data.AUGMENTATIONS`;
            `"auto"`: the dataset's own recipe).
        skip_bad_images: bool. `image_folder` only: leave out files that
            cannot be decoded (with a warning naming them) instead of
            refusing the folder.
        method: str. Training method: `"one"` or a baseline of the paper
            (`one_keras.methods.METHODS`: vanilla, kd, dml, ensemble,
            snapshot).
        options: dict. The method's options that were set, by name (e.g.
            `{"num_branches": 4}` for ONE, `{"teacher": "t.keras"}` for
            KD); each method's options and their defaults are its options
            dataclass, `one_keras.methods.get_method(method).options`. The
            options not set take the recipe's value (ONE's
            `kl_rampup_epochs`) or the method's default. An option the
            method does not have is refused, also at its default value.
        model: str. Backbone name (`"resnet"`: the CIFAR ResNet).
        depth: int or `None`. ResNet depth, `6 * n + 2`; `None`: 14. Only
            for a backbone that has this architecture option
            (`one_keras.models.architecture_options(model)`: `"resnet"`);
            refused for the others, whose architecture is fixed.
        block: str or `None`. `"basic"` or `"bottleneck"`; `None` takes the
            recipe's (see `one_keras.methods.recipes`). Like `depth`, `"resnet"`
            only.
        width: int or `None`. ResNet stem width; `None`: 16. Like `depth`,
            `"resnet"` only.
        recipe: str. `"paper"` or `"code"` (the authors' code): fills the
            settings left unset (`nesterov`, `block`, ONE's
            `kl_rampup_epochs`; see `one_keras.methods.recipes`) when the run
            resolves them (`settings()`), and is recorded in the report.
        epochs: int. Training epochs.
        batch_size: int. Global training batch size.
        eval_batch_size: int. Test batch size.
        steps_per_epoch: int. Batches per epoch (0 = one pass over the
            training split).
        eval_steps: int. Test batches to evaluate (0 = the whole split).
        lr: float. Initial learning rate (x0.1 at 50% and 75% of training).
        momentum: float. SGD momentum.
        nesterov: bool or `None`. Nesterov momentum; `None` takes the
            recipe's.
        weight_decay: float. Coupled L2 weight decay.
        strategy: str. `"auto"`, `"one_device"`, `"mirrored"`,
            `"multi_worker"` or `"tpu"`.
        tpu: str. TPU name or address for `strategy="tpu"` ("" = the
            resolver's default, `"local"` on a TPU VM).
        mixed_precision: bool. The device's mixed policy: `mixed_float16`
            on GPU, `mixed_bfloat16` on TPU and CPU (an alias of
            `dtype_policy`, which it needs at its default).
        dtype_policy: str. The Keras dtype policy to train under:
            `"float32"`, `"mixed_bfloat16"`, `"mixed_float16"` or `"auto"`
            (`mixed_bfloat16` where the hardware computes bfloat16, else
            `float32`; see `one_keras.training.precision`). A run records the policy
            it resolved to and resumes only under it.
        sync_bn: bool. BatchNorm statistics over the global batch of all
            replicas (as on one device) instead of each replica's slice.
        seed: int. Random seed.
        deterministic: bool. Deterministic ops and input order.
        output_dir: str. Where artifacts go.
        restart: bool. Train from epoch 0 in `output_dir`, deleting the run
            there (backups, checkpoint, log, report, models); without it a
            rerun resumes that run or is refused.
        verbose: `"auto"` or int. Keras `fit` verbosity: 0 (silent), 1 (a
            progress bar), 2 (one line per epoch); `"auto"` is 1 when
            stdout is a terminal and 2 otherwise (a log file).
    """

    dataset: str = "digits"
    data_dir: str = ""
    download: bool = False
    image_size: int = 0
    augment: str = "auto"
    skip_bad_images: bool = False
    method: str = "one"
    options: dict = dataclasses.field(default_factory=dict)
    model: str = "resnet"
    depth: int = None
    block: str = None
    width: int = None
    recipe: str = "paper"
    epochs: int = 30
    batch_size: int = 64
    eval_batch_size: int = 256
    steps_per_epoch: int = 0
    eval_steps: int = 0
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = None
    weight_decay: float = WEIGHT_DECAY
    strategy: str = "auto"
    tpu: str = ""
    mixed_precision: bool = False
    dtype_policy: str = precision.DEFAULT_DTYPE_POLICY
    sync_bn: bool = False
    seed: int = 0
    deterministic: bool = False
    output_dir: str = "runs/digits"
    restart: bool = False
    verbose: int | str = "auto"

    def __post_init__(self):
        # NumPy scalars (`np.int64(30)`, `np.float32(0.1)`) become the
        # Python values they hold: `config.json` and the report are JSON.
        for field in dataclasses.fields(self):
            object.__setattr__(self, field.name,
                               _python_scalar(getattr(self, field.name)))
        if isinstance(self.options, dict):
            object.__setattr__(self, "options", {
                name: _python_scalar(value)
                for name, value in self.options.items()})
        # Types first: a string is never a bool ("False" is truthy) nor a
        # number, and every later check may then compare values.
        for name in PATH_FIELDS:  # A pathlib.Path is kept as its str.
            value = getattr(self, name)
            if isinstance(value, os.PathLike):
                object.__setattr__(self, name, os.fspath(value))
        for name in BOOL_FIELDS:
            validation.check_bool(name, getattr(self, name),
                                  allow_none=name in RECIPE_FIELDS)
        for name in STR_FIELDS:
            validation.check_str(name, getattr(self, name))
        validation.check_str("output_dir", self.output_dir,
                             allow_empty=False)
        for name in FLOAT_FIELDS:  # inf or NaN: every loss is NaN.
            validation.check_number(name, getattr(self, name))
        validation.check_choice("dataset", self.dataset,
                                data_lib.dataset_names())
        validation.check_int_at_least("epochs", self.epochs, 1)
        validation.check_int_at_least("batch_size", self.batch_size, 1)
        validation.check_int_at_least("eval_batch_size",
                                      self.eval_batch_size, 1)
        validation.check_int_at_least("steps_per_epoch",
                                      self.steps_per_epoch, 0)
        validation.check_int_at_least("eval_steps", self.eval_steps, 0)
        validation.check_int_at_least("image_size", self.image_size, 0)
        if self.width is not None:
            validation.check_int_at_least("width", self.width, 1)
        validation.check_int_at_least("seed", self.seed, 0)
        if self.depth is not None:
            validation.check_int("depth", self.depth)
        validation.check_positive("lr", self.lr)
        validation.check_non_negative("momentum", self.momentum)
        validation.check_non_negative("weight_decay", self.weight_decay)
        validation.check_choice("model", self.model, MODELS)
        self._check_architecture_options()
        if self.model == "resnet":
            resnet_cifar.check_depth(self._depth())
        if self.block is not None:
            validation.check_choice("block", self.block, resnet_cifar.BLOCKS)
        validation.check_choice("augment", self.augment,
                                data_lib.AUGMENTATIONS)
        if not isinstance(self.options, dict) or not all(
                isinstance(name, str) for name in self.options):
            raise ValueError(
                "`options` must be a dict of the method's options by name, "
                f"e.g. {{'num_branches': 4}}. "
                f"{validation.received('options', self.options)}")
        validation.check_choice("recipe", self.recipe, RECIPES)
        # Checks the method and its options; nothing is stored.
        options = self.method_options()
        method_lib.check_option_types(options, strings=True)
        methods_lib.get_method(self.method).check_run(options, self.epochs)
        if self.skip_bad_images and self.dataset != "image_folder":
            raise ValueError(
                "`skip_bad_images` applies to dataset 'image_folder' only. "
                f"Received: skip_bad_images=True, dataset={self.dataset!r}")
        validation.check_choice("strategy", self.strategy, STRATEGIES)
        validation.check_choice("dtype_policy", self.dtype_policy,
                                DTYPE_POLICIES)
        if self.mixed_precision and \
                self.dtype_policy != precision.DEFAULT_DTYPE_POLICY:
            raise ValueError(
                "`mixed_precision` is an alias of a `dtype_policy` (the "
                "device's mixed one); give one of them. Received: "
                f"mixed_precision=True, dtype_policy={self.dtype_policy!r}")
        validation.check_choice("verbose", self.verbose, VERBOSITIES)

    def _check_architecture_options(self):
        """Refuses an architecture option that `model` does not take."""
        taken = architecture_options(self.model)
        for name in ARCHITECTURE_FIELDS:
            value = getattr(self, name)
            if value is None or name in taken:
                continue
            users = [m for m in MODELS if name in architecture_options(m)]
            raise ValueError(
                f"`{name}` is not an architecture option of model "
                f"{self.model!r} ("
                + (f"it takes {', '.join(taken)}" if taken else
                   "its architecture is fixed")
                + f"; `{name}` shapes {', '.join(map(repr, users))}): drop "
                f"it. Received: {name}={value!r}, model={self.model!r}")

    def _depth(self):
        """The ResNet depth the run builds (`None` for other backbones)."""
        if "depth" not in architecture_options(self.model):
            return None
        return ARCHITECTURE_DEFAULTS["depth"] if self.depth is None \
            else self.depth

    def architecture(self):
        """The architecture options the backbone is built with: those of
        `architecture_options(model)`, as given, else their defaults
        (`block`: the recipe's).

        Returns:
            A dict, e.g. `{"depth": 14, "block": "basic", "width": 16}`
            for `"resnet"`, `{}` for a backbone of a fixed architecture.
        """
        values = {}
        for name in architecture_options(self.model):
            if name == "block":
                values[name] = self.recipe_value("block")
            elif getattr(self, name) is None:
                values[name] = ARCHITECTURE_DEFAULTS[name]
            else:
                values[name] = getattr(self, name)
        return values

    @classmethod
    def from_settings(cls, settings=None, **fields):
        """A `TrainConfig` from flat settings, fields and the method's
        options side by side: the form of `settings()`, `config.json` and a
        report's `config`.

        Every key is kept or refused: a field, an option of the method
        (flat, or in an `options` dict), or the option of another method
        or an architecture option of another backbone, which a saved flat
        form may list (left out when it comes from `settings`: older runs
        recorded `depth`, `block` and `width` for every backbone; refused
        when given in `fields`).

        Args:
            settings: dict or `None`. Flat settings; `fields` override them.
            **fields: more flat settings, e.g. `method="dml",
                num_peers=3, depth=32`, or `options={"num_peers": 3}`.

        Returns:
            A `TrainConfig`; the method's options found among the settings
            (flat or in `options`) become `options`.

        Raises:
            ValueError: a key that is no field nor option, an `options`
                that is not a dict, or an option given twice with two
                values.
        """
        settings = dict(settings or {})
        method = fields.get("method", settings.get(
            "method", cls.__dataclass_fields__["method"].default))
        model = fields.get("model", settings.get(
            "model", cls.__dataclass_fields__["model"].default))
        if model in MODELS:
            for name in set(ARCHITECTURE_FIELDS) - set(
                    architecture_options(model)):
                settings.pop(name, None)
        names = methods_lib.get_method(method).option_names()
        every_option = methods_lib.option_users(methods_lib.REGISTRY)
        known = set(cls.__dataclass_fields__) | set(every_option)
        options = {}
        for source, keep in ((settings, names), (fields, every_option)):
            unknown = sorted(set(source) - known)
            if unknown:
                raise ValueError(
                    f"`{unknown[0]}` is neither a `TrainConfig` field nor "
                    f"an option of a method; nothing would read it. Drop "
                    f"it or fix its name. "
                    f"{validation.received(unknown[0], source[unknown[0]])}")
            given = source.get("options", {})
            if not isinstance(given, dict):
                raise ValueError(
                    "`options` must be a dict of the method's options by "
                    f"name. {validation.received('options', given)}")
            flat = {k: v for k, v in source.items() if k in keep}
            for name in set(flat) & set(given):
                if flat[name] != given[name]:
                    raise ValueError(
                        f"`{name}` is given twice, as a setting and in "
                        f"`options`, with two values; give it once. "
                        f"Received: {name}={flat[name]!r}, "
                        f"options={given!r}")
            options.update({**flat, **given})
        merged = {k: v for k, v in {**settings, **fields}.items()
                  if k not in every_option and k != "options"}
        return cls(**merged, options=options)

    def method_options(self):
        """The options the method trains with: `options`, else the recipe's,
        else the method's defaults.

        Returns:
            An instance of the method's options dataclass.
        """
        return methods_lib.resolve_options(self.method, self.options,
                                           self.recipe, self.model,
                                           self._depth())

    def recipe_value(self, name):
        """`nesterov` or `block`: the value given, else the recipe's."""
        value = getattr(self, name)
        if value is not None:
            return value
        return recipes.recipe_defaults(self.recipe, self.method, self.model,
                                       self._depth())[name]

    def resolved(self, strategy=None):
        """This config with `dtype_policy` the policy it trains under
        (`auto` and `mixed_precision` resolved on this machine) and
        `mixed_precision` off: what a run records and compares.

        Args:
            strategy: the run's `tf.distribute` strategy or `None`.

        Returns:
            A `TrainConfig`.
        """
        return dataclasses.replace(
            self, mixed_precision=False,
            dtype_policy=precision.resolve_dtype_policy(
                self.dtype_policy, self.mixed_precision, strategy))

    def settings(self):
        """Every setting the run trains with, in one flat dict: the fields
        (`nesterov` resolved; of `depth`, `block` and `width` only the
        backbone's own, resolved: `architecture()`) and the method's
        options with their defaults. It is what `config.json` and the report record and
        what a resumed run is compared on (older runs wrote this flat form
        too).

        Returns:
            A dict of JSON values.
        """
        settings = dataclasses.asdict(self)
        del settings["options"]
        for name in ARCHITECTURE_FIELDS:
            del settings[name]
        settings.update(self.architecture())
        settings["nesterov"] = self.recipe_value("nesterov")
        settings.update(dataclasses.asdict(self.method_options()))
        return settings


def _python_scalar(value):
    """`value`, or the Python value a NumPy scalar holds (`np.int64(3)` ->
    `3`); the checks then see the Python type."""
    return value.item() if isinstance(value, np.generic) else value


def fit_verbosity(verbose, stream=None):
    """Resolves `TrainConfig.verbose` to the number Keras `fit` takes.

    Args:
        verbose: `"auto"`, 0, 1 or 2.
        stream: the file the progress goes to (default `sys.stdout`).

    Returns:
        `verbose`, with `"auto"` replaced by 1 (a progress bar) when `stream`
        is a terminal and by 2 (one line per epoch, no escape codes)
        otherwise.
    """
    if verbose != "auto":
        return verbose
    stream = sys.stdout if stream is None else stream
    return 1 if getattr(stream, "isatty", lambda: False)() else 2

"""The settings of a training run: `TrainConfig`, checked when built."""

import dataclasses
import sys

from one_keras import data as data_lib
from one_keras import distribution
from one_keras import methods as methods_lib
from one_keras import recipes
from one_keras import validation
from one_keras.models import model_names

MODELS = tuple(model_names())
RECIPES = recipes.RECIPES
STRATEGIES = distribution.STRATEGIES
VERBOSITIES = ("auto", 0, 1, 2)
# Number fields that must be finite.
FLOAT_FIELDS = ("alpha", "lr", "momentum", "weight_decay", "temperature")


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
        model: str. Backbone name (`"resnet"`: the CIFAR ResNet).
        depth: int. ResNet depth, `6 * n + 2`.
        block: str or `None`. `"basic"` or `"bottleneck"`; `None` takes the
            recipe's (see `one_keras.recipes`).
        width: int. ResNet stem width.
        num_branches: int. Branches `m + 1` (1 trains the plain network).
        gate: str. `"learned"` or `"average"` (ONE "without gating").
        no_distillation: bool. ONE without the KL term (Table 5).
        no_sharing: bool. ONE with one trunk per branch (Table 5).
        teacher: str. The `.keras` teacher of `method="kd"`.
        alpha: float. KD's distillation weight.
        num_peers: int. Networks of `dml` and `ensemble`.
        num_snapshots: int. Snapshots (learning-rate cycles) of `snapshot`.
        recipe: str. `"paper"` or `"code"` (the authors' code): fills the
            options left `None` (`nesterov`, `kl_rampup_epochs`, `block`;
            see `one_keras.recipes`) and is recorded in the report.
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
        temperature: float or `None`. Distillation temperature of ONE, KD
            and DML; `None` takes the method's default (3, 3, 1).
        kl_rampup_epochs: int or `None`. ONE's KL ramp-up epochs (0: off);
            `None` takes the recipe's.
        strategy: str. `"auto"`, `"one_device"`, `"mirrored"`,
            `"multi_worker"` or `"tpu"`.
        tpu: str. TPU name or address for `strategy="tpu"` ("" = the
            resolver's default, `"local"` on a TPU VM).
        mixed_precision: bool. `mixed_float16` on GPU, `mixed_bfloat16` on
            TPU and CPU.
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
    model: str = "resnet"
    depth: int = 14
    block: str = None
    width: int = 16
    num_branches: int = 3
    gate: str = "learned"
    no_distillation: bool = False
    no_sharing: bool = False
    teacher: str = ""
    alpha: float = 0.9
    num_peers: int = 2
    num_snapshots: int = 5
    recipe: str = "paper"
    epochs: int = 30
    batch_size: int = 64
    eval_batch_size: int = 256
    steps_per_epoch: int = 0
    eval_steps: int = 0
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = None
    weight_decay: float = 1e-4
    temperature: float = None
    kl_rampup_epochs: int = None
    strategy: str = "auto"
    tpu: str = ""
    mixed_precision: bool = False
    sync_bn: bool = False
    seed: int = 0
    deterministic: bool = False
    output_dir: str = "runs/digits"
    restart: bool = False
    verbose: int | str = "auto"

    def __post_init__(self):
        for name in FLOAT_FIELDS:  # inf or NaN: every loss is NaN.
            validation.check_finite(name, getattr(self, name))
        validation.check_int_at_least("epochs", self.epochs, 1)
        validation.check_int_at_least("batch_size", self.batch_size, 1)
        validation.check_int_at_least("eval_batch_size",
                                      self.eval_batch_size, 1)
        validation.check_int_at_least("steps_per_epoch",
                                      self.steps_per_epoch, 0)
        validation.check_int_at_least("eval_steps", self.eval_steps, 0)
        validation.check_int_at_least("image_size", self.image_size, 0)
        validation.check_positive("lr", self.lr)
        validation.check_non_negative("momentum", self.momentum)
        validation.check_choice("model", self.model, MODELS)
        validation.check_choice("augment", self.augment,
                                data_lib.AUGMENTATIONS)
        validation.check_choice("method", self.method, methods_lib.METHODS)
        if self.method == "kd" and not self.teacher:
            raise ValueError(
                "`teacher` must name a trained `.keras` model for method "
                "'kd' (e.g. a target.keras of a bigger network). Received: "
                "teacher=''")
        if self.method == "snapshot" and self.num_snapshots > self.epochs:
            raise ValueError(
                "`num_snapshots` must be <= `epochs` for method 'snapshot' "
                "(a snapshot is taken at an epoch's end): lower "
                "--num_snapshots or raise --epochs. Received: "
                f"num_snapshots={self.num_snapshots}, epochs={self.epochs}")
        validation.check_choice("recipe", self.recipe, RECIPES)
        if self.skip_bad_images and self.dataset != "image_folder":
            raise ValueError(
                "`skip_bad_images` applies to dataset 'image_folder' only. "
                f"Received: skip_bad_images=True, dataset={self.dataset!r}")
        self._check_method_options()
        self._fill_unset_options()
        validation.check_choice("strategy", self.strategy, STRATEGIES)
        validation.check_choice("verbose", self.verbose, VERBOSITIES)

    def _check_method_options(self):
        """Refuses an option the method ignores (`METHOD_OPTIONS`); given
        means differing from the field's default."""
        fields = self.__dataclass_fields__
        given = {name: getattr(self, name)
                 for name in methods_lib.METHOD_OPTIONS
                 if getattr(self, name) != fields[name].default}
        methods_lib.check_method_options(self.method, given)

    def _fill_unset_options(self):
        """Gives the options left `None` the recipe's or method's value."""
        values = recipes.recipe_defaults(self.recipe, self.method,
                                         self.model, self.depth)
        temperature = methods_lib.DEFAULT_TEMPERATURE.get(self.method)
        if temperature is not None:
            values["temperature"] = temperature
        for name, value in values.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)


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

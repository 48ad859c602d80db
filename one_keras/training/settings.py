"""The settings of a training run, each declared once.

A `Setting` holds a setting's name, type, default, help and bounds or
choices, as `option(default, help, **bounds)` does for a method's options
(`one_keras.methods.method`). `TrainConfig`'s fields, docstring and checks
(`one_keras.training.train_config`), the training command's flags and
`--help` (`one_keras.cli.train`) and the settings table of
docs/training.md (`markdown_table`) are all made from `SETTINGS`.

This module imports neither Keras nor TensorFlow: the choices that are
registries' names (datasets, methods, backbones) are read from the
registries' source (`one_keras.training.registry_source`) when asked for.
"""

import dataclasses
from typing import Optional

from one_keras.training import registry_source
from one_keras.utils import module_source


class _FromRecipe:
    """The value of a setting left unset (`None`) that the recipe fills."""

    def __repr__(self):
        return "the recipe's"


FROM_RECIPE = _FromRecipe()
# A setting's type -> the Python type of its values (`TrainConfig`'s
# annotations).
TYPES = {"str": str, "path": str, "bool": bool, "int": int,
         "float": float, "verbosity": object}


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting of a training run.

    Attributes:
        name: str. The `TrainConfig` field and the flag (`--name`).
        type: str. `"str"`, `"path"` (a str; an `os.PathLike` is kept as
            its str), `"bool"`, `"int"`, `"float"` or `"verbosity"`
            (`"auto"` or an int of `choices`).
        default: The default; `None`: unset, then `unset`.
        help: str. One or two sentences: the flag's help and the docs.
        choices: tuple, callable or `None`. The allowed values, or a
            function returning them (a registry's names, read from its
            source).
        lower_bound: number or `None`. The smallest allowed value.
        greater_than: number or `None`. Values must be greater.
        allow_empty: bool. Whether `""` is allowed (str and path).
        unset: What a `None` value stands for: a value, or `FROM_RECIPE`.
        architecture: bool. A backbone's architecture option: set only for
            a backbone whose `Backbone.options` lists it.
    """

    name: str
    type: str
    default: object
    help: str
    choices: object = None
    lower_bound: Optional[float] = None
    greater_than: Optional[float] = None
    allow_empty: bool = True
    unset: object = None
    architecture: bool = False

    def allowed(self):
        """The allowed values (`None`: any of its type)."""
        return self.choices() if callable(self.choices) else self.choices

    def default_text(self):
        """The default as the docs and `--help` say it."""
        if self.default is None and self.unset is not None:
            return repr(self.unset) if self.unset is FROM_RECIPE else \
                str(self.unset)
        return "''" if self.default == "" else str(self.default)

    def check(self, value, choices=None):
        """Raises a one-line `ValueError` naming the setting and what it
        must be, unless `value` is of its type and within its bounds or
        choices.

        Args:
            value: The value to check.
            choices: sequence or `None`. Choices to check against instead
                of `allowed()` (the imported registry's names).
        """
        from one_keras.utils import validation  # Imports NumPy.
        name = self.name
        if value is None and self.default is None:
            return
        if self.type == "bool":
            validation.check_bool(name, value,
                                  allow_none=self.default is None)
        elif self.type in ("str", "path"):
            validation.check_str(name, value, allow_empty=self.allow_empty)
        elif self.type == "int":
            if self.lower_bound is None:
                validation.check_int(name, value)
            else:
                validation.check_int_at_least(name, value, self.lower_bound)
        elif self.type == "float":
            validation.check_number(name, value)  # Finite, too.
            if self.greater_than == 0:
                validation.check_positive(name, value)
            elif self.lower_bound == 0:
                validation.check_non_negative(name, value)
        choices = self.allowed() if choices is None else choices
        if choices is not None:
            validation.check_choice(name, value, choices)


def _literal(module, name):
    """A function returning the literal `name` of `module`, read from its
    source."""
    return lambda: tuple(module_source.literal(module, name))


SETTINGS = (
    Setting("dataset", "str", "digits", "Dataset to train on.",
            choices=registry_source.dataset_names),
    Setting("data_dir", "path", "",
            "tensorflow-datasets directory ('': ~/tensorflow_datasets), "
            "or the image folder (train/<class>/*, test/<class>/*) of "
            "--dataset=image_folder."),
    Setting("download", "bool", False,
            "Download and prepare a missing tfds dataset."),
    Setting("image_size", "int", 0,
            "Input side for imagenet2012 and image_folder (0: the "
            "dataset's default, 224 and 64).", lower_bound=0),
    Setting("augment", "str", "auto",
            "Training augmentation. auto: the paper's recipe for the tfds "
            "datasets; for image_folder pad-4 crop + flip up to 64 px, "
            "random resized crop + flip above.",
            choices=_literal("one_keras.data.augmentation", "AUGMENTATIONS")),
    Setting("skip_bad_images", "bool", False,
            "--dataset=image_folder only: leave out files that cannot be "
            "decoded (named in a warning) instead of refusing the folder."),
    Setting("method", "str", "one",
            "Training method (its options are flags of their own; "
            "docs/methods.md).", choices=registry_source.method_names),
    Setting("backbone", "str", "resnet",
            "Backbone (resnet: the CIFAR ResNet; docs/zoo.md).",
            choices=registry_source.backbone_names),
    Setting("depth", "int", None, "ResNet depth, 6n+2.", unset=14,
            architecture=True),
    Setting("block", "str", None,
            "ResNet block type (the recipe's: basic, or bottleneck from "
            "depth 44 with --recipe=code).",
            choices=_literal("one_keras.models.resnet_cifar", "BLOCKS"),
            unset=FROM_RECIPE, architecture=True),
    Setting("width", "int", None, "ResNet stem width.", lower_bound=1,
            unset=16, architecture=True),
    Setting("recipe", "str", "paper",
            "paper, or code: the authors' code's recipe (no Nesterov, KL "
            "ramp-up 80 epochs, bottleneck blocks from depth 44) for the "
            "settings left unset; recorded in the report.",
            choices=_literal("one_keras.methods.recipes", "RECIPES")),
    Setting("epochs", "int", 30, "Training epochs.", lower_bound=1),
    Setting("batch_size", "int", 64, "Global training batch size.",
            lower_bound=1),
    Setting("eval_batch_size", "int", 256, "Test batch size.",
            lower_bound=1),
    Setting("steps_per_epoch", "int", 0,
            "Batches per epoch (0: one pass over the training split).",
            lower_bound=0),
    Setting("eval_steps", "int", 0,
            "Test batches to evaluate (0: the whole split).", lower_bound=0),
    Setting("lr", "float", 0.1,
            "Initial learning rate (x0.1 at 50% and 75% of training).",
            greater_than=0),
    Setting("momentum", "float", 0.9, "SGD momentum.", lower_bound=0),
    Setting("nesterov", "bool", None,
            "Nesterov momentum (the recipe's: paper yes, code no).",
            unset=FROM_RECIPE),
    Setting("weight_decay", "float",
            module_source.literal("one_keras.methods.method_model",
                                  "WEIGHT_DECAY"),
            "Coupled L2 weight decay (PyTorch SGD style).", lower_bound=0),
    Setting("strategy", "str", "auto",
            "auto: all local GPUs if more than one; multi_worker reads "
            "TF_CONFIG; tpu connects to --tpu; data_parallel: JAX's.",
            choices=_literal("one_keras.utils.backends", "ALL_STRATEGIES")),
    Setting("tpu", "str", "",
            "TPU name or address for --strategy=tpu ('': the resolver's "
            "default, local on a TPU VM)."),
    Setting("mixed_precision", "bool", False,
            "Alias of --dtype_policy: the device's mixed policy, "
            "mixed_float16 on GPU, mixed_bfloat16 on TPU and CPU (only "
            "with --dtype_policy at its default)."),
    Setting("dtype_policy", "str",
            module_source.literal("one_keras.training.precision",
                                  "DEFAULT_DTYPE_POLICY"),
            "Keras dtype policy to train under. auto: mixed_bfloat16 where "
            "the hardware computes bfloat16 (CPU flag avx512_bf16 or "
            "amx_bf16, TPU, GPU of compute capability >= 8.0), else "
            "float32. bfloat16: 1.5x faster on a CPU with avx512_bf16, no "
            "accuracy loss measured (ResNet-20, 2 seeds: docs/results.md); "
            "emulated without bf16 units, ~8x slower than float32 on "
            "TensorFlow, not on JAX (docs/performance.md). Recorded in "
            "the run; a resume keeps it.",
            choices=_literal("one_keras.training.precision",
                             "DTYPE_POLICIES")),
    Setting("sync_bn", "bool", False,
            "BatchNorm over the global batch of all replicas (GPUs, "
            "workers), as on one device; off: each replica's own slice."),
    Setting("seed", "int", 0, "Random seed.", lower_bound=0),
    Setting("deterministic", "bool", False,
            "Deterministic ops and input order (slower)."),
    Setting("output_dir", "path", "runs/digits",
            "Directory for checkpoints, logs, model.keras, target.keras and "
            "report.json. Rerunning the same command resumes an unfinished "
            "run there.", allow_empty=False),
    Setting("restart", "bool", False,
            "Train from epoch 0 in --output_dir, deleting the run there "
            "(backup/, checkpoint, log, report, models). Without it, a run "
            "there that cannot be resumed with these settings is refused."),
    Setting("verbose", "verbosity", "auto",
            "auto: a progress bar on a terminal, one line per epoch "
            "otherwise (a log file); 0: silent; 1: progress bar; 2: one "
            "line per epoch.", choices=("auto", 0, 1, 2)),
)
BY_NAME = {setting.name: setting for setting in SETTINGS}
# The backbones' architecture options (`Backbone.options` names them).
ARCHITECTURE_OPTIONS = tuple(s.name for s in SETTINGS if s.architecture)


def backbones_taking(name):
    """`--backbone=resnet`: the backbones whose `Backbone.options` list the
    architecture option `name`, as a flag (read from their source)."""
    users = [backbone for backbone, options in
             registry_source.backbone_options().items() if name in options]
    return f"--backbone={'/'.join(users)}"


def docstring():
    """`TrainConfig`'s `Attributes:` section, one entry per setting.

    Returns:
        str, indented for a class docstring.
    """
    lines = ["", "    Attributes:"]
    for setting in SETTINGS:
        text = f"{setting.name}: {setting.type}. {setting.help}"
        if setting.default is None:
            text += f" `None`: {setting.default_text()}."
        lines.append("        " + text)
    lines.append("        options: dict. The method's options that were "
                 "set, by name (e.g. `{'num_branches': 4}` for ONE); the "
                 "others take the recipe's value or the method's default.")
    return "\n".join(lines) + "\n"


def markdown_table():
    """The settings table of docs/training.md: flag, default, values, help.

    Returns:
        str, a Markdown table ending in a newline.
    """
    rows = ["| flag | default | values | what it sets |",
            "|---|---|---|---|"]
    for setting in SETTINGS:
        choices = setting.allowed()
        if choices is not None:
            values = ", ".join(f"`{c}`" for c in choices)
        elif setting.lower_bound is not None:
            values = f"{setting.type} >= {setting.lower_bound:g}"
        elif setting.greater_than is not None:
            values = f"{setting.type} > {setting.greater_than:g}"
        else:
            values = setting.type
        help_text = setting.help.replace("|", "\\|")
        if setting.architecture:
            help_text = f"{backbones_taking(setting.name)} only: {help_text}"
        rows.append(f"| `--{setting.name}` | `{setting.default_text()}` | "
                    f"{values} | {help_text} |")
    return "\n".join(rows) + "\n"

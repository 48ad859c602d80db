"""Trains a ONE model: `python -m one_keras.train --flagfile configs/X.flags`
(installed: `one-train --config=X`).

With no flags it trains 3-branch ONE on the offline 8x8 digits and prints
the accuracy of each branch, the target (branch 0) and the teacher (ONE-E).
"""

import sys
import types

from absl import flags

from one_keras.cli import console
from one_keras.cli import flag_catalog
from one_keras.cli import flagfiles


def _define_flags():
    # From the registries through `flag_catalog` (no TensorFlow to start).
    catalog = flag_catalog.load()
    choices = catalog["choices"]
    # The fields' own defaults: `None` leaves an option to the recipe or
    # the method (see `TrainConfig`).
    defaults = types.SimpleNamespace(**catalog["defaults"])
    flags.DEFINE_enum("dataset", defaults.dataset, choices["dataset"],
                      "Dataset to train on.")
    flags.DEFINE_string("data_dir", defaults.data_dir,
                        "tensorflow-datasets directory (default "
                        "~/tensorflow_datasets), or the image folder "
                        "(train/<class>/*, test/<class>/*) for "
                        "--dataset=image_folder.")
    flags.DEFINE_bool("skip_bad_images", defaults.skip_bad_images,
                      "--dataset=image_folder: leave out files that cannot "
                      "be decoded (named in a warning) instead of refusing "
                      "the folder.")
    flags.DEFINE_bool("download", defaults.download,
                      "Download and prepare a missing tfds dataset.")
    flags.DEFINE_integer("image_size", defaults.image_size,
                         "Input side for imagenet2012 and image_folder (0: "
                         "the dataset's default, 224 and 64).", lower_bound=0)
    flags.DEFINE_enum("augment", defaults.augment, choices["augment"],
                      "Training augmentation. auto: the paper's recipe for "
                      "the tfds datasets; for image_folder pad-4 crop + "
                      "flip up to 64 px, random resized crop + flip above.")
    flags.DEFINE_enum("method", defaults.method, choices["method"],
                      "Training method: " + "; ".join(
                          f"{name}: {summary}"
                          for name, summary in catalog["methods"]) + ".")
    _define_method_option_flags(catalog["options"])
    flags.DEFINE_enum("model", defaults.model, choices["model"],
                      "Backbone.")
    # The backbones' architecture options: refused for a backbone that
    # does not take them (`one_keras.models.architecture_options`).
    flags.DEFINE_integer("depth", defaults.depth, "--model=resnet only: "
                         "ResNet depth, 6n+2 (default: 14).")
    flags.DEFINE_enum("block", defaults.block, ["basic", "bottleneck"],
                      "--model=resnet only: ResNet block type (default: the "
                      "recipe's; basic, or bottleneck from depth 44 with "
                      "--recipe=code).")
    flags.DEFINE_integer("width", defaults.width, "--model=resnet only: "
                         "ResNet stem width (default: 16).", lower_bound=1)
    flags.DEFINE_enum("recipe", defaults.recipe, choices["recipe"],
                      "paper, or code: the authors' code's recipe (no "
                      "Nesterov, KL ramp-up 80 epochs, bottleneck blocks "
                      "from depth 44) for the flags not given; recorded in "
                      "the report.")
    flags.DEFINE_integer("epochs", defaults.epochs, "Training epochs.",
                         lower_bound=1)
    flags.DEFINE_integer("batch_size", defaults.batch_size,
                         "Global batch size.", lower_bound=1)
    flags.DEFINE_integer("eval_batch_size", defaults.eval_batch_size,
                         "Test batch size.", lower_bound=1)
    flags.DEFINE_integer("steps_per_epoch", defaults.steps_per_epoch,
                         "Batches per epoch (0: one pass over the data).",
                         lower_bound=0)
    flags.DEFINE_integer("eval_steps", defaults.eval_steps,
                         "Test batches to evaluate (0: all).", lower_bound=0)
    flags.DEFINE_float("lr", defaults.lr, "Initial learning rate.",
                       lower_bound=0.0)
    flags.DEFINE_float("momentum", defaults.momentum, "SGD momentum.",
                       lower_bound=0.0)
    flags.DEFINE_bool("nesterov", defaults.nesterov, "Nesterov momentum "
                      "(default: the recipe's; paper yes, code no).")
    flags.DEFINE_float("weight_decay", defaults.weight_decay,
                       "Coupled L2 weight decay (PyTorch SGD style).",
                       lower_bound=0.0)
    flags.DEFINE_enum("strategy", defaults.strategy, choices["strategy"],
                      "auto: all local GPUs if more than one; multi_worker "
                      "reads TF_CONFIG; tpu connects to --tpu.")
    flags.DEFINE_string("tpu", defaults.tpu,
                        "TPU name or address for --strategy=tpu.")
    flags.DEFINE_enum(
        "dtype_policy", defaults.dtype_policy, choices["dtype_policy"],
        "Keras dtype policy to train under. auto: mixed_bfloat16 where the "
        "hardware computes bfloat16 (CPU flag avx512_bf16 or amx_bf16, TPU, "
        "GPU of compute capability >= 8.0), else float32. Measured on an "
        "AMD EPYC without AVX-512 (2026-12-07): mixed_bfloat16 trains ~8x "
        "slower than float32; its accuracy cost is not measured yet "
        "(docs/performance.md). Recorded in the run; a resume keeps it.")
    flags.DEFINE_bool("mixed_precision", defaults.mixed_precision,
                      "Alias of --dtype_policy: the device's mixed policy, "
                      "mixed_float16 on GPU, mixed_bfloat16 on TPU/CPU.")
    flags.DEFINE_bool("sync_bn", defaults.sync_bn,
                      "BatchNorm over the global batch of all replicas "
                      "(GPUs, workers), as on one device; default: each "
                      "replica's own slice.")
    flags.DEFINE_integer("seed", defaults.seed, "Random seed.")
    flags.DEFINE_bool("deterministic", defaults.deterministic,
                      "Deterministic ops and input order (slower).")
    flags.DEFINE_string("output_dir", defaults.output_dir,
                        "Directory for checkpoints, logs, model.keras, "
                        "target.keras and report.json. Rerunning the same "
                        "command resumes an unfinished run there.")
    flags.DEFINE_bool("restart", defaults.restart,
                      "Train from epoch 0 in --output_dir, deleting the run "
                      "there (backup/, checkpoint, log, report, models). "
                      "Without it, a run there that cannot be resumed with "
                      "these flags is refused. Drop it to resume later.")
    flags.DEFINE(_VerbosityParser(), "verbose", defaults.verbose,
                 "auto: a progress bar on a terminal, one line per epoch "
                 "otherwise (a log file); 0: silent; 1: progress bar; 2: one "
                 "line per epoch.")
    flags.DEFINE_string(
        "config", None, "A flagfile shipped with one_keras, by name: "
        + ", ".join(flagfiles.config_names()) + ". Read where it stands "
        "(flags after it override it), like --flagfile=configs/NAME.flags "
        "in a clone. Command line only.")


_DEFINERS = {"bool": flags.DEFINE_bool, "int": flags.DEFINE_integer,
             "float": flags.DEFINE_float, "str": flags.DEFINE_string}


def _define_method_option_flags(options):
    """One flag per option of the methods' options dataclasses.

    Args:
        options: list of dict. The catalog's `options` (see
            `one_keras.cli.flag_catalog.build`): a flag's default is `None`
            (not given: the method's default).
    """
    for option in options:
        if "choices" in option:
            flags.DEFINE_enum(option["name"], None, option["choices"],
                              option["help"])
            continue
        bounds = {key: option[key] for key in ("lower_bound", "upper_bound")
                  if key in option}
        _DEFINERS[option["type"]](option["name"], None, option["help"],
                                  **bounds)


class _VerbosityParser(flags.ArgumentParser):
    """Parses `--verbose`: `auto`, 0, 1 or 2 (`TrainConfig.verbose`)."""

    def parse(self, argument):
        if argument in ("auto", 0, 1, 2):
            return argument
        if argument in ("0", "1", "2"):
            return int(argument)
        raise ValueError(f"must be auto, 0, 1 or 2, not {argument!r}")

    def flag_type(self):
        return "auto, 0, 1 or 2"


_define_flags()
FLAGS = flags.FLAGS


def config_from_flags(flag_values=FLAGS):
    """The frozen `TrainConfig` that parsed flags describe: the method's
    options are those given (on the command line or in a flagfile)."""
    from one_keras import methods
    from one_keras.training import experiment
    fields = experiment.TrainConfig.__dataclass_fields__
    options = {name: flag_values[name].value
               for name in methods.option_users(methods.REGISTRY)
               if flag_values[name].present}
    return experiment.TrainConfig(
        **{name: flag_values[name].value for name in fields
           if name != "options"}, options=options)


def parse_flags(argv):
    """`console.parse_flags` after `--config=NAME` became the shipped flagfile's
    `--flagfile=PATH` (`one_keras.cli.flagfiles.expand_config`)."""
    try:
        argv = flagfiles.expand_config(argv)
    except ValueError as error:
        console.fail(error)
    return console.parse_flags(argv)


def main(argv):
    del argv  # console.parse_flags refuses positional arguments.
    from one_keras.reports import run_report
    from one_keras.training import experiment
    flag_catalog.check_current()
    if FLAGS.config is not None:
        raise ValueError("`config` is read on the command line only (write "
                         "--flagfile=PATH in a flagfile). Received: "
                         f"config={FLAGS.config!r}")
    config = config_from_flags()
    try:
        report = experiment.run(config)
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback.
        print(interrupted_line(config), file=sys.stderr)
        sys.exit(130)  # 128 + SIGINT, as a shell reports it.
    print(run_report.format_report(report))
    print(f"artifacts written to {config.output_dir}")


def interrupted_line(config):
    """The line a run stopped by Ctrl-C prints: how to resume it."""
    from one_keras.runs import RunDirectory
    states = RunDirectory(config.output_dir).backup_states()
    since = (f"after epoch {states[0][0]} of {config.epochs}" if states
             else "epoch 0 (no epoch had finished)")
    command = ("the same command without --restart" if config.restart
               else "the same command")
    return (f"{console.program_name()}: interrupted: rerun {command} to resume "
            f"from the last backup, {since}, in {config.output_dir}")


def console_main():
    """The `one-train` console script."""
    console.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    console_main()

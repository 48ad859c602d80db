"""Trains a ONE model: `python -m one_keras.train --flagfile configs/X.flags`
(installed: `one-train --config=X`).

With no flags it trains 3-branch ONE on the offline 8x8 digits and prints
the accuracy of each branch, the target (branch 0) and the teacher (ONE-E).
"""

import sys

from absl import flags

from one_keras.cli import console
from one_keras.cli import flagfiles
from one_keras.training import registry_source
from one_keras.training import settings


def _define_flags():
    """One flag per training setting (`one_keras.training.settings`) and
    per method option, read from the registries' source: no Keras to
    start, nothing generated to keep fresh."""
    methods = registry_source.methods()
    for setting in settings.SETTINGS:
        help_text = setting.help
        if setting.default is None and setting.unset is not None:
            help_text += f" Default: {setting.default_text()}."
        if setting.name == "method":
            help_text += " " + "; ".join(
                f"{m.name}: {m.summary}" for m in methods) + "."
        if setting.architecture:
            help_text = (f"{settings.backbones_taking(setting.name)} only: "
                         f"{help_text}")
        _define_setting_flag(setting, help_text)
    _define_method_option_flags(methods)
    flags.DEFINE_enum(
        "model", None, list(settings.BY_NAME["backbone"].allowed()),
        "Deprecated alias of --backbone, kept for older flagfiles (--model "
        "names a saved model in evaluate, predict, export and flatness).")
    flags.DEFINE_string(
        "config", None, "A flagfile shipped with one_keras, by name: "
        + ", ".join(flagfiles.config_names()) + ". Read where it stands "
        "(flags after it override it), like --flagfile=configs/NAME.flags "
        "in a clone. Command line only.")


def _define_setting_flag(setting, help_text):
    """The flag of a `settings.Setting`."""
    if setting.type == "verbosity":
        flags.DEFINE(_VerbosityParser(), setting.name, setting.default,
                     help_text)
    elif setting.allowed() is not None:
        flags.DEFINE_enum(setting.name, setting.default,
                          list(setting.allowed()), help_text)
    else:
        bound = setting.lower_bound if setting.lower_bound is not None \
            else setting.greater_than
        bounds = {} if bound is None else {"lower_bound": bound}
        definer = {"str": flags.DEFINE_string, "path": flags.DEFINE_string,
                   "bool": flags.DEFINE_bool, "int": flags.DEFINE_integer,
                   "float": flags.DEFINE_float}[setting.type]
        if setting.type == "float" and bounds:
            bounds["lower_bound"] = float(bound)
        definer(setting.name, setting.default, help_text, **bounds)


_DEFINERS = {"bool": flags.DEFINE_bool, "int": flags.DEFINE_integer,
             "float": flags.DEFINE_float, "str": flags.DEFINE_string}


def _define_method_option_flags(methods):
    """One flag per option of the methods' options dataclasses.

    A flag's default is `None` (not given: the method's default); its help
    names the methods that use it and their defaults.

    Args:
        methods: tuple of `registry_source.MethodDeclaration`.
    """
    users = {}
    for method in methods:
        for option in method.options:
            users.setdefault(option.name, []).append((method.name, option))
    for name, declared in users.items():
        option = declared[0][1]
        defaults = ", ".join(f"{method} {o.default!r}"
                             for method, o in declared
                             if o.default is not None)
        help_text = (f"method={'/'.join(m for m, _ in declared)}: "
                     f"{option.help}"
                     + (f" (default: {defaults})" if defaults else ""))
        if "choices" in option.bounds:
            flags.DEFINE_enum(name, None, list(option.bounds["choices"]),
                              help_text)
            continue
        bounds = {}
        if option.type in ("int", "float"):
            for key, pick in (("lower_bound", min), ("upper_bound", max)):
                values = [o.bounds.get(key) for _, o in declared]
                if None not in values:
                    bounds[key] = pick(values)
            above = [o.bounds.get("greater_than") for _, o in declared]
            if None not in above:  # Checked by `TrainConfig`; said here.
                help_text += f" A number > {min(above):g}."
        _DEFINERS[option.type](name, None, help_text, **bounds)


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
    options = {name: flag_values[name].value
               for name in methods.option_users(methods.REGISTRY)
               if flag_values[name].present}
    values = {setting.name: flag_values[setting.name].value
              for setting in settings.SETTINGS}
    values["backbone"] = backbone_from_flags(flag_values)
    return experiment.TrainConfig(**values, options=options)


def backbone_from_flags(flag_values=FLAGS):
    """`--backbone`, or the deprecated `--model` (with a one-line warning
    on stderr).

    Raises:
        ValueError: both are given, with two values.
    """
    backbone, model = flag_values["backbone"], flag_values["model"]
    if not model.present:
        return backbone.value
    if backbone.present and backbone.value != model.value:
        raise ValueError(
            "`model` is the deprecated name of `backbone`; give --backbone "
            f"only. Received: backbone={backbone.value!r}, "
            f"model={model.value!r}")
    print(f"{console.program_name()}: warning: --model is deprecated in "
          f"training; write --backbone={model.value} (--model names a saved "
          "model in the other commands)", file=sys.stderr)
    return model.value


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

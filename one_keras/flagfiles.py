"""The paper's flagfiles, shipped in the package (`one_keras/configs/`;
`configs/` in a clone), named by `--config=NAME` on the training command.

`one-train --config=svhn --epochs=5` is `one-train
--flagfile=<package>/configs/svhn.flags --epochs=5`: the flagfile's flags
are read where `--config` stands, so flags after it override it.
"""

import os

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "configs")
SUFFIX = ".flags"


def config_names():
    """The names of the shipped flagfiles (`svhn`, `digits`, ...), sorted."""
    return sorted(name[:-len(SUFFIX)] for name in os.listdir(CONFIG_DIR)
                  if name.endswith(SUFFIX))


def config_path(name):
    """The path of the shipped flagfile `name`.

    Args:
        name: str. A name of `config_names()`, e.g. `"cifar10_resnet32"`
            (the file name without `.flags` is accepted too).

    Returns:
        str. The flagfile's absolute path.

    Raises:
        ValueError: no shipped flagfile has that name.
    """
    stem = name[:-len(SUFFIX)] if name.endswith(SUFFIX) else name
    if stem not in config_names():
        raise ValueError(f"`config` must be one of {', '.join(config_names())}"
                         f" (the flagfiles in {CONFIG_DIR}). Received: "
                         f"config={name!r}")
    return os.path.join(CONFIG_DIR, stem + SUFFIX)


def expand_config(argv):
    """Replaces every `--config=NAME` (or `--config NAME`) in a command
    line by `--flagfile=PATH` of the shipped flagfile.

    Args:
        argv: list of str. The command line, program name first.

    Returns:
        A new list of str.

    Raises:
        ValueError: an unknown name, or `--config` without one.
    """
    expanded = []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            expanded.append(arg)
            expanded.extend(args)
            break
        if arg in ("--config", "-config"):
            name = next(args, None)
            if name is None:
                raise ValueError("`config` must name a shipped flagfile: "
                                 f"{', '.join(config_names())}. Received: "
                                 "--config with no name")
        elif arg.startswith(("--config=", "-config=")):
            name = arg.split("=", 1)[1]
        else:
            expanded.append(arg)
            continue
        expanded.append(f"--flagfile={config_path(name)}")
    return expanded

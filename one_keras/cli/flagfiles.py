"""The paper's flagfiles, shipped in the package (`one_keras/configs/`;
`configs/` in a clone), named by `--config=NAME` on the training command.

`one-train --config=svhn --epochs=5` is `one-train
--flagfile=<package>/configs/svhn.flags --epochs=5`: the flagfile's flags
are read where `--config` stands, so flags after it override it.
"""

import os
import stat


CONFIG_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
SUFFIX = ".flags"
# The largest flagfile read: the shipped ones are under 2 kB.
MAX_FLAGFILE_BYTES = 1 << 20
_DIRECTIVES = ("--flagfile", "-flagfile")


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


def check_flagfiles(argv):
    """Refuses a `--flagfile` that is not a small regular text file, and
    so every flagfile it names in turn, before absl reads them (absl reads
    a whole file into memory: `/dev/zero` never ends).

    Args:
        argv: list of str. The command line, program name first.

    Raises:
        ValueError: a flagfile is a device, pipe or folder, larger than
            `MAX_FLAGFILE_BYTES`, or not text. A missing one is left to
            absl, which names it.
    """
    for path in _directive_paths(argv[1:]):
        _check_flagfile(path, [])


def _directive_paths(args):
    """The files that the `--flagfile` directives among `args` name."""
    args = iter(args)
    for arg in args:
        if arg == "--":
            return
        if arg in _DIRECTIVES:
            path = next(args, "")
        elif arg.startswith(tuple(d + "=" for d in _DIRECTIVES)):
            path = arg.split("=", 1)[1]
        else:
            continue
        if path.strip():  # absl ignores an empty one.
            yield os.path.expanduser(path.strip())


def _check_flagfile(path, stack):
    if path in stack:  # absl warns of the loop and skips it.
        return
    try:
        status = os.stat(path)
    except OSError:
        return  # absl: "Unable to open flagfile: ...", one line.
    problem = None
    if not stat.S_ISREG(status.st_mode):
        problem = "is not a regular file (a device, pipe or folder)"
    elif status.st_size > MAX_FLAGFILE_BYTES:
        problem = (f"holds {status.st_size} bytes, more than a flagfile's "
                   f"{MAX_FLAGFILE_BYTES}")
    else:
        try:
            with open(path, "rb") as handle:
                text = handle.read(MAX_FLAGFILE_BYTES + 1)
            if b"\0" in text:
                raise UnicodeDecodeError("utf-8", text, 0, 1, "NUL byte")
            lines = text.decode("utf-8").splitlines()
        except UnicodeDecodeError:
            problem = "is not a text file"
        except OSError as error:
            problem = f"cannot be read ({error.strerror})"
    if problem:
        raise ValueError(
            f"`flagfile` must be a text file of flags (one --name=value a "
            f"line); {path} {problem}. Pass such a file. Received: "
            f"--flagfile={path}")
    nested = [line.strip() for line in lines
              if line.strip().startswith(tuple(d + "=" for d in _DIRECTIVES))]
    for inner in _directive_paths(nested):
        _check_flagfile(inner, stack + [path])

"""Loading a command line tool's module into the test process, and
running its `main` there."""

import contextlib
import importlib.util
import pathlib
import re

from absl import flags
from absl.testing import flagsaver


@contextlib.contextmanager
def loaded_tool(path, name):
    """Executes the tool at `path` as module `name`, for its `main`.

    Other tools loaded in this process may define flags of the same names
    (`--output`, `--dataset`) in absl's global FLAGS: theirs are set aside
    while the block runs and put back afterwards, and the tool's removed.

    Args:
        path: str or path. The tool's `.py` file.
        name: str. The module name to give it.

    Yields:
        The module, its flags marked as parsed.
    """
    before = set(flags.FLAGS)
    saved = {}
    while True:
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            break
        except flags.DuplicateFlagError as error:
            flag = re.search(r"flag '([^']+)'", str(error)).group(1)
            saved.setdefault(flag, flags.FLAGS[flag])
            delattr(flags.FLAGS, flag)
    flags.FLAGS.mark_as_parsed()
    try:
        yield module
    finally:
        for flag in set(flags.FLAGS) - (before - saved.keys()):
            delattr(flags.FLAGS, flag)
        for flag, value in saved.items():
            flags.FLAGS[flag] = value


def run_main(module, **flag_values):
    """Runs a loaded tool's `main` through `console.run`, `flag_values` set.

    Args:
        module: the tool's module (its `console` and `main`).
        **flag_values: flag name -> value (paths become strings).

    Returns:
        int. The exit code (`app.run` exits; 0 as `None`).
    """
    flag_values = {k: (str(v) if isinstance(v, pathlib.PurePath) else v)
                   for k, v in flag_values.items()}
    with flagsaver.flagsaver(**flag_values):
        try:
            module.console.run(module.main)
        except SystemExit as exit_info:
            return exit_info.code or 0
    return 0

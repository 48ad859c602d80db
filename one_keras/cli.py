"""What every command line tool shares: one-line errors and exit codes.

A failing tool prints one line, `prog: error: ...`, on stderr and exits
with status 1: a bad flag, a stray argument, an unusable value, an OS error
(a read-only directory, an output under a file), a feature the install
lacks (`BackendError`). `--help` exits 0. Ctrl-C (SIGINT) ends a tool with
`prog: interrupted` and status 130, SIGTERM with `prog: terminated` and
status 143, each after the tool's `finally` blocks have run (its
temporaries removed, its child processes killed).
"""

import os
import signal
import sys

from absl import app
from absl import flags

from one_keras.backends import BackendError
from one_keras.data import DatasetNotFoundError

# Errors that mean bad input, reported in one line (never a traceback).
USER_ERRORS = (ValueError, OSError, DatasetNotFoundError, FloatingPointError,
               BackendError)


def program_name():
    """The running tool's file name, e.g. `train.py`."""
    return os.path.basename(sys.argv[0]) or "one_keras"


def fail(message):
    """Prints `prog: error: message` (on one line) and exits with 1."""
    message = " ".join(str(message).split())
    print(f"{program_name()}: error: {message}", file=sys.stderr)
    sys.exit(1)


def parse_flags(argv):
    """absl's `flags_parser` for `app.run`, with one-line errors.

    Args:
        argv: list of str. The command line, program name first.

    Returns:
        `[program name]`: tools take flags only.
    """
    try:
        rest = flags.FLAGS(argv)
    except flags.Error as error:
        fail(f"{error} (see --helpshort)")
    except SystemExit:  # absl's --help/--helpfull print usage, then exit 1.
        sys.exit(0)
    if len(rest) > 1:
        fail(f"unexpected argument {rest[1]!r}: this tool takes flags only, "
             "written --name=value (see --helpshort)")
    return rest


class Terminated(SystemExit):
    """Raised in the main thread when the tool receives SIGTERM."""


def _terminate(signum, frame):
    del signum, frame
    raise Terminated(128 + signal.SIGTERM)


def guarded(main):
    """`main` ending in one line: `prog: error: ...` and status 1 for
    `app.UsageError` and `USER_ERRORS`, `prog: interrupted` and status 130
    for Ctrl-C, `prog: terminated` and status 143 for SIGTERM (`run`
    turns it into `Terminated`).

    Args:
        main: callable. A tool's `main(argv)`.

    Returns:
        The guarded `main(argv)`.
    """
    def guarded_main(argv):
        try:
            main(argv)
        except (app.UsageError, *USER_ERRORS) as error:
            fail(error)
        except KeyboardInterrupt:
            print(f"{program_name()}: interrupted", file=sys.stderr)
            sys.exit(128 + signal.SIGINT)
        except Terminated:
            print(f"{program_name()}: terminated", file=sys.stderr)
            raise

    return guarded_main


def run(main):
    """`app.run(guarded(main))`, parsing flags with `parse_flags`; SIGTERM
    raises `Terminated` (a `SystemExit`), so that `finally` blocks run.

    A tool that says more on Ctrl-C (training: how to resume) catches
    `KeyboardInterrupt` itself.
    """
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)
    _help_from(sys.modules.get(main.__module__))
    app.run(guarded(main), flags_parser=parse_flags)


def _help_from(module):
    """Makes `--help` describe `module` (its docstring and flags) when the
    program started elsewhere: a console script, a shim such as
    `export/export.py`. absl's `--help` shows `__main__`'s."""
    main_module = sys.modules.get("__main__")
    if module is None or module is main_module:
        return
    for flag in flags.FLAGS.get_key_flags_for_module(module):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    if module.__doc__:
        main_module.__doc__ = module.__doc__

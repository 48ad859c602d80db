"""What every command line tool shares: one-line errors and exit codes.

A failing tool prints one line, `prog: error: ...`, on stderr and exits
with status 1: a bad flag, a stray argument, an unusable value, an OS error
(a read-only directory, an output under a file). `--help` exits 0.
"""

import os
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


def run(main):
    """`app.run(main)` with one-line errors for flags and `USER_ERRORS`."""
    def guarded_main(argv):
        try:
            main(argv)
        except (app.UsageError, *USER_ERRORS) as error:
            fail(error)

    app.run(guarded_main, flags_parser=parse_flags)

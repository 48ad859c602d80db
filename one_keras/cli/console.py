"""What every command line tool shares: one-line errors, exit codes and a
quiet TensorFlow.

A failing tool prints one line, `prog: error: ...`, on stderr and exits
with status 1: a bad flag, a stray argument, an unusable value, an OS error
(a read-only directory, an output under a file), a feature the install
lacks (`BackendError`). `--help` exits 0, and imports neither Keras nor
TensorFlow (the tools import them in `main`). Ctrl-C (SIGINT) ends a tool
with `prog: interrupted` and status 130, SIGTERM with `prog: terminated`
and status 143, each after the tool's `finally` blocks have run (its
temporaries removed, its child processes killed); a second Ctrl-C does not
cut them short.

TensorFlow's C++ start-up lines (oneDNN, CUDA drivers, `failed call to
cuInit`) are silenced: `TF_CPP_MIN_LOG_LEVEL` is 3 unless the user set it
(in the tools' child processes too, which inherit the tool's 3), and the
backend is imported with stderr closed. A user's own
`TF_CPP_MIN_LOG_LEVEL` wins and shows them all. So does JAX's `Unable to
initialize backend 'tpu'` (`one_keras.utils.runtime_noise`), which also shows
with absl's `--verbosity` (or `-v`).
"""

import contextlib
import os
import signal
import sys

from absl import app
from absl import flags

from one_keras.cli import flagfiles


# The level a tool sets when the user chose none, and the variable that
# records it: a tool's child processes inherit both, and so still read the
# level as the tool's, not the user's.
_QUIET_TF_LOG_LEVEL = "3"
_SET_BY_ONE_KERAS = "ONE_KERAS_SET_TF_CPP_MIN_LOG_LEVEL"


def user_chose_tf_log_level(environ):
    """Whether `environ`'s `TF_CPP_MIN_LOG_LEVEL` is the user's choice: set,
    and not the level a one_keras tool set (inherited by its children).

    Args:
        environ: a mapping like `os.environ`.

    Returns:
        bool.
    """
    level = environ.get("TF_CPP_MIN_LOG_LEVEL")
    return level is not None and environ.get(_SET_BY_ONE_KERAS) != level


# Whether the user chose TensorFlow's C++ log level (before a tool set it).
_USER_TF_LOG_LEVEL = user_chose_tf_log_level(os.environ)
if not _USER_TF_LOG_LEVEL:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = _QUIET_TF_LOG_LEVEL
    os.environ[_SET_BY_ONE_KERAS] = _QUIET_TF_LOG_LEVEL


def user_errors():
    """The exceptions that mean bad input, reported in one line (never a
    traceback): `ValueError`, `OSError`, `FloatingPointError`,
    `one_keras.data.DatasetNotFoundError` and
    `one_keras.utils.backends.BackendError`
    (each looked up only where its module was imported, so that an error
    needs no TensorFlow)."""
    errors = (ValueError, OSError, FloatingPointError)
    dataset = sys.modules.get("one_keras.data.dataset")
    backends = sys.modules.get("one_keras.utils.backends")
    return (errors + ((dataset.DatasetNotFoundError,) if dataset else ())
            + ((backends.BackendError,) if backends else ()))


def program_name():
    """The running tool's file name, e.g. `train.py` or `one-train`."""
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
        flagfiles.check_flagfiles(argv)
    except ValueError as error:
        fail(error)
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


@contextlib.contextmanager
def _stderr_closed():
    """Sends file descriptor 2 (C++ writes included) to /dev/null."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def import_backend_quietly():
    """Imports Keras (and so its backend) without TensorFlow's C++
    start-up lines, unless the user set `TF_CPP_MIN_LOG_LEVEL`.

    Lines written before TensorFlow reads its log level (oneDNN, CUDA
    drivers) go to stderr whatever the level; so the import runs with
    stderr closed. A failing import still raises (and is reported).
    """
    if _USER_TF_LOG_LEVEL or "keras" in sys.modules:
        return
    with _stderr_closed():
        import keras  # noqa: F401


def _help_as_main(module_name):
    """Lets `--help` of a console script (`one-train`, whose `__main__` is
    pip's wrapper) show the tool's docstring and flags, as `python -m`
    does: absl shows those of the main module."""
    module = sys.modules.get(module_name)
    main_module = sys.modules.get("__main__")
    if module is None or module is main_module:
        return
    for flag in flags.FLAGS.get_flags_for_module(module_name):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    if main_module is not None and not main_module.__doc__:
        main_module.__doc__ = module.__doc__


class Terminated(SystemExit):
    """Raised in the main thread when the tool receives SIGTERM."""


def _terminate(signum, frame):
    del signum, frame
    raise Terminated(128 + signal.SIGTERM)


def _interrupt(signum, frame):
    """Ctrl-C: `KeyboardInterrupt` once; a second Ctrl-C while the tool's
    `finally` blocks run (its lock released, its temporaries removed) is
    ignored, so they run to their end and the tool exits 130."""
    del signum, frame
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def guarded(main, backend=False):
    """`main` ending in one line: `prog: error: ...` and status 1 for
    `app.UsageError` and `user_errors()`, `prog: interrupted` and status
    130 for Ctrl-C, `prog: terminated` and status 143 for SIGTERM (`run`
    turns it into `Terminated`).

    Args:
        main: callable. A tool's `main(argv)`.
        backend: bool. Import Keras' backend quietly first (see
            `import_backend_quietly`). Defaults to `False`.

    Returns:
        The guarded `main(argv)`.
    """
    def guarded_main(argv):
        try:
            if not flags.FLAGS["verbosity"].present:
                from one_keras.utils import runtime_noise
                runtime_noise.quiet_jax_backend_search()
            if backend:
                import_backend_quietly()
            main(argv)
        except (app.UsageError, *user_errors()) as error:
            fail(error)
        except KeyboardInterrupt:
            print(f"{program_name()}: interrupted", file=sys.stderr)
            sys.exit(128 + signal.SIGINT)
        except Terminated:
            print(f"{program_name()}: terminated", file=sys.stderr)
            raise

    return guarded_main


def run(main, flags_parser=parse_flags, backend=True):
    """`app.run(guarded(main))`: one-line errors for flags and
    `user_errors()`, one line for Ctrl-C and SIGTERM (which raises
    `Terminated`, a `SystemExit`, so that `finally` blocks run).

    A tool that says more on Ctrl-C (training: how to resume) catches
    `KeyboardInterrupt` itself.

    Args:
        main: callable. `main(argv)` of the tool.
        flags_parser: callable. Parses `argv` (default: `parse_flags`); a
            tool that rewrites its command line first passes its own.
        backend: bool. Import Keras' backend quietly before `main` (see
            `import_backend_quietly`); `False` for a tool without Keras.
    """
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt)
    _help_as_main(main.__module__)
    app.run(guarded(main, backend=backend), flags_parser=flags_parser)

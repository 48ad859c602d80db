r"""Draws training runs side by side from their `log.csv`:

    python -m one_keras.plot_runs runs/one runs/vanilla --output cmp.png
    one-plot runs/one runs/vanilla --output cmp.png

One column per run: the test accuracy per epoch of every branch, member or
ensemble the run logs above, its loss terms below (`one_keras.curves`;
every run also draws its own `curves.png` when it ends).
"""

from absl import flags

from one_keras import cli

_OUTPUT = flags.DEFINE_string(
    "output", "curves.png", "The PNG to write (its folder is made).")
_NAMES = flags.DEFINE_list(
    "names", None, "Column titles, one per run, comma-separated (default: "
    "the runs' folder names).")


def parse_flags(argv):
    """absl flags, the run directories left as positional arguments."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        cli.fail(f"{error} (see --helpshort)")
    except SystemExit:  # --help
        raise SystemExit(0)


def main(argv):
    runs = argv[1:]
    if not runs:
        raise ValueError("give the run directories to draw: "
                         f"{cli.program_name()} RUN [RUN ...] --output "
                         "FILE.png")
    from one_keras import curves
    output = curves.draw_runs(runs, _OUTPUT.value, _NAMES.value)
    print(f"wrote {output}")


def console_main():
    """The `one-plot` console script."""
    cli.run(main, flags_parser=parse_flags, backend=False)


if __name__ == "__main__":
    console_main()

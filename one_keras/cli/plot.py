r"""Draws training runs side by side from their `log.csv`:

    python -m one_keras.cli.plot runs/one runs/vanilla --output cmp.png
    one-plot runs/one runs/vanilla --output cmp.png

One column per run: the test accuracy per epoch of every branch, member or
ensemble the run logs above, its loss terms below (`one_keras.reports.curves`;
every run also draws its own `curves.png` when it ends).
"""

from absl import flags

from one_keras.cli import console


_OUTPUT = flags.DEFINE_string(
    "output", "curves.png", "The PNG to write (its folder is made): a new "
    "file, or a PNG that one-plot drew; never a run's file.")
_NAMES = flags.DEFINE_list(
    "names", None, "Column titles, one per run, comma-separated (default: "
    "the runs' folder names).")


def parse_flags(argv):
    """absl flags, the run directories left as positional arguments."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        console.fail(f"{error} (see --helpshort)")
    except SystemExit:  # --help
        raise SystemExit(0)


def main(argv):
    runs = argv[1:]
    if not runs:
        raise ValueError("give the run directories to draw: "
                         f"{console.program_name()} RUN [RUN ...] --output "
                         "FILE.png")
    from one_keras.reports import curves
    from one_keras.runs import check_output_path
    output = _OUTPUT.value
    if not output.lower().endswith(".png"):
        raise ValueError(f"`output` must be a PNG file, named *.png. "
                         f"Received: output={output}")
    # Never a run's file (its backup/, its curves.png), nor a file that
    # this tool did not draw.
    check_output_path(output, curves.is_curves_png, "PNG that one-plot drew",
                      hint="a new *.png")
    output = curves.draw_runs(runs, output, _NAMES.value)
    print(f"wrote {output}")


def console_main():
    """The `one-plot` console script."""
    console.run(main, flags_parser=parse_flags, backend=False)


if __name__ == "__main__":
    console_main()

r"""Learning curves of training runs, drawn from their `log.csv`.

A run draws its own `curves.png` when it ends (`draw_run`);
`one_keras.cli.plot` (`one-plot`) draws several side by side, one column
each (`draw_runs`).

Top row: the test accuracy per epoch of every accuracy the run logs (each
ONE branch, branch 0 being the deployed target, and the teacher ONE-E; each
DML or ensemble member and their ensemble; the KD student...). Bottom row:
the loss terms per epoch (`loss`, `ce`, `kl`, ...), training solid and test
dashed. matplotlib is imported (on its file-only Agg backend) only when a
figure is drawn.
"""

import csv
import os

from one_keras.runs import RunDirectory
from one_keras.utils import atomic_files


# The `Software` text of the PNGs drawn here: what `one-plot` may replace.
SOFTWARE = "one_keras curves"


def read_log(path):
    """A `log.csv` as a dict of column name -> list of floats.

    Args:
        path: str. A `log.csv`, or the run directory that holds it.

    Returns:
        A dict; `"epoch"` holds the epoch numbers from 0.

    Raises:
        ValueError: naming `run`: there is no `log.csv`, or it has no row.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        path = RunDirectory(path).log_path
    if not os.path.isfile(path):
        raise ValueError(f"`run` must be a training run directory holding "
                         f"log.csv (or the file). Received: run={path!r}")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"`run` must have trained an epoch: {path} has no "
                         f"row. Received: run={path!r}")
    return {key: [_number(row[key]) for row in rows] for key in rows[0]}


def _number(value):
    """A logged value as a float; NaN where the log has none (empty, or
    Keras' `CSVLogger` "NA" for a metric an epoch did not log)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def accuracy_curves(log):
    """The test-accuracy curves of a run: label -> values per epoch.

    Args:
        log: dict. From `read_log`.

    Returns:
        A dict, in the log's column order: `val_branch_0_accuracy` is
        labelled `branch 0`, `val_teacher_accuracy` `teacher`, and so on.
    """
    return {key[len("val_"):-len("_accuracy")].replace("_", " "): values
            for key, values in log.items()
            if key.startswith("val_") and key.endswith("_accuracy")}


def loss_curves(log):
    """The loss terms of a run: label -> values per epoch (training terms
    as named, test terms prefixed `test `).

    Args:
        log: dict. From `read_log`.

    Returns:
        A dict of every column that is not an accuracy, the epoch or the
        learning rate.
    """
    curves = {}
    for key, values in log.items():
        if key in ("epoch", "learning_rate", "lr") or \
                key.endswith("accuracy"):
            continue
        curves[f"test {key[4:]}" if key.startswith("val_") else key] = values
    return curves


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    return plt


def finish_figure(figure, all_axes, output):
    """Grid and legend on every axes, then the PNG at `output`.

    Args:
        figure: a matplotlib `Figure`.
        all_axes: iterable of its `Axes`.
        output: str. The PNG to write; its folder is made. It is written
            beside and renamed over (`one_keras.utils.atomic_files`), so a link
            there is replaced, never written through.
    """
    for axes in all_axes:
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=7)
    figure.tight_layout()
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    try:
        with atomic_files.replacing(output) as temporary:
            figure.savefig(temporary, dpi=110, format="png",
                           metadata={"Software": SOFTWARE})
    finally:
        pyplot().close(figure)


def is_curves_png(path):
    """Whether `path` is a PNG that `finish_figure` wrote (its `Software`
    text says so), which `one-plot` may replace.

    Args:
        path: str. A file.

    Returns:
        bool.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return head.startswith(b"\x89PNG") and \
        b"Software\x00" + SOFTWARE.encode() in head


def draw_runs(runs, output, names=None):
    """Draws runs side by side: accuracy above, loss terms below.

    Args:
        runs: list of str. Run directories (or their `log.csv`).
        output: str. The PNG to write.
        names: list of str or `None`. Column titles (default: the run
            folders' names).

    Returns:
        `output`.
    """
    if not runs:
        raise ValueError("`runs` must name at least one run directory. "
                         "Received: runs=[]")
    names = names or [_run_name(run) for run in runs]
    if len(names) != len(runs):
        raise ValueError(f"`names` must give one name per run: {len(names)} "
                         f"names for {len(runs)} runs. Received: "
                         f"names={names!r}")
    logs = [read_log(run) for run in runs]
    plt = pyplot()
    figure, axes = plt.subplots(2, len(runs), squeeze=False, sharey="row",
                                figsize=(5.5 * len(runs), 7.5))
    for column, (name, log) in enumerate(zip(names, logs)):
        epochs = [epoch + 1 for epoch in log["epoch"]]
        accuracy, losses = axes[0][column], axes[1][column]
        for label, values in accuracy_curves(log).items():
            accuracy.plot(epochs, values, marker="." if len(epochs) < 20
                          else None, label=label)
        colors = {}  # A term and its test twin share a colour.
        for label, values in loss_curves(log).items():
            term = label[len("test "):] if label.startswith("test ") \
                else label
            color = colors.setdefault(term, f"C{len(colors)}")
            losses.plot(epochs, values, "--" if label != term else "-",
                        color=color, label=label)
        accuracy.set(title=name, xlabel="epoch", ylabel="test accuracy")
        losses.set(xlabel="epoch", ylabel="loss term")
        if any(min(values) > 0 for values in loss_curves(log).values()):
            losses.set_yscale("log")
    finish_figure(figure, [a for row in axes for a in row], output)
    return output


def draw_run(run_dir):
    """Draws `curves.png` of one run into its directory.

    Args:
        run_dir: str. A run directory holding `log.csv`.

    Returns:
        The path of the PNG written.
    """
    return draw_runs([run_dir], RunDirectory(run_dir).curves_path)


def _run_name(run):
    path = os.path.abspath(os.fspath(run))
    folder = os.path.dirname(path)
    if path == RunDirectory(folder).log_path:  # A run's log: the run's name.
        path = folder
    return os.path.basename(path)



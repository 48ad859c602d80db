r"""Draws the study's learning curves from the runs' `log.csv` files.

  python benchmarks/plot_curves.py --results_dir docs/study \
      --output docs/figures/cifar10_curves.png

Left: test accuracy per epoch of vanilla, every ONE branch and ONE-E (seed
0 of each run; Keras solid, PyTorch dashed where a PyTorch run exists).
Right: ONE's training loss terms (cross-entropy summed over branches and
teacher, and the distillation term) per epoch. The logs are those Keras'
`CSVLogger` writes in every training output directory (`training.run`);
`benchmarks/pytorch_reference.py train` writes the same columns. The
logs are read, and the figures finished, by `one_keras.reports.curves` (which
draws a run's own `curves.png`, and `one-plot` runs side by side); this
script adds the study's layout and its overlays.

With `--rows_output`, a figure of every Keras row of the study at the
seed: the deployed network's and the ensemble's test accuracy per epoch
(vanilla, ONE, ONE without distillation, DML, KD and its teacher), and the
distillation term of ONE with and without training on it.

With `--budget_output`, a figure: the final test accuracy of vanilla,
the ONE target and ONE-E against the training budget in epochs (mean and
std over seeds, `benchmarks/study.py`'s `budget_summary`).
"""

import pathlib
import sys

from absl import app
from absl import flags

from one_keras.reports import curves as curves_lib
from one_keras.reports.curves import read_log


sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import study  # noqa: E402  (benchmarks/study.py)


STYLES = {"keras": "-", "pytorch": "--"}
MARKERS = {"keras": "s", "pytorch": "o"}
# Study run -> the log.csv column of its deployed network's test accuracy.
DEPLOYED_COLUMN = {
    "vanilla": "val_branch_0_accuracy", "one": "val_branch_0_accuracy",
    "one_no_distillation": "val_branch_0_accuracy",
    "dml": "val_member_0_accuracy", "kd": "val_student_accuracy",
    "kd_teacher": "val_branch_0_accuracy",
}
# Study run -> the part of it that is deployed, where it has several.
DEPLOYED_PART = {"one": "target", "one_no_distillation": "target",
                 "dml": "peer 0", "kd": "student"}
# Study run -> the log.csv column of its ensemble's test accuracy.
ENSEMBLE_COLUMN = {
    "one": "val_teacher_accuracy",
    "one_no_distillation": "val_teacher_accuracy",
    "dml": "val_ensemble_accuracy",
}


def curves(log):
    """Test-accuracy curves of one run: label -> values per epoch."""
    branches = sorted(key for key in log
                      if key.startswith("val_branch_")
                      and key.endswith("_accuracy") and "top5" not in key)
    if len(branches) == 1:  # The plain network: one branch, no ensemble.
        return {"vanilla": log[branches[0]]}
    lines = {f"ONE branch {key.split('_')[2]}": log[key] for key in branches}
    lines["ONE-E"] = log["val_teacher_accuracy"]
    return lines


def plot(results_dir, seed, output):
    """Draws the figure.

    Args:
        results_dir: str. Holds `keras/<run>_s<seed>/log.csv` (and
            `pytorch/...`).
        seed: int. Seed of the runs to draw.
        output: str. The PNG to write.

    Returns:
        The list of `log.csv` paths drawn.
    """
    pyplot = curves_lib.pyplot()

    figure, (accuracy, losses) = pyplot.subplots(1, 2, figsize=(12, 4.5))
    drawn = []
    for implementation, style in STYLES.items():
        for run in ("vanilla", "one"):
            path = pathlib.Path(results_dir) / implementation / \
                f"{run}_s{seed}" / "log.csv"
            if not path.exists():
                continue
            log = read_log(path)
            epochs = [epoch + 1 for epoch in log["epoch"]]
            for label, values in curves(log).items():
                accuracy.plot(epochs, values, style,
                              label=f"{label} ({implementation})")
            if run == "one":
                for term in ("ce", "kl"):
                    losses.plot(epochs, log[term], style,
                                label=f"{term} ({implementation})")
            drawn.append(str(path))
    if not drawn:
        raise app.UsageError(f"No log.csv of seed {seed} under {results_dir}"
                             "/{keras,pytorch}/{vanilla,one}_s<seed>/.")
    accuracy.set(xlabel="epoch", ylabel="test accuracy",
                 title=f"CIFAR-10 photos, ResNet-20, seed {seed}")
    losses.set(xlabel="epoch", ylabel="training loss term (ONE)",
               yscale="log", title="ONE loss terms")
    curves_lib.finish_figure(figure, (accuracy, losses), output)
    return drawn


def plot_rows(results_dir, seed, output):
    """Draws every Keras row of the study at one seed.

    Args:
        results_dir: str. Holds `keras/<run>_s<seed>/log.csv`.
        seed: int. Seed of the runs to draw.
        output: str. The PNG to write.

    Returns:
        The names of the runs drawn, in `DEPLOYED_COLUMN`'s order.
    """
    pyplot = curves_lib.pyplot()

    figure, (deployed, ensemble, distillation) = pyplot.subplots(
        1, 3, figsize=(16, 4.5))
    drawn = []
    for index, (run, column) in enumerate(DEPLOYED_COLUMN.items()):
        path = pathlib.Path(results_dir) / "keras" / f"{run}_s{seed}" / \
            "log.csv"
        if not path.exists():
            continue
        log = read_log(path)
        epochs = [epoch + 1 for epoch in log["epoch"]]
        color, label = f"C{index}", study.LABELS[run]
        part = DEPLOYED_PART.get(run)
        deployed.plot(epochs, log[column], color=color,
                      label=f"{label}: {part}" if part else label)
        if run in ENSEMBLE_COLUMN:
            ensemble.plot(epochs, log[ENSEMBLE_COLUMN[run]], color=color,
                          label=label)
        if run.startswith("one"):
            distillation.plot(epochs, log["kl"], color=color,
                              label=f"{label} (training)")
            distillation.plot(epochs, log["val_kl"], "--", color=color,
                              label=f"{label} (test)")
        drawn.append(run)
    if not drawn:
        raise app.UsageError(f"No log.csv of seed {seed} under {results_dir}"
                             "/keras/<run>_s<seed>/.")
    deployed.set(xlabel="epoch", ylabel="test accuracy",
                 title=f"Deployed network (Keras, seed {seed})")
    ensemble.set(xlabel="epoch", ylabel="test accuracy",
                 title="Ensemble (ONE-E; DML: mean of the peers)")
    distillation.set(xlabel="epoch", ylabel="T^2 KL(teacher || branches)",
                     title="ONE's distillation term (logged either way)")
    for axes in (deployed, ensemble):
        axes.set_ylim(bottom=0.5)
    curves_lib.finish_figure(figure, (deployed, ensemble, distillation),
                             output)
    return drawn


def plot_budget(results_dir, output):
    """Draws final test accuracy against the budget in epochs.

    Args:
        results_dir: str. Holds the `keras/` and `pytorch/` runs of the
            study and of the budget sweep.
        output: str. The PNG to write.

    Returns:
        The budgets drawn, in epochs.
    """
    pyplot = curves_lib.pyplot()

    summary = study.budget_summary(results_dir)
    if not summary:
        raise app.UsageError(f"No one or vanilla report under {results_dir}"
                             "/{keras,pytorch}/.")
    figure, axes = pyplot.subplots(figsize=(6.5, 4.5))
    lines = (("vanilla", "target", "vanilla", "C0"),
             ("one", "target", "ONE target (branch 0)", "C1"),
             ("one", "ensemble", "ONE-E", "C2"))
    budgets = set()
    for implementation, by_epochs in summary.items():
        for name, field, label, color in lines:
            points = [(epochs, runs[name][field])
                      for epochs, runs in by_epochs.items() if name in runs]
            budgets.update(epochs for epochs, _ in points)
            axes.errorbar([epochs for epochs, _ in points],
                          [stats["mean"] for _, stats in points],
                          yerr=[stats["std"] for _, stats in points],
                          fmt=STYLES[implementation], color=color,
                          marker=MARKERS[implementation], capsize=3,
                          label=f"{label} ({implementation})")
    budgets = sorted(budgets)
    axes.set(xlabel="training budget (epochs)", ylabel="final test accuracy",
             xscale="log", title="CIFAR-10 photos, ResNet-20 (mean +- std)")
    axes.minorticks_off()
    axes.set_xticks(budgets, [str(epochs) for epochs in budgets])
    curves_lib.finish_figure(figure, (axes,), output)
    return budgets


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    FLAGS = flags.FLAGS
    for path in plot(FLAGS.results_dir, FLAGS.seed, FLAGS.output):
        print(f"drew {path}")
    print(f"wrote {FLAGS.output}")
    if FLAGS.rows_output:
        runs = plot_rows(FLAGS.results_dir, FLAGS.seed, FLAGS.rows_output)
        print(f"wrote {FLAGS.rows_output} (runs {runs})")
    if FLAGS.budget_output:
        budgets = plot_budget(FLAGS.results_dir, FLAGS.budget_output)
        print(f"wrote {FLAGS.budget_output} (budgets {budgets})")


if __name__ == "__main__":
    flags.DEFINE_string("results_dir", "docs/study",
                        "Directory of the keras/ and pytorch/ runs.")
    flags.DEFINE_integer("seed", 0, "Seed of the runs to draw.")
    flags.DEFINE_string("output", "docs/figures/cifar10_curves.png",
                        "PNG to write.")
    flags.DEFINE_string("rows_output", "docs/figures/cifar10_rows.png",
                        "PNG of every Keras row at the seed (empty: none).")
    flags.DEFINE_string("budget_output", "docs/figures/cifar10_budget.png",
                        "PNG of accuracy against budget (empty: none).")
    app.run(main)

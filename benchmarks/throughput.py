r"""Training throughput of vanilla and 3-branch ONE ResNets, TF vs PyTorch.

  python benchmarks/throughput.py     # with PyTorch if this Python has it
  python benchmarks/throughput.py --torch_python=/path/to/python-with-torch

For each depth it builds the vanilla network (one branch) and 3-branch ONE
(CIFAR-size input, random data, SGD Nesterov, weight decay 1e-4) and times
`fit` steps, alternating the two models over several rounds in one process,
so that ratios are taken under the same load. PyTorch (the reference in
`pytorch_reference.py`, an optional comparison; not a dependency) runs in its
own process right after, and the order of the processes alternates between
repeats; it is found by itself when `torch` imports in this interpreter, and
otherwise a line says how to add it. It also times inference of the deployed target against the vanilla
network at batch 1 and 32. Writes JSON and a Markdown table.
"""

import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from training_rates import training_rates  # noqa: E402  (benchmarks/)

# keras, tensorflow and one_keras are imported where used, so that a bad
# --torch_python is reported at once.

_DEPTHS = flags.DEFINE_list("depths", ["32", "110"], "ResNet depths.")
_CLASSES = flags.DEFINE_integer("num_classes", 100, "Classes.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Training batch size.")
_STEPS = flags.DEFINE_integer("steps", 10, "Timed steps per round.")
_WARMUP = flags.DEFINE_integer("warmup", 3, "Untimed steps first.")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Alternating rounds.")
_REPEATS = flags.DEFINE_integer(
    "repeats", 2, "Times the TF and PyTorch processes are run, alternating "
    "which goes first.")
_TORCH = flags.DEFINE_string(
    "torch_python", None, "A Python interpreter with PyTorch, to run "
    "pytorch_reference.py (default: this one, when it has PyTorch; "
    "otherwise the comparison is skipped).")
_OUTPUT = flags.DEFINE_string("output_dir", "benchmarks/results",
                              "Where throughput.json and .md go.")
_WORKER = flags.DEFINE_integer("worker_depth", None,
                               "Internal: time TF at this depth and exit.")

HERE = pathlib.Path(__file__).resolve().parent


def torch_version(python):
    """The PyTorch version that `python` imports, or `None` without one.

    Args:
        python: str. Path or command name of a Python interpreter.

    Returns:
        The version string, or `None` when `python` runs but has no `torch`.

    Raises:
        FileNotFoundError: `python` is not an executable program.
    """
    executable = shutil.which(python)
    if executable is None:
        raise FileNotFoundError(python)
    result = subprocess.run(
        [executable, "-c", "import torch; print(torch.__version__)"],
        capture_output=True, text=True, timeout=120)
    lines = result.stdout.strip().splitlines()
    return lines[-1] if result.returncode == 0 and lines else None


def find_torch_python(requested):
    """The interpreter that runs the PyTorch comparison, or `None`.

    Args:
        requested: str or `None`. `--torch_python`; `None` looks at the
            interpreter running this script.

    Returns:
        The interpreter to run `pytorch_reference.py` with, or `None` (then
        a line on stdout says how to add the comparison).

    Raises:
        ValueError: `requested` is not a Python or has no PyTorch (one line
            that names the fix).
    """
    fix = ("give a Python interpreter that can `import torch` (e.g. "
           "`--torch_python=$(which python)` inside a venv with PyTorch), "
           "or leave the flag out to benchmark TensorFlow only.")
    if requested:
        try:
            version = torch_version(requested)
        except FileNotFoundError:
            raise ValueError(f"--torch_python={requested} is not an "
                             f"executable program; {fix}") from None
        if version is None:
            raise ValueError(f"--torch_python={requested} cannot import "
                             f"torch; {fix}")
        return requested
    if torch_version(sys.executable) is not None:
        return sys.executable
    print(f"PyTorch is not installed in {sys.executable}: benchmarking "
          "TensorFlow only. To compare, install torch here or pass "
          "--torch_python=PYTHON (an interpreter with PyTorch).")
    return None


def _compiled_model(depth, num_branches):
    import keras

    from one_keras.methods.one import build_one_resnet

    keras.utils.set_random_seed(0)
    model = build_one_resnet(depth=depth, num_classes=_CLASSES.value,
                             num_branches=num_branches)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9,
                                                 nesterov=True))
    return model


def tf_training_rates(depth):
    """Images/s of vanilla (key "1") and ONE-3 (key "3"), one per round."""
    models = {"1": _compiled_model(depth, 1), "3": _compiled_model(depth, 3)}
    rates = training_rates(models, _BATCH.value, _CLASSES.value,
                           _STEPS.value, _WARMUP.value, _ROUNDS.value)
    return rates, _inference_latency(models["3"], depth)


def _inference_latency(one_model, depth):
    """Median ms of the ONE target and the vanilla network, batch 1 and 32."""
    import keras
    import tensorflow as tf

    from one_keras.methods.one import build_one_resnet

    keras.utils.set_random_seed(0)
    networks = {
        "target": one_model.target_model(),
        "vanilla": build_one_resnet(depth=depth, num_classes=_CLASSES.value,
                                    num_branches=1).target_model(),
    }
    latency = {}
    for batch in (1, 32):
        images = tf.random.normal((batch, 32, 32, 3))
        functions = {name: tf.function(lambda x, n=net: n(x, training=False))
                     for name, net in networks.items()}
        samples = {name: [] for name in networks}
        for name, function in functions.items():
            function(images)  # trace
        for _ in range(30):
            for name, function in functions.items():
                start = time.perf_counter()
                function(images).numpy()
                samples[name].append(1e3 * (time.perf_counter() - start))
        for name in networks:
            latency[f"{name}_batch{batch}_ms"] = statistics.median(
                samples[name])
    return latency


def _run(command):
    result = subprocess.run(command, capture_output=True, text=True,
                            check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _tf_process(depth):
    return _run([sys.executable, __file__, f"--worker_depth={depth}",
                 f"--num_classes={_CLASSES.value}",
                 f"--batch_size={_BATCH.value}", f"--steps={_STEPS.value}",
                 f"--warmup={_WARMUP.value}", f"--rounds={_ROUNDS.value}"])


def _torch_process(depth, torch_python):
    return _run([torch_python, str(HERE / "pytorch_reference.py"),
                 f"--depth={depth}", f"--num_classes={_CLASSES.value}",
                 f"--batch_size={_BATCH.value}", f"--steps={_STEPS.value}",
                 f"--warmup={_WARMUP.value}", f"--rounds={_ROUNDS.value}"])


def measure(depth, torch_python):
    """All rates at one depth, alternating the framework processes."""
    rates = {"tf": {"1": [], "3": []}, "torch": {"1": [], "3": []}}
    latency = []
    for repeat in range(_REPEATS.value):
        order = ["tf", "torch"] if repeat % 2 == 0 else ["torch", "tf"]
        for framework in order:
            if framework == "torch" and not torch_python:
                continue
            if framework == "tf":
                result = _tf_process(depth)
                latency.append(result["latency"])
            else:
                result = _torch_process(depth, torch_python)
            for key, values in result["images_per_second"].items():
                rates[framework][key].extend(values)
    summary = {"depth": depth, "rates": rates}
    for framework, by_model in rates.items():
        for key, values in by_model.items():
            if values:
                summary[f"{framework}_{key}"] = statistics.median(values)
    summary["one_step_over_vanilla_tf"] = summary["tf_1"] / summary["tf_3"]
    if torch_python:
        summary["one_step_over_vanilla_torch"] = (summary["torch_1"]
                                                  / summary["torch_3"])
        summary["tf_over_torch_vanilla"] = summary["tf_1"] / summary["torch_1"]
        summary["tf_over_torch_one"] = summary["tf_3"] / summary["torch_3"]
    summary["latency"] = {key: statistics.median(r[key] for r in latency)
                          for key in latency[0]}
    summary["target_over_vanilla_latency_batch1"] = (
        summary["latency"]["target_batch1_ms"]
        / summary["latency"]["vanilla_batch1_ms"])
    summary["target_over_vanilla_latency_batch32"] = (
        summary["latency"]["target_batch32_ms"]
        / summary["latency"]["vanilla_batch32_ms"])
    return summary


def markdown(results, machine):
    lines = [f"Machine: {machine}. Training images/s, median over "
             "alternating rounds (higher is better); batch "
             f"{_BATCH.value}, {_CLASSES.value} classes, 32x32 input.", "",
             "| ResNet | TF vanilla | TF ONE-3 | ONE step / vanilla (TF) "
             "| PyTorch vanilla | PyTorch ONE-3 | TF / PyTorch (ONE-3) "
             "| target / vanilla latency, batch 1 / 32 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        torch_cells = ("| {:.0f} | {:.0f} | {:.2f} ".format(
            r["torch_1"], r["torch_3"], r["tf_over_torch_one"])
            if "torch_1" in r else "| - | - | - ")
        lines.append(
            f"| {r['depth']} | {r['tf_1']:.0f} | {r['tf_3']:.0f} | "
            f"{r['one_step_over_vanilla_tf']:.2f} " + torch_cells +
            f"| {r['target_over_vanilla_latency_batch1']:.2f} / "
            f"{r['target_over_vanilla_latency_batch32']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    if _WORKER.value:
        rates, latency = tf_training_rates(_WORKER.value)
        print(json.dumps({"images_per_second": rates, "latency": latency}))
        return
    try:  # Before any benchmark runs.
        torch_python = find_torch_python(_TORCH.value)
    except ValueError as error:
        sys.exit(f"throughput.py: error: {error}")
    import keras
    import tensorflow as tf

    machine = (f"{platform.processor() or platform.machine()}, "
               f"{os.cpu_count()} cores, TF {tf.__version__}, "
               f"Keras {keras.__version__}")
    results = [measure(int(depth), torch_python) for depth in _DEPTHS.value]
    output = pathlib.Path(_OUTPUT.value)
    output.mkdir(parents=True, exist_ok=True)
    (output / "throughput.json").write_text(json.dumps(
        {"machine": machine, "results": results}, indent=2))
    table = markdown(results, machine)
    (output / "throughput.md").write_text(table)
    print(table)


if __name__ == "__main__":
    app.run(main)

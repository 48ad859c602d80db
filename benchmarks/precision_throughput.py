r"""Training throughput in float32 and bfloat16, one_keras beside PyTorch.

  python benchmarks/precision_throughput.py \
      --torch_python=/path/to/python-with-torch --output_dir=OUT

Times ONE-3 training steps (CIFAR-size random data, SGD Nesterov) of
one_keras under the dtype policies `float32` and `mixed_bfloat16`, and of
the PyTorch reference (`pytorch_reference.py`: the same network and loss)
in float32 and under `torch.autocast("cpu", torch.bfloat16)`, channels_last.
Each framework runs in its own process, the order of the processes
alternating between repeats; inside a process the two precisions alternate
round by round, so that every ratio is taken under the same load. It writes
the machine's CPU model and bfloat16 flags (`avx512_bf16`, `amx_bf16`:
without them a CPU emulates bfloat16) with the table, in
`precision_throughput.json` and `.md` (issue 40; docs/performance.md).
"""

import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from training_rates import training_rates  # noqa: E402  (benchmarks/)

_DEPTH = flags.DEFINE_integer("depth", 20, "ResNet depth, 6n+2.")
_CLASSES = flags.DEFINE_integer("num_classes", 100, "Classes.")
_BRANCHES = flags.DEFINE_integer("num_branches", 3, "ONE branches.")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Training batch size.")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed steps per round.")
_WARMUP = flags.DEFINE_integer("warmup", 2, "Untimed steps first.")
_ROUNDS = flags.DEFINE_integer("rounds", 3,
                               "Rounds per process, precisions alternating.")
_REPEATS = flags.DEFINE_integer(
    "repeats", 2, "Times each framework's process runs, alternating which "
    "goes first.")
_TORCH = flags.DEFINE_string(
    "torch_python", None, "A Python interpreter with PyTorch (default: "
    "none, and PyTorch is left out).")
_OUTPUT = flags.DEFINE_string("output_dir", "benchmarks/results",
                              "Where precision_throughput.json and .md go.")
_JAX = flags.DEFINE_string(
    "jax_python", None, "A Python interpreter with JAX (TensorFlow not "
    "needed): one_keras is also timed on Keras' JAX backend (XLA), in its "
    "own process (default: none).")
_WORKER = flags.DEFINE_enum("worker", None, ["keras"],
                            "Internal: time one_keras and exit.")
_BACKEND_NAMES = {"tensorflow": "TF", "jax": "JAX"}

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
POLICIES = ("float32", "mixed_bfloat16")


def _keras_rates():
    """Images/s of one_keras ONE-3 per policy, one value a round."""
    import importlib

    import keras

    from one_keras.methods.one import build_one_resnet

    models = {}
    for policy in POLICIES:
        keras.mixed_precision.set_global_policy(policy)
        keras.utils.set_random_seed(0)
        model = build_one_resnet(depth=_DEPTH.value,
                                 num_classes=_CLASSES.value,
                                 num_branches=_BRANCHES.value)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9,
                                                     nesterov=True))
        models[policy] = model
    keras.mixed_precision.set_global_policy("float32")
    rates = training_rates(models, _BATCH.value, _CLASSES.value,
                           _STEPS.value, _WARMUP.value, _ROUNDS.value)
    backend = keras.backend.backend()
    # Keras names each backend after its module (`tensorflow`, `jax`).
    version = importlib.import_module(backend).__version__
    return {"framework": f"one_keras, Keras {keras.__version__}, "
                         f"{_BACKEND_NAMES.get(backend, backend)} {version}",
            "images_per_second": rates}


# The PyTorch process (its interpreter need not have absl): the reference's
# images/s in float32 and under bfloat16 autocast, alternating each round.
_TORCH_WORKER = """
import json, sys
import torch
settings = json.loads(sys.argv[1])
sys.path.insert(0, settings["here"])
import pytorch_reference
rates = {"float32": [], "autocast_bfloat16": []}
for _ in range(settings["rounds"]):
    for key in rates:
        rates[key] += pytorch_reference.images_per_second(
            settings["depth"], settings["num_classes"],
            settings["num_branches"], settings["batch_size"],
            settings["steps"], settings["warmup"], rounds=1,
            amp=key != "float32", channels_last=True)
print(json.dumps({"framework": f"PyTorch {torch.__version__}, "
                               f"{torch.get_num_threads()} threads",
                  "images_per_second": rates}))
"""


def _settings():
    return [f"--depth={_DEPTH.value}", f"--num_classes={_CLASSES.value}",
            f"--num_branches={_BRANCHES.value}",
            f"--batch_size={_BATCH.value}", f"--steps={_STEPS.value}",
            f"--warmup={_WARMUP.value}", f"--rounds={_ROUNDS.value}"]


def _worker(python, framework):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    if framework == "jax":
        env["KERAS_BACKEND"] = "jax"
    if framework == "torch":
        command = [python, "-c", _TORCH_WORKER, json.dumps({
            "here": str(HERE), "depth": _DEPTH.value,
            "num_classes": _CLASSES.value, "num_branches": _BRANCHES.value,
            "batch_size": _BATCH.value, "steps": _STEPS.value,
            "warmup": _WARMUP.value, "rounds": _ROUNDS.value})]
    else:
        command = [python, __file__, "--worker=keras", *_settings()]
    result = subprocess.run(command, capture_output=True, text=True,
                            env=env)
    if result.returncode:
        sys.exit(f"precision_throughput.py: the {framework} process "
                 f"failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _cpuinfo_field(name, path="/proc/cpuinfo"):
    """The first value of `name` in `/proc/cpuinfo`, or `None`."""
    if not os.path.exists(path):
        return None
    with open(path, errors="replace") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
    return None


def machine():
    """The CPU model, cores, and the CPU's bfloat16 and AVX-512 flags."""
    from one_keras.training import precision

    flags_ = precision.cpu_flags()
    family = _cpuinfo_field("cpu family")
    cpu = precision.cpu_model() + (f" (CPU family {family})" if family
                                   else "")
    return {"cpu": cpu, "cores": os.cpu_count(),
            "bf16_flags": precision.cpu_bfloat16_flags(),
            "avx512_flags": sorted(f for f in flags_
                                   if f.startswith("avx512")),
            "platform": platform.platform()}


def measure(torch_python, jax_python=None):
    """Every rate, the framework processes alternating over repeats."""
    frameworks = {"keras": sys.executable}
    if jax_python:
        frameworks["jax"] = jax_python
    if torch_python:
        frameworks["torch"] = torch_python
    runs = {name: [] for name in frameworks}
    for repeat in range(_REPEATS.value):
        order = list(frameworks)
        if repeat % 2:
            order.reverse()
        for name in order:
            runs[name].append(_worker(frameworks[name], name))
            # As it comes: a long run that is stopped keeps what it had.
            print(json.dumps(runs[name][-1]), file=sys.stderr, flush=True)
    rows = []
    for name, results in runs.items():
        for key in results[0]["images_per_second"]:
            values = [v for r in results
                      for v in r["images_per_second"][key]]
            rows.append({"framework": results[0]["framework"],
                         "precision": key, "rounds": values,
                         "best": max(values),
                         "median": statistics.median(values)})
    return rows


def _rate(value):
    """Images/s as a table shows them: one decimal below 10."""
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def markdown(rows, host, command):
    lines = [
        f"CPU: {host['cpu']}, {host['cores']} cores; bfloat16 flags: "
        f"{', '.join(host['bf16_flags']) or 'none'}; AVX-512 flags: "
        f"{', '.join(host['avx512_flags']) or 'none'}.",
        f"ONE-{_BRANCHES.value} ResNet-{_DEPTH.value}, {_CLASSES.value} "
        f"classes, 32x32, batch {_BATCH.value}, training steps only; "
        f"`{command}`.", "",
        "| framework | precision | img/s, median | best | rounds |",
        "|---|---|---|---|---|"]
    for row in rows:
        rounds = " / ".join(_rate(v) for v in row["rounds"])
        lines.append(f"| {row['framework']} | {row['precision']} | "
                     f"{_rate(row['median'])} | {_rate(row['best'])} | "
                     f"{rounds} |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    if _WORKER.value == "keras":
        print(json.dumps(_keras_rates()))
        return
    host = machine()
    rows = measure(_TORCH.value, _JAX.value)
    interpreters = [f"--{flag.name}={flag.value}" for flag in (_JAX, _TORCH)
                    if flag.value]
    command = " ".join(["python benchmarks/precision_throughput.py",
                        *interpreters, *_settings(),
                        f"--repeats={_REPEATS.value}"])
    output = pathlib.Path(_OUTPUT.value)
    output.mkdir(parents=True, exist_ok=True)
    (output / "precision_throughput.json").write_text(json.dumps(
        {"machine": host, "command": command, "rows": rows}, indent=2))
    table = markdown(rows, host, command)
    (output / "precision_throughput.md").write_text(table)
    print(table)


if __name__ == "__main__":
    app.run(main)

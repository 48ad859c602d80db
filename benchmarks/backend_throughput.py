r"""Training throughput of vanilla and 3-branch ONE ResNets on the active
Keras backend (TensorFlow, JAX or torch), float32 and mixed precision.

  KERAS_BACKEND=jax python benchmarks/backend_throughput.py --demo
  KERAS_BACKEND=jax python benchmarks/backend_throughput.py \
      --depths=32 --policies=float32,mixed_bfloat16 --output_dir=OUT

Made for the GPU check of docs/performance.md: it needs no TensorFlow, and
`pytorch_reference.py --device=cuda [--amp --channels_last --compile]` gives
the PyTorch figures on the same machine. Each model trains `--warmup` steps
(compilation included), then `--steps` timed steps of `fit` on random
CIFAR-size arrays (SGD Nesterov 0.9, weight decay 1e-4), with the device
synchronised at both ends of the timed part. `--demo` first trains the
digits demo (`python -m one_keras.train`'s defaults) and reports its
accuracy and time. Writes backend_throughput.json and .md.
"""

import json
import os
import platform
import tempfile
import time

import keras
import numpy as np
from absl import app
from absl import flags

from one_keras import methods
from one_keras.training import experiment
from one_keras.training.train_config import TrainConfig


_DEPTHS = flags.DEFINE_list("depths", ["32"], "ResNet depths.")
_CLASSES = flags.DEFINE_integer("num_classes", 10, "Classes.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Training batch size.")
_STEPS = flags.DEFINE_integer("steps", 50, "Timed steps.")
_WARMUP = flags.DEFINE_integer("warmup", 5, "Untimed steps first.")
_POLICIES = flags.DEFINE_list("policies", ["float32", "mixed_bfloat16"],
                              "Keras dtype policies.")
_DEMO = flags.DEFINE_bool("demo", False, "Train the digits demo first.")
_OUTPUT = flags.DEFINE_string("output_dir", "benchmarks/results",
                              "Where backend_throughput.json and .md go.")


class StepTimer(keras.callbacks.Callback):
    """Times the steps after the first `warmup`, the device synchronised."""

    def __init__(self, warmup):
        super().__init__()
        self.warmup = warmup
        self.start = self.end = None

    def _synchronise(self):
        keras.ops.convert_to_numpy(self.model.trainable_variables[0])
        return time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.warmup - 1:
            self.start = self._synchronise()

    def on_train_end(self, logs=None):
        self.end = self._synchronise()


def images_per_second(method, depth, policy):
    """Training images per second of `method` at `depth` under `policy`."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = methods.build_method_model(
            method, num_classes=_CLASSES.value, input_shape=(32, 32, 3),
            depth=depth)
        optimizer = keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True)
        if policy == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(optimizer=optimizer)
        steps = _WARMUP.value + _STEPS.value
        rng = np.random.default_rng(0)
        images = rng.normal(size=(steps * _BATCH.value, 32, 32, 3)).astype(
            "float32")
        labels = rng.integers(0, _CLASSES.value, len(images)).astype("int32")
        timer = StepTimer(_WARMUP.value)
        model.fit(images, labels, batch_size=_BATCH.value, epochs=1,
                  shuffle=False, verbose=0, callbacks=[timer])
        return _BATCH.value * _STEPS.value / (timer.end - timer.start)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def digits_demo():
    """The README's demo on this backend: accuracies and seconds."""
    with tempfile.TemporaryDirectory() as directory:
        start = time.perf_counter()
        report = experiment.run(TrainConfig(output_dir=directory, verbose=0))
    return {"target_accuracy": report["target_accuracy"],
            "ensemble_accuracy": report["ensemble_accuracy"],
            "train_seconds": report["train_seconds"],
            "wall_seconds": round(time.perf_counter() - start, 1)}


def devices():
    """The backend's devices, in words."""
    if keras.backend.backend() == "jax":
        import jax

        return [str(d) for d in jax.devices()]
    return [keras.backend.backend()]


def markdown(results):
    lines = [f"Keras {keras.__version__} on {results['backend']} "
             f"({', '.join(results['devices'])}), batch {_BATCH.value}, "
             f"{_STEPS.value} timed steps.", "",
             "| depth | method | policy | images/s |", "|---|---|---|---|"]
    for row in results["throughput"]:
        lines.append(f"| {row['depth']} | {row['method']} | {row['policy']} "
                     f"| {row['images_per_second']:.0f} |")
    if "demo" in results:
        demo = results["demo"]
        lines += ["", f"Digits demo: target {demo['target_accuracy']:.4f}, "
                  f"ONE-E {demo['ensemble_accuracy']:.4f}, "
                  f"{demo['train_seconds']:.1f} s training."]
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    results = {"backend": keras.backend.backend(), "devices": devices(),
               "keras": keras.__version__, "python": platform.python_version(),
               "throughput": []}
    if _DEMO.value:
        results["demo"] = digits_demo()
    for depth in (int(d) for d in _DEPTHS.value):
        for policy in _POLICIES.value:
            for method in ("vanilla", "one"):
                rate = images_per_second(method, depth, policy)
                results["throughput"].append(
                    {"depth": depth, "method": method, "policy": policy,
                     "images_per_second": round(rate, 1)})
                print(json.dumps(results["throughput"][-1]), flush=True)
    os.makedirs(_OUTPUT.value, exist_ok=True)
    with open(os.path.join(_OUTPUT.value, "backend_throughput.json"),
              "w") as handle:
        json.dump(results, handle, indent=2)
    table = markdown(results)
    with open(os.path.join(_OUTPUT.value, "backend_throughput.md"),
              "w") as handle:
        handle.write(table)
    print(table)


if __name__ == "__main__":
    app.run(main)

r"""Latency of one model as Keras, SavedModel, TFLite float/int8 and ONNX.

  python benchmarks/export_latency.py --model runs/digits \
      --output_dir benchmarks/results

Every artifact is exported (and verified) with `one_keras.export`, then all
runtimes are timed in this one process at batch 1 and 32, so the ratios to
Keras are comparable even on a shared machine; absolute numbers are not.
Without `--model` it first trains a tiny digits run (depth 8, width 4) for
a few seconds. Calibration and timing images come from the run's own data
(its config.json), or `--dataset`. Writes `export_latency.json` and
`export_latency.md`.
"""

import json
import os
import platform
import shutil
import tempfile

import numpy as np
from absl import app
from absl import flags
from absl import logging

from one_keras import data
from one_keras import export
from one_keras.export import verify
from one_keras.methods import saved_models
from one_keras.runs import saved_run
from one_keras.training import experiment


_MODEL = flags.DEFINE_string("model", None, "`.keras` file or run dir; "
                             "default: train a tiny digits model.")
_MODE = flags.DEFINE_enum("mode", "single", ["single", "ensemble"], "Mode.")
_DATASET = flags.DEFINE_string(
    "dataset", None, "Calibration data (default: the run's, from its "
    "config.json).")
_REPEATS = flags.DEFINE_integer("repeats", 50, "Timed runs per setting.")
_BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["1", "32"], "Batch sizes.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "benchmarks/results",
                                  "Where the JSON and Markdown go.")

ARTIFACTS = (("savedmodel", "none", "savedmodel"),
             ("tflite", "none", "model.tflite"),
             ("tflite", "int8", "model_int8.tflite"),
             ("onnx", "none", "model.onnx"))


def train_tiny_digits_run(output_dir, epochs=12):
    """Trains a depth-8, width-4 ONE ResNet on digits; returns its run."""
    experiment.run(experiment.TrainConfig(dataset="digits", depth=8, width=4,
                                          epochs=epochs, verbose=0,
                                          output_dir=output_dir))
    return output_dir


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines.
    work = tempfile.mkdtemp(prefix="export_latency_")
    model_path = _MODEL.value or train_tiny_digits_run(
        os.path.join(work, "run"))
    model = saved_models.load_model(model_path, training_only=True)
    dataset = saved_run.load_run_dataset(model_path, _DATASET.value)
    serving_model = export.build_serving_model(model, _MODE.value)
    images, _ = data.split_arrays(
        dataset, "test", limit=max(int(b) for b in _BATCH_SIZES.value))
    runners = {"keras": serving_model.predict_on_batch}
    checks = {}
    for format, quantize, name in ARTIFACTS:
        path = os.path.join(work, name)
        entry = export.export_model(model, path, mode=_MODE.value,
                                    format=format, quantize=quantize,
                                    dataset=dataset,
                                    latency_repeats=1)
        key = f"{format}" + ("" if quantize == "none" else f"_{quantize}")
        checks[key] = {k: entry[k] for k in ("check", "value", "passed",
                                             "file_size_bytes")}
        runners[key] = verify.load_runner(format, path)
    results = {}
    for batch in [int(b) for b in _BATCH_SIZES.value]:
        batch_images = images[:batch]
        if len(batch_images) < batch:
            batch_images = np.resize(images, (batch,) + images.shape[1:])
        times = {k: verify.latency_ms(run, batch_images, _REPEATS.value)
                 for k, run in runners.items()}
        results[batch] = {k: {"ms": t, "speedup_vs_keras":
                              times["keras"] / t} for k, t in times.items()}
    report = {"model": str(model_path), "mode": _MODE.value,
              "params": int(serving_model.count_params()),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
              "repeats": _REPEATS.value, "checks": checks,
              "latency": {str(b): r for b, r in results.items()}}
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    with open(os.path.join(_OUTPUT_DIR.value, "export_latency.json"),
              "w") as f:
        json.dump(report, f, indent=2)
    lines = ["| runtime | " + " | ".join(
        f"batch {b} ms | x Keras" for b in results) + " | check |",
        "|---|" + "---|---|" * len(results) + "---|"]
    for key in runners:
        cells = " | ".join(f"{results[b][key]['ms']:.3f} | "
                           f"{results[b][key]['speedup_vs_keras']:.1f}"
                           for b in results)
        check = checks.get(key)
        check = (f"{check['check']}={check['value']:.3g}"
                 if check else "reference")
        lines.append(f"| {key} | {cells} | {check} |")
    markdown = "\n".join(lines)
    with open(os.path.join(_OUTPUT_DIR.value, "export_latency.md"),
              "w") as f:
        f.write(markdown + "\n")
    print(markdown)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    app.run(main)

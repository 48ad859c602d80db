"""The study's training trajectory on a small synthetic image folder.

`benchmarks/study.py` (the CIFAR-10 study's own command) trains ONE-3 and
vanilla for 8 epochs (learning-rate steps after epochs 4 and 6) on 300
synthetic 32x32 images; every epoch's trained metrics (`ce`, `kl`, the
accuracies, the test ones) are the trajectory. `record` runs it on any
checkout (`--code_dir`) and writes them as JSON:
`tests/reference/study_trajectory.json` holds those of the commit the
study's rows were trained at, and the slow test
`tests/test_study_trajectory.py` checks that the code of today follows them.

    python tests/scripts/study_trajectory.py --code_dir CHECKOUT \
        --output tests/reference/study_trajectory.json
"""

import argparse
import csv
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile

RUNS = ("one", "vanilla")
EPOCHS = 8
DEPTH = 8
TRAIN_PER_CLASS = 30
TEST_PER_CLASS = 10
NUM_CLASSES = 10
# `loss` is left out: since the step became Keras' own (commit 4c2b682)
# Keras' tracker averages it over images, the older step over batches; the
# trained terms `ce` and `kl` are averaged alike in both.
LEFT_OUT = ("epoch", "loss")


def make_image_folder(root):
    """Writes `train/` and `test/` folders of 10 classes of 32x32 PNGs.

    Each class is a colour and a bright band at its own height under
    Gaussian noise (seeded, so every machine writes the same pixels).

    Args:
        root: path. The folder to fill.
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", TRAIN_PER_CLASS),
                         ("test", TEST_PER_CLASS)):
        for label in range(NUM_CLASSES):
            folder = pathlib.Path(root, split, f"class{label}")
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                image = np.zeros((32, 32, 3))
                image[..., label % 3] = 25 * label
                row = (label * 3) % 32
                image[row:row + 6] += 120
                noisy = image + rng.normal(0, 40, image.shape)
                Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(
                    folder / f"{index:03d}.png")


def train(code_dir, work_dir):
    """Trains `RUNS` with `code_dir`'s `benchmarks/study.py`.

    Args:
        code_dir: path. A checkout of one_keras.
        work_dir: path. An empty folder for the data and the runs.

    Returns:
        A dict: run name -> list of per-epoch dicts (metric -> float).
    """
    work_dir = pathlib.Path(work_dir)
    make_image_folder(work_dir / "source")
    env = {**os.environ, "PYTHONPATH": str(code_dir),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("KERAS_BACKEND", None)
    subprocess.run(
        [sys.executable, "benchmarks/study.py",
         f"--source={work_dir / 'source'}",
         f"--subset_dir={work_dir / 'subset'}",
         f"--train_per_class={TRAIN_PER_CLASS}",
         f"--runs_dir={work_dir / 'runs'}",
         f"--results_dir={work_dir / 'results'}",
         f"--runs={','.join(RUNS)}", "--seeds=0", f"--epochs={EPOCHS}",
         f"--depth={DEPTH}"],
        cwd=code_dir, env=env, check=True, capture_output=True)
    return {run: read_log(work_dir / "runs" / f"{run}_e{EPOCHS}_s0"
                          / "log.csv") for run in RUNS}


def read_log(path):
    """Every epoch's trained metrics in a run's `log.csv`."""
    with open(path, newline="") as file:
        return [{key: float(value) for key, value in row.items()
                 if key not in LEFT_OUT} for row in csv.DictReader(file)]


def _commit(code_dir):
    return subprocess.run(["git", "-C", str(code_dir), "rev-parse", "HEAD"],
                          capture_output=True, text=True).stdout.strip()


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def record(code_dir, output):
    """Trains with `code_dir` and writes its trajectory to `output`."""
    with tempfile.TemporaryDirectory() as work_dir:
        trajectory = train(code_dir, work_dir)
    import tensorflow as tf
    obtained = {
        "commit": _commit(code_dir),
        "command": "python tests/scripts/study_trajectory.py --code_dir "
                   "CHECKOUT --output tests/reference/study_trajectory.json",
        "date": datetime.date.today().isoformat(),
        "machine": f"{_cpu_model()} ({os.cpu_count()} cores), Python "
                   f"{platform.python_version()}, TensorFlow {tf.__version__}"}
    pathlib.Path(output).write_text(json.dumps(
        {"obtained": obtained, "epochs": EPOCHS, "depth": DEPTH,
         "runs": trajectory}, indent=1) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code_dir", required=True,
                        help="A checkout of one_keras to train with.")
    parser.add_argument("--output", required=True, help="The JSON to write.")
    arguments = parser.parse_args()
    record(os.path.abspath(arguments.code_dir), arguments.output)


if __name__ == "__main__":
    main()

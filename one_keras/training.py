"""Trains a ONE model from a `TrainConfig` and writes its artifacts."""

import dataclasses
import json
import os
import tempfile
import time

import keras
import numpy as np

from one_keras import data as data_lib
from one_keras import validation
from one_keras.models import build_one_resnet


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs. The CLI builds it from flags.

    Attributes:
        dataset: str. Dataset name (see `one_keras.data.dataset_names()`).
        depth: int. ResNet depth, `6 * n + 2`.
        block: str. `"basic"` or `"bottleneck"`.
        width: int. ResNet stem width.
        num_branches: int. Branches `m + 1` (1 trains the plain network).
        gate: str. `"learned"` or `"average"`.
        epochs: int. Training epochs.
        batch_size: int. Training batch size.
        lr: float. Initial learning rate (x0.1 at 50% and 75% of training).
        momentum: float. SGD momentum.
        nesterov: bool. Nesterov momentum.
        weight_decay: float. Coupled L2 weight decay.
        temperature: float. Distillation temperature.
        kl_rampup_epochs: int. KL ramp-up epochs (0: off).
        seed: int. Random seed.
        output_dir: str. Where artifacts go.
        verbose: int. Keras `fit` verbosity.
    """

    dataset: str = "digits"
    depth: int = 14
    block: str = "basic"
    width: int = 16
    num_branches: int = 3
    gate: str = "learned"
    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    temperature: float = 3.0
    kl_rampup_epochs: int = 0
    seed: int = 0
    output_dir: str = "runs/digits"
    verbose: int = 2

    def __post_init__(self):
        validation.check_int_at_least("epochs", self.epochs, 1)
        validation.check_int_at_least("batch_size", self.batch_size, 1)
        validation.check_positive("lr", self.lr)
        validation.check_non_negative("momentum", self.momentum)


def step_schedule(lr, total_steps):
    """The paper's schedule: `lr`, x0.1 at 50% and again at 75% of training.

    Args:
        lr: float. Initial learning rate.
        total_steps: int. Number of optimizer steps in the whole run.

    Returns:
        A `keras.optimizers.schedules.PiecewiseConstantDecay`.
    """
    boundaries = [max(1, total_steps // 2), max(2, (3 * total_steps) // 4)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        boundaries, [lr, lr * 0.1, lr * 0.01])


def build_model(config, dataset):
    """Builds the `ONEModel` that `config` asks for, sized for `dataset`."""
    return build_one_resnet(
        depth=config.depth, num_classes=dataset.num_classes,
        num_branches=config.num_branches, input_shape=dataset.input_shape,
        block=config.block, gate=config.gate, width=config.width,
        temperature=config.temperature,
        kl_rampup_epochs=config.kl_rampup_epochs,
        weight_decay=config.weight_decay,
        normalization=dataset.normalization)


def count_trainable(model):
    """Number of trainable parameters (no BatchNorm moving statistics)."""
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


def run(config):
    """Trains, evaluates and saves a ONE model.

    Writes `model.keras` (the training model), `target.keras` (trunk and
    branch 0, to deploy), `config.json` and `report.json` to
    `config.output_dir`.

    Args:
        config: `TrainConfig`.

    Returns:
        The report, a dict (also written to `report.json`).
    """
    keras.utils.set_random_seed(config.seed)
    dataset = data_lib.load_dataset(config.dataset)
    model = build_model(config, dataset)
    steps_per_epoch = -(-dataset.num_train // config.batch_size)
    model.compile(optimizer=keras.optimizers.SGD(
        step_schedule(config.lr, steps_per_epoch * config.epochs),
        momentum=config.momentum, nesterov=config.nesterov))
    train = (dataset.train.cache().shuffle(dataset.num_train, seed=config.seed)
             .batch(config.batch_size).prefetch(2))
    test = dataset.test.batch(256).cache().prefetch(2)
    os.makedirs(config.output_dir, exist_ok=True)
    _write_json(os.path.join(config.output_dir, "config.json"),
                dataclasses.asdict(config))
    start = time.perf_counter()
    model.fit(train, epochs=config.epochs, validation_data=test,
              shuffle=False, verbose=config.verbose)
    train_seconds = time.perf_counter() - start
    report = evaluate(model, test)
    report.update({
        "dataset": dataset.name,
        "epochs": config.epochs,
        "train_seconds": round(train_seconds, 2),
        "images_per_second": round(
            dataset.num_train * config.epochs / train_seconds, 1),
        "params_target": count_trainable(model.target_model()),
        "params_ensemble": count_trainable(model.ensemble_model()),
        "params_train": count_trainable(model),
    })
    _save_keras(model, os.path.join(config.output_dir, "model.keras"))
    _save_keras(model.target_model(),
                os.path.join(config.output_dir, "target.keras"))
    _write_json(os.path.join(config.output_dir, "report.json"), report)
    return report


def evaluate(model, test):
    """Test accuracy of every branch, the target and the ONE-E teacher.

    Args:
        model: `ONEModel`.
        test: batched `tf.data.Dataset` of `(images, labels)`.

    Returns:
        A dict with `branch_accuracy` (list), `branch_accuracy_mean`,
        `branch_accuracy_std`, `target_accuracy` (branch 0) and
        `ensemble_accuracy` (the teacher), plus top-5 values beyond 10
        classes.
    """
    results = model.evaluate(test, verbose=0, return_dict=True)
    branches = [float(results[f"branch_{i}_accuracy"])
                for i in range(model.num_branches)]
    report = {
        "target_accuracy": branches[0],
        "ensemble_accuracy": float(results["teacher_accuracy"]),
        "branch_accuracy": branches,
        "branch_accuracy_mean": float(np.mean(branches)),
        "branch_accuracy_std": float(np.std(branches)),
    }
    if model.num_classes > 10:
        report["target_top5_accuracy"] = float(
            results["branch_0_top5_accuracy"])
        report["ensemble_top5_accuracy"] = float(
            results["teacher_top5_accuracy"])
    return report


def format_report(report):
    """Renders the accuracies of a report as a small text table."""
    lines = [f"{'model':<18}{'test accuracy':>14}"]
    for index, accuracy in enumerate(report["branch_accuracy"]):
        lines.append(f"{f'branch {index}':<18}{accuracy:>14.4f}")
    lines.append(f"{'branches mean+-std':<18}"
                 f"{report['branch_accuracy_mean']:>8.4f} +- "
                 f"{report['branch_accuracy_std']:.4f}")
    lines.append(f"{'target (ONE)':<18}{report['target_accuracy']:>14.4f}")
    lines.append(f"{'teacher (ONE-E)':<18}"
                 f"{report['ensemble_accuracy']:>14.4f}")
    lines.append(f"params: target {report['params_target']:,}, ensemble "
                 f"{report['params_ensemble']:,}, training "
                 f"{report['params_train']:,}")
    lines.append(f"trained {report['epochs']} epochs in "
                 f"{report['train_seconds']:.1f} s "
                 f"({report['images_per_second']:.0f} images/s)")
    return "\n".join(lines)


def _save_keras(model, path):
    """Saves a `.keras` file atomically: a crash never leaves half a file."""
    directory = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(suffix=".keras", dir=directory)
    os.close(handle)
    try:
        model.save(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _write_json(path, payload):
    """Writes JSON atomically."""
    temporary = f"{path}.tmp"
    with open(temporary, "w") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True)
    os.replace(temporary, path)

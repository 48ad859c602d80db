"""A run's report: accuracies, costs and library versions, and its text.

`one_keras.experiment.run` writes the report to `report.json`;
`one_keras.evaluate` reports with the same fields, and both print it
through `format_report`.
"""

import platform

import keras
import numpy as np

from one_keras import backends
from one_keras import flops
from one_keras.one_model import ONEModel
from one_keras.parameters import count_shipped
from one_keras.parameters import count_trainable


def accuracy_fields(model, deployed, results, test, num_classes):
    """The accuracy fields of a trained model's report.

    Args:
        model: the trained method model.
        deployed: `keras.Model`. What it deploys (`model.deployed_model()`).
        results: dict. `model.evaluate(test, return_dict=True)`.
        test: the test batches `results` came from.
        num_classes: int. Number of classes.

    Returns:
        For a `ONEModel`, `report_from_results`; for another method, its
        deployed model's `deployed_accuracy` and `results` as `metrics`.
    """
    if isinstance(model, ONEModel):
        return report_from_results(model, results)
    report = deployed_accuracy(deployed, test, num_classes)
    report["metrics"] = results
    return report


def cost_fields(model, deployed):
    """Parameters and FLOPs per image of a trained model and what it deploys.

    Args:
        model: the trained method model.
        deployed: `keras.Model`. What it deploys (`model.deployed_model()`).

    Returns:
        A dict: `params_target` (the weights shipped,
        `one_keras.parameters.count_shipped`), `params_ensemble` (ONE-E's
        trainable parameters, for a `ONEModel`), `params_train` (the
        trainable ones), `flops_target` and `flops_train` (every network a
        training step runs forward).
    """
    fields = {"params_target": count_shipped(deployed)}
    if isinstance(model, ONEModel):
        fields["params_ensemble"] = count_trainable(model.ensemble_model())
    fields.update({
        "params_train": count_trainable(model),
        "flops_target": flops.count_flops(deployed),
        "flops_train": sum(flops.count_flops(network) for network in
                           model.training_networks()),
    })
    return fields


def deployed_accuracy(deployed, test, num_classes):
    """Top-1 (and top-5 beyond 10 classes) test accuracy of a deployed model.

    Args:
        deployed: `keras.Model` mapping images to logits (or log-probabilities).
        test: batches of `(images, labels)` or `(images, labels,
            sample_weights)` (padding weighted 0): a `tf.data.Dataset` or a
            `keras.utils.PyDataset`.
        num_classes: int. Number of classes.

    Returns:
        A dict with `target_accuracy` (and `target_top5_accuracy`).
    """
    # Not `deployed.compile(...)`: `target.keras` would then carry an
    # optimizer that never trained, which `load_model` warns about.
    top1 = keras.metrics.SparseCategoricalAccuracy()
    top5 = keras.metrics.SparseTopKCategoricalAccuracy(k=5)
    for batch in test:
        images, labels, weights = (tuple(batch) + (None,))[:3]
        logits = deployed.predict_on_batch(images)
        top1.update_state(labels, logits, weights)
        if num_classes > 10:
            top5.update_state(labels, logits, weights)
    report = {"target_accuracy": float(top1.result())}
    if num_classes > 10:
        report["target_top5_accuracy"] = float(top5.result())
    return report


def report_from_results(model, results):
    """Turns `ONEModel.evaluate` results into the report's accuracy fields.

    Args:
        model: `ONEModel`.
        results: dict. `model.evaluate(..., return_dict=True)`.

    Returns:
        A dict with `branch_accuracy` (list), `branch_accuracy_mean`,
        `branch_accuracy_std`, `target_accuracy` (branch 0) and
        `ensemble_accuracy` (the teacher), plus `target_top5_accuracy` and
        `ensemble_top5_accuracy` beyond 10 classes.
    """
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


def library_versions():
    """Versions of the libraries a result depends on.

    Returns:
        A dict: `backend`, `keras`, `one_keras`, `python`, and
        `tensorflow`, `jax` or `torch` where they are used.
    """
    import one_keras
    versions = {"backend": backends.backend(), "keras": keras.__version__,
                "one_keras": one_keras.__version__,
                "python": platform.python_version()}
    if backends.tensorflow_installed():
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    if backends.backend() == "jax":
        import jax

        versions["jax"] = jax.__version__
    elif backends.backend() == "torch":
        import torch

        versions["torch"] = torch.__version__
    return versions


def format_report(report):
    """Renders a report (accuracies, costs, speed) as a small text table.

    Args:
        report: dict. A training or evaluation report.

    Returns:
        str. One line per accuracy, then parameters, FLOPs and speed where
        the report has them.
    """
    lines = [f"{'model':<18}{'test accuracy':>14}"]
    for index, accuracy in enumerate(report.get("branch_accuracy", [])):
        lines.append(f"{f'branch {index}':<18}{accuracy:>14.4f}")
    if "branch_accuracy_mean" in report:
        lines.append(f"{'branches mean+-std':<18}"
                     f"{report['branch_accuracy_mean']:>8.4f} +- "
                     f"{report['branch_accuracy_std']:.4f}")
    method = report.get("method", "one")
    label = "target (ONE)" if method == "one" else f"deployed ({method})"
    lines.append(f"{label:<18}{report['target_accuracy']:>14.4f}")
    if "ensemble_accuracy" in report:
        lines.append(f"{'teacher (ONE-E)':<18}"
                     f"{report['ensemble_accuracy']:>14.4f}")
    if "target_top5_accuracy" in report:
        lines.append(f"{'target top-5':<18}"
                     f"{report['target_top5_accuracy']:>14.4f}")
    if "ensemble_top5_accuracy" in report:
        lines.append(f"{'teacher top-5':<18}"
                     f"{report['ensemble_top5_accuracy']:>14.4f}")
    if "params_target" in report:
        params = [f"target {report['params_target']:,}"]
        for key in ("ensemble", "train"):
            if f"params_{key}" in report:
                label = "training" if key == "train" else key
                params.append(f"{label} {report[f'params_{key}']:,}")
        lines.append("params: " + ", ".join(params))
    if "flops_train" in report:
        lines.append(f"FLOPs/image: target {report['flops_target']:.3g}, "
                     f"training {report['flops_train']:.3g}")
    elif "flops_target" in report:
        lines.append(f"FLOPs/image: target {report['flops_target']:.3g}")
    if "train_seconds" in report:
        resumed = (f", resumed at epoch {report['resumed_at_epoch']}"
                   if report.get("resumed_at_epoch") else "")
        lines.append(f"trained {report['epochs']} epochs in "
                     f"{report['train_seconds']:.1f} s "
                     f"({report['images_per_second']:.0f} images/s"
                     f"{resumed})")
    return "\n".join(lines)

"""A run's report: accuracies, costs and library versions, and its text.

`one_keras.training.experiment.run` writes the report to `report.json`;
`one_keras.cli.evaluate` reports with the same fields, and both print it
through `format_report`.
"""

import platform

import keras

from one_keras.reports import flops
from one_keras.reports import provenance
from one_keras.reports.parameters import count_shipped
from one_keras.reports.parameters import count_trainable
from one_keras.utils import backends
from one_keras.utils.version import __version__


def accuracy_fields(model, results, test, num_classes):
    """The accuracy fields of a trained method model's report.

    Args:
        model: the trained method model (`MethodModel`).
        results: dict. `model.evaluate(test, return_dict=True)`.
        test: the test batches `results` came from (normalised images).
        num_classes: int. Number of classes.

    Returns:
        `model.report_fields(results)`, and the accuracy (top-5 too beyond
        10 classes) of every deployable that `evaluate` does not score,
        measured by running it on `test`.
    """
    fields = model.report_fields(results)
    for name, core in model.deployable_cores().items():
        missing = f"{name}_accuracy" not in fields or (
            num_classes > 10 and f"{name}_top5_accuracy" not in fields)
        if not missing:
            continue
        measured = deployed_accuracy(core, test, num_classes)
        fields.setdefault(f"{name}_accuracy", measured["target_accuracy"])
        if num_classes > 10:
            fields.setdefault(f"{name}_top5_accuracy",
                              measured["target_top5_accuracy"])
    return fields


def cost_fields(model):
    """Parameters and FLOPs per image of a trained model and its deployables.

    Args:
        model: the trained method model (`MethodModel`).

    Returns:
        A dict: `params_{name}` (the weights each deployable ships,
        `one_keras.reports.parameters.count_shipped`) and `flops_{name}`
        for every deployable (`params_target`, `params_ensemble`, ...),
        `params_train` (the trainable ones) and `flops_train` (every
        network a training step runs forward).
    """
    cores = model.deployable_cores()
    fields = {f"params_{name}": count_shipped(core)
              for name, core in cores.items()}
    fields["params_train"] = count_trainable(model)
    fields.update({f"flops_{name}": flops.count_flops(core)
                   for name, core in cores.items()})
    fields["flops_train"] = sum(flops.count_flops(network) for network in
                                model.training_networks())
    return fields


def deployed_accuracy(deployed, test, num_classes):
    """Top-1 (and top-5 beyond 10 classes) test accuracy of a deployed model.

    Args:
        deployed: `keras.Model` mapping images to logits (or log-probabilities).
        test: batches of `(images, labels)` or `(images, labels,
            sample_weights)` (padding weighted 0) as `deployed` takes them:
            a `tf.data.Dataset` or a `keras.utils.PyDataset`.
        num_classes: int. Number of classes.

    Returns:
        A dict with `target_accuracy` (and `target_top5_accuracy`).
    """
    # Not `deployed.compile(...)`: a saved deployable would then carry an
    # optimizer that never trained, which `load_model` warns about.
    top1 = keras.metrics.SparseCategoricalAccuracy()
    top5 = keras.metrics.SparseTopKCategoricalAccuracy(k=5)
    for batch in test:
        images, labels, weights = (tuple(batch) + (None,))[:3]
        # float32: a mixed-precision model's logits may be bfloat16, which
        # TensorFlow's top-k kernel refuses.
        logits = keras.ops.cast(deployed.predict_on_batch(images),
                                "float32")
        top1.update_state(labels, logits, weights)
        if num_classes > 10:
            top5.update_state(labels, logits, weights)
    report = {"target_accuracy": float(top1.result())}
    if num_classes > 10:
        report["target_top5_accuracy"] = float(top5.result())
    return report


def library_versions():
    """Versions of the libraries a result depends on.

    Returns:
        A dict: `backend`, `keras`, `one_keras`, `python`, `source` (the
        commit or version, `one_keras.reports.provenance.source_revision`),
        `machine` (the processor, `provenance.machine`), and
        `tensorflow`, `jax` or `torch` where they are used.
    """
    versions = {"backend": backends.backend(), "keras": keras.__version__,
                "one_keras": __version__,
                "python": platform.python_version(),
                "source": provenance.source_revision(),
                "machine": provenance.machine()}
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
    # Each deployable, labelled as its method describes it.
    described = report.get("deployables") or {
        name: name for name in ("target", "ensemble")
        if f"{name}_accuracy" in report}
    rows = [(f"branch {index}", accuracy) for index, accuracy in
            enumerate(report.get("branch_accuracy", []))]
    rows += [(name if text == name else f"{name} ({text})",
              report[f"{name}_accuracy"])
             for name, text in described.items()
             if f"{name}_accuracy" in report]
    rows += [(f"{name} top-5", report[f"{name}_top5_accuracy"])
             for name in described if f"{name}_top5_accuracy" in report]
    width = max([18] + [len(label) + 2 for label, _ in rows])
    lines = [f"{'model':<{width}}{'test accuracy':>14}"]
    lines += [f"{label:<{width}}{value:>14.4f}" for label, value in rows]
    if "branch_accuracy_mean" in report:
        lines.insert(1 + len(report["branch_accuracy"]),
                     f"{'branches mean+-std':<{width}}"
                     f"{report['branch_accuracy_mean']:>8.4f} +- "
                     f"{report['branch_accuracy_std']:.4f}")
    if "params_target" in report:
        params = [f"target {report['params_target']:,}"]
        for key in ("ensemble", "train"):
            if f"params_{key}" in report:
                label = "training" if key == "train" else key
                params.append(f"{label} {report[f'params_{key}']:,}")
        lines.append("params: " + ", ".join(params))
    counted = [f"{label} {report[f'flops_{key}']:.3g}" for key, label in (
        ("target", "target"), ("ensemble", "ensemble"), ("train", "training"))
        if f"flops_{key}" in report]
    if counted:
        lines.append("FLOPs/image: " + ", ".join(counted))
    if "train_seconds" in report:
        resumed = (f", resumed at epoch {report['resumed_at_epoch']}"
                   if report.get("resumed_at_epoch") else "")
        lines.append(f"trained {report['epochs']} epochs in "
                     f"{report['train_seconds']:.1f} s "
                     f"({report['images_per_second']:.0f} images/s"
                     f"{resumed})")
    return "\n".join(lines)

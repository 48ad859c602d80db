"""Trains a ONE model from a `TrainConfig` and writes its artifacts."""

import dataclasses
import json
import os
import platform
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from one_keras import callbacks as callbacks_lib
from one_keras import data as data_lib
from one_keras import flops
from one_keras import methods as methods_lib
from one_keras import validation
from one_keras.models import model_names
from one_keras.one_model import ONEModel

MODELS = tuple(model_names())
RECIPES = ("paper", "code")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
VERBOSITIES = ("auto", 0, 1, 2)
BACKUP_METADATA = "training_metadata.json"  # Written by BackupAndRestore.
# Fields that may change between a run and its resumption.
RESUMABLE_CHANGES = ("verbose", "download", "data_dir")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs. The CLI builds it from flags.

    Attributes:
        dataset: str. Dataset name (see `one_keras.data.dataset_names()`).
        data_dir: str. tfds data directory, or the image folder ("" = tfds'
            default `~/tensorflow_datasets`).
        download: bool. Download and prepare a missing tfds dataset.
        image_size: int. Input side for `imagenet2012`/`image_folder` (0 =
            the dataset's default).
        method: str. Training method: `"one"` or a baseline of the paper
            (`one_keras.methods.METHODS`: vanilla, kd, dml, ensemble,
            snapshot).
        model: str. Backbone name (`"resnet"`: the CIFAR ResNet).
        depth: int. ResNet depth, `6 * n + 2`.
        block: str. `"basic"` or `"bottleneck"`.
        width: int. ResNet stem width.
        num_branches: int. Branches `m + 1` (1 trains the plain network).
        gate: str. `"learned"` or `"average"` (ONE "without gating").
        no_distillation: bool. ONE without the KL term (Table 5).
        no_sharing: bool. ONE with one trunk per branch (Table 5).
        teacher: str. The `.keras` teacher of `method="kd"`.
        alpha: float. KD's distillation weight.
        num_peers: int. Networks of `dml` and `ensemble`.
        num_snapshots: int. Snapshots (learning-rate cycles) of `snapshot`.
        recipe: str. Which recipe the config follows, `"paper"` or `"code"`
            (the authors' code); a label recorded in the report.
        epochs: int. Training epochs.
        batch_size: int. Global training batch size.
        eval_batch_size: int. Test batch size.
        steps_per_epoch: int. Batches per epoch (0 = one pass over the
            training split).
        eval_steps: int. Test batches to evaluate (0 = the whole split).
        lr: float. Initial learning rate (x0.1 at 50% and 75% of training).
        momentum: float. SGD momentum.
        nesterov: bool. Nesterov momentum.
        weight_decay: float. Coupled L2 weight decay.
        temperature: float. Distillation temperature.
        kl_rampup_epochs: int. KL ramp-up epochs (0: off).
        strategy: str. `"auto"`, `"one_device"`, `"mirrored"`,
            `"multi_worker"` or `"tpu"`.
        tpu: str. TPU name or address for `strategy="tpu"` ("" = the
            resolver's default, `"local"` on a TPU VM).
        mixed_precision: bool. `mixed_float16` on GPU, `mixed_bfloat16` on
            TPU and CPU.
        seed: int. Random seed.
        deterministic: bool. Deterministic ops and input order.
        output_dir: str. Where artifacts go.
        verbose: `"auto"` or int. Keras `fit` verbosity: 0 (silent), 1 (a
            progress bar), 2 (one line per epoch); `"auto"` is 1 when
            stdout is a terminal and 2 otherwise (a log file).
    """

    dataset: str = "digits"
    data_dir: str = ""
    download: bool = False
    image_size: int = 0
    method: str = "one"
    model: str = "resnet"
    depth: int = 14
    block: str = "basic"
    width: int = 16
    num_branches: int = 3
    gate: str = "learned"
    no_distillation: bool = False
    no_sharing: bool = False
    teacher: str = ""
    alpha: float = 0.9
    num_peers: int = 2
    num_snapshots: int = 5
    recipe: str = "paper"
    epochs: int = 30
    batch_size: int = 64
    eval_batch_size: int = 256
    steps_per_epoch: int = 0
    eval_steps: int = 0
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    temperature: float = 3.0
    kl_rampup_epochs: int = 0
    strategy: str = "auto"
    tpu: str = ""
    mixed_precision: bool = False
    seed: int = 0
    deterministic: bool = False
    output_dir: str = "runs/digits"
    verbose: int | str = "auto"

    def __post_init__(self):
        validation.check_int_at_least("epochs", self.epochs, 1)
        validation.check_int_at_least("batch_size", self.batch_size, 1)
        validation.check_int_at_least("eval_batch_size",
                                      self.eval_batch_size, 1)
        validation.check_int_at_least("steps_per_epoch",
                                      self.steps_per_epoch, 0)
        validation.check_int_at_least("eval_steps", self.eval_steps, 0)
        validation.check_int_at_least("image_size", self.image_size, 0)
        validation.check_positive("lr", self.lr)
        validation.check_non_negative("momentum", self.momentum)
        validation.check_choice("model", self.model, MODELS)
        validation.check_choice("method", self.method, methods_lib.METHODS)
        if self.method == "kd" and not self.teacher:
            raise ValueError(
                "`teacher` must name a trained `.keras` model for method "
                "'kd' (e.g. a target.keras of a bigger network). Received: "
                "teacher=''")
        validation.check_choice("recipe", self.recipe, RECIPES)
        validation.check_choice("strategy", self.strategy, STRATEGIES)
        validation.check_choice("verbose", self.verbose, VERBOSITIES)


def fit_verbosity(verbose, stream=None):
    """Resolves `TrainConfig.verbose` to the number Keras `fit` takes.

    Args:
        verbose: `"auto"`, 0, 1 or 2.
        stream: the file the progress goes to (default `sys.stdout`).

    Returns:
        `verbose`, with `"auto"` replaced by 1 (a progress bar) when `stream`
        is a terminal and by 2 (one line per epoch, no escape codes)
        otherwise.
    """
    if verbose != "auto":
        return verbose
    stream = sys.stdout if stream is None else stream
    return 1 if getattr(stream, "isatty", lambda: False)() else 2


def step_schedule(lr, total_steps):
    """The paper's schedule: `lr`, x0.1 at 50% and again at 75% of training.

    It counts optimizer steps (`optimizer.iterations`), which the backup
    restores, so a resumed run continues with the right learning rate.

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
    """Builds the training model `config` asks for, sized for `dataset`.

    `--depth`, `--block` and `--width` shape the CIFAR ResNet (`resnet`); the
    zoo models (`one_keras.models.model_names()`) have fixed architectures.
    """
    validation.check_choice("model", config.model, MODELS)
    architecture = {}
    if config.model == "resnet":
        architecture = {"depth": config.depth, "block": config.block,
                        "width": config.width}
    method_options = {
        "one": {"num_branches": config.num_branches, "gate": config.gate,
                "kl_weight": 0.0 if config.no_distillation else 1.0,
                "share_trunk": not config.no_sharing,
                "kl_rampup_epochs": config.kl_rampup_epochs,
                "temperature": config.temperature},
        "kd": {"teacher": config.teacher, "alpha": config.alpha,
               "temperature": config.temperature},
        "dml": {"num_peers": config.num_peers},
        "ensemble": {"num_peers": config.num_peers},
        "snapshot": {"num_snapshots": config.num_snapshots},
    }.get(config.method, {})
    return methods_lib.build_method_model(
        config.method, model_name=config.model,
        num_classes=dataset.num_classes, input_shape=dataset.input_shape,
        weight_decay=config.weight_decay,
        normalization=dataset.normalization, **method_options,
        **architecture)


def learning_rate_schedule(config, total_steps):
    """The paper's step schedule, or cyclic cosine for snapshot ensembles."""
    if config.method == "snapshot":
        return methods_lib.CyclicCosineDecay(config.lr, total_steps,
                                             config.num_snapshots)
    return step_schedule(config.lr, total_steps)


def make_strategy(name, tpu=""):
    """The `tf.distribute` strategy for `name` (see `STRATEGIES`).

    `auto` mirrors over all local GPUs when there are several and otherwise
    uses the default strategy; `multi_worker` reads the cluster from
    `TF_CONFIG` (TensorFlow does); `tpu` connects to the TPU `tpu`.
    """
    validation.check_choice("strategy", name, STRATEGIES)
    if name == "multi_worker":  # Before anything starts the TF runtime.
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            tpu=tpu or None)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(
            gpus[0].name if gpus else "/cpu:0")
    # "mirrored": all GPUs; without any, all logical CPUs.
    devices = gpus or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([d.name for d in devices])


def mixed_precision_policy(strategy):
    """`mixed_float16` on GPU, `mixed_bfloat16` on TPU and CPU."""
    if isinstance(strategy, tf.distribute.TPUStrategy) or not \
            tf.config.list_logical_devices("GPU"):
        return "mixed_bfloat16"
    return "mixed_float16"


def count_trainable(model):
    """Number of trainable parameters (no BatchNorm moving statistics)."""
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


def run(config, callbacks=None):
    """Trains (or resumes), evaluates and saves a ONE model.

    Writes to `config.output_dir`: `config.json`, `checkpoint.keras` (every
    epoch), `backup/` (`keras.callbacks.BackupAndRestore`: rerunning the same
    config resumes there), `log.csv`, `tensorboard/`, and at the end
    `model.keras` (the training model), `target.keras` (trunk and branch 0,
    to deploy) and `report.json`. Under `multi_worker`, workers other than
    the chief write to `output_dir/workers/<task>`.

    Args:
        config: `TrainConfig`.
        callbacks: list of `keras.callbacks.Callback` or `None`. Added to
            the run's own callbacks.

    Returns:
        The report, a dict (also written to `report.json`).
    """
    # First: collective ops (multi_worker) must be set up before any TF op.
    strategy = make_strategy(config.strategy, config.tpu)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    previous_policy = keras.mixed_precision.global_policy()
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy(
            mixed_precision_policy(strategy))
    try:
        return _run(config, strategy, list(callbacks or []))
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _output_dir(config, strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if config.strategy != "multi_worker" or resolver is None or \
            strategy.extended.should_checkpoint:
        return config.output_dir
    return os.path.join(config.output_dir, "workers",
                        f"{resolver.task_type}_{resolver.task_id}")


def _resume_epoch(backup_dir, config, output_dir):
    """The epoch a backup resumes at (0 without one); refuses another config.
    """
    path = os.path.join(backup_dir, BACKUP_METADATA)
    if not os.path.exists(path):
        return 0
    config_path = os.path.join(output_dir, "config.json")
    if os.path.exists(config_path):
        with open(config_path) as handle:
            saved = json.load(handle)
        current = dataclasses.asdict(config)
        changed = sorted(k for k in current if k not in RESUMABLE_CHANGES
                         and saved.get(k) != current[k])
        if changed:
            raise ValueError(
                f"`output_dir` holds an unfinished run with other settings "
                f"({', '.join(changed)}), which would be resumed. Use another "
                f"--output_dir or delete {output_dir}. Received: "
                f"output_dir={output_dir}")
    with open(path) as handle:
        return int(json.load(handle)["epoch"])


def _run(config, strategy, extra_callbacks):
    dataset = data_lib.load_dataset(
        config.dataset, data_dir=config.data_dir or None,
        download=config.download, seed=config.seed,
        image_size=config.image_size or None)
    output_dir = _output_dir(config, strategy)
    os.makedirs(output_dir, exist_ok=True)
    backup_dir = os.path.join(output_dir, "backup")
    start_epoch = min(_resume_epoch(backup_dir, config, output_dir),
                      config.epochs)
    _write_json(os.path.join(output_dir, "config.json"),
                dataclasses.asdict(config))
    steps = config.steps_per_epoch or data_lib.steps_per_epoch(
        dataset, config.batch_size)
    with strategy.scope():
        model = build_model(config, dataset)
        model.compile(optimizer=keras.optimizers.SGD(
            learning_rate_schedule(config, steps * config.epochs),
            momentum=config.momentum, nesterov=config.nesterov))
    tpu = isinstance(strategy, tf.distribute.TPUStrategy)
    train = data_lib.train_pipeline(
        dataset, config.batch_size, seed=config.seed, epochs=config.epochs,
        # Past the last epoch (killed while saving), nothing is consumed.
        start_epoch=min(start_epoch, config.epochs - 1), steps=steps,
        deterministic=config.deterministic, drop_remainder=tpu)
    test = data_lib.eval_pipeline(dataset, config.eval_batch_size,
                                  steps=config.eval_steps or None,
                                  drop_remainder=tpu)
    nan_guard = callbacks_lib.TerminateOnNaNWithAdvice()
    method_callbacks = {
        "one": [callbacks_lib.KLRampUp(config.kl_rampup_epochs)],
        "snapshot": [methods_lib.SnapshotCallback(config.epochs)],
    }.get(config.method, [])
    callbacks = [
        *method_callbacks,
        nan_guard,
        keras.callbacks.BackupAndRestore(backup_dir, delete_checkpoint=False),
        callbacks_lib.AtomicCheckpoint(lambda m: _save_keras(
            m, os.path.join(output_dir, "checkpoint.keras"))),
        keras.callbacks.CSVLogger(os.path.join(output_dir, "log.csv"),
                                  append=start_epoch > 0),
        keras.callbacks.TensorBoard(os.path.join(output_dir, "tensorboard")),
        *extra_callbacks,
    ]
    start = time.perf_counter()
    if config.strategy == "multi_worker":
        _fit_multi_worker(model, strategy, train, steps, config,
                          start_epoch, callbacks)
        results = _evaluate_distributed(model, strategy, test)
    else:
        model.fit(train, epochs=config.epochs, steps_per_epoch=steps,
                  validation_data=test, initial_epoch=start_epoch,
                  shuffle=False, verbose=fit_verbosity(config.verbose),
                  callbacks=callbacks)
        results = None
    train_seconds = time.perf_counter() - start
    if nan_guard.bad_batch is not None:
        raise FloatingPointError(
            f"The loss became NaN or infinite at epoch {nan_guard.epoch + 1}, "
            f"batch {nan_guard.bad_batch + 1}; training stopped. Try a lower "
            f"--lr (now {config.lr}), turn off --mixed_precision, or check "
            "the data (labels in range, finite normalised images).")
    if results is None:
        results = model.evaluate(test, verbose=0, return_dict=True)
    epochs_run = config.epochs - start_epoch
    images = epochs_run * steps * config.batch_size
    deployed = model.deployed_model()
    if isinstance(model, ONEModel):
        report = report_from_results(model, results)
        report["params_ensemble"] = count_trainable(model.ensemble_model())
    else:
        report = deployed_accuracy(deployed, test, dataset.num_classes)
        report["metrics"] = results
    report.update({
        "method": config.method,
        "dataset": dataset.name,
        "recipe": config.recipe,
        "epochs": config.epochs,
        "resumed_at_epoch": start_epoch,
        "train_seconds": round(train_seconds, 2),
        "images_per_second": round(images / max(train_seconds, 1e-9), 1),
        "params_target": methods_lib.count_parameters(deployed),
        "params_train": count_trainable(model),
        "flops_target": flops.count_flops(deployed),
        "flops_train": sum(flops.count_flops(network) for network in
                           methods_lib.training_networks(model)),
        "replicas": strategy.num_replicas_in_sync,
        "config": dataclasses.asdict(config),
        "versions": library_versions(),
    })
    _save_keras(model, os.path.join(output_dir, "model.keras"))
    _save_keras(deployed, os.path.join(output_dir, "target.keras"))
    _write_json(os.path.join(output_dir, "report.json"), report)
    return report


def deployed_accuracy(deployed, test, num_classes):
    """Top-1 (and top-5 beyond 10 classes) test accuracy of a deployed model.

    Args:
        deployed: `keras.Model` mapping images to logits (or log-probabilities).
        test: batched `tf.data.Dataset` of `(images, labels)`.
        num_classes: int. Number of classes.

    Returns:
        A dict with `target_accuracy` (and `target_top5_accuracy`).
    """
    metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if num_classes > 10:
        metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(
            k=5, name="top5_accuracy"))
    deployed.compile(loss=keras.losses.SparseCategoricalCrossentropy(
        from_logits=True), metrics=metrics)
    results = deployed.evaluate(test, verbose=0, return_dict=True)
    report = {"target_accuracy": float(results["accuracy"])}
    if "top5_accuracy" in results:
        report["target_top5_accuracy"] = float(results["top5_accuracy"])
    return report


def _fit_multi_worker(model, strategy, train, steps, config, start_epoch,
                      callbacks):
    """A `fit` loop for `MultiWorkerMirroredStrategy` (keras-team/keras#20585).

    It runs `ONEModel.train_step` in every replica (the same loss, metrics
    and optimizer step as `fit`) and drives the same callbacks, so backups,
    checkpoints and logs are the ones `fit` writes. Trainable weights are
    identical on every worker; BatchNorm moving statistics are each worker's
    own (as with `fit` under `MirroredStrategy`), and the chief's are saved.
    """
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)  # Before run().
    iterator = iter(strategy.experimental_distribute_dataset(train))

    @tf.function
    def train_step():
        strategy.run(model.train_step, args=(next(iterator),))

    verbose = fit_verbosity(config.verbose)
    callback_list = keras.callbacks.CallbackList(
        callbacks, add_history=True, add_progbar=verbose != 0,
        model=model, verbose=verbose, epochs=config.epochs,
        steps=steps)
    model.stop_training = False
    callback_list.on_train_begin()
    logs = {}
    for epoch in range(start_epoch, config.epochs):
        for metric in model.metrics:
            metric.reset_state()
        callback_list.on_epoch_begin(epoch)
        for step in range(steps):
            callback_list.on_train_batch_begin(step)
            train_step()
            logs = _as_floats(model.get_metrics_result())
            callback_list.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)


def _evaluate_distributed(model, strategy, test):
    """`model.evaluate` through `strategy.run(model.test_step)`."""
    for metric in model.metrics:
        metric.reset_state()

    @tf.function
    def test_step(batch):
        strategy.run(model.test_step, args=(batch,))

    for batch in strategy.experimental_distribute_dataset(test):
        test_step(batch)
    return _as_floats(model.get_metrics_result())


def _as_floats(logs):
    return {k: float(v) for k, v in logs.items()}


def evaluate(model, test):
    """Test accuracy of every branch, the target and the ONE-E teacher.

    Args:
        model: `ONEModel`.
        test: batched `tf.data.Dataset` of `(images, labels)`.

    Returns:
        A dict, see `report_from_results`.
    """
    return report_from_results(
        model, model.evaluate(test, verbose=0, return_dict=True))


def report_from_results(model, results):
    """Turns `ONEModel.evaluate` results into the report's accuracy fields.

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
    """Versions of the libraries a result depends on."""
    import one_keras
    return {"tensorflow": tf.__version__, "keras": keras.__version__,
            "one_keras": one_keras.__version__,
            "python": platform.python_version()}


def format_report(report):
    """Renders a report (accuracies, costs, speed) as a small text table."""
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

"""Runs a training experiment: a `TrainConfig` in; a trained, evaluated and
saved model and its report out (`run`)."""

import contextlib
import os
import sys
import time

import keras

from one_keras import backends
from one_keras import backup as backup_lib
from one_keras import callbacks as callbacks_lib
from one_keras import curves
from one_keras import distribution
from one_keras import methods as methods_lib
from one_keras import multi_worker
from one_keras import reporting
from one_keras import run_directory
from one_keras import run_inputs
from one_keras import run_layout
from one_keras import run_lock
from one_keras import validation
from one_keras.json_files import write_json
from one_keras.run_config import MODELS
# `training.TrainConfig(...)`: the argument of `run`, beside it.
from one_keras.run_config import TrainConfig  # noqa: F401
from one_keras.run_config import fit_verbosity


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
        architecture = {"depth": config.depth,
                        "block": config.recipe_value("block"),
                        "width": config.width}
    request = methods_lib.BuildRequest(
        model_name=config.model, num_classes=dataset.num_classes,
        input_shape=dataset.input_shape, weight_decay=config.weight_decay,
        normalization=dataset.normalization, sync_bn=config.sync_bn,
        architecture=architecture)
    return methods_lib.get_method(config.method).build(
        config.method_options(), request)


def learning_rate_schedule(config, total_steps):
    """The method's schedule, else the paper's step schedule."""
    method = methods_lib.get_method(config.method)
    if method.schedule is not None:
        return method.schedule(config.method_options(), config.lr,
                               total_steps)
    return step_schedule(config.lr, total_steps)


def run(config, callbacks=None):
    """Trains (or resumes), evaluates and saves a ONE model.

    Writes to `config.output_dir` (`one_keras.run_directory`): `run.lock`
    (while it runs; a second run there is refused), `config.json`,
    `checkpoint.keras` (every epoch), `backup/` (`one_keras.backup`:
    rerunning the same config resumes there; only
    `run_directory.RESUMABLE_CHANGES` may differ), `log.csv`,
    `tensorboard/`, and at the end `model.keras` (the training model),
    `target.keras` (trunk and branch 0, to deploy) and `report.json`. A
    non-finite loss stops the run before that epoch is saved. Rerunning a
    finished run returns its report. Under `multi_worker`, workers other
    than the chief write to `output_dir/workers/<task>`.

    Args:
        config: `TrainConfig`.
        callbacks: list of `keras.callbacks.Callback` or `None`. Added to
            the run's own callbacks.

    Returns:
        The report, a dict (also written to `report.json`).

    Raises:
        ValueError: bad settings, another run in `output_dir`, or a run there
            with other settings.
        FloatingPointError: the loss or weights stopped being finite.
    """
    # First: collective ops (multi_worker) must be set up before any TF op.
    strategy = distribution.make_strategy(config.strategy, config.tpu)
    distribution.check_batch_sizes(
        strategy, batch_size=config.batch_size,
        eval_batch_size=config.eval_batch_size)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        distribution.enable_determinism()
    previous_policy = keras.mixed_precision.global_policy()
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy(
            distribution.mixed_precision_policy(strategy))
    try:
        return _run(config, strategy, list(callbacks or []))
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _run(config, strategy, extra_callbacks):
    output_dir = run_directory.worker_output_dir(config, strategy)
    created = not os.path.isdir(output_dir)
    try:
        with run_lock.locked(output_dir, warn=_warn):
            return _run_locked(config, strategy, extra_callbacks, output_dir)
    except BaseException:
        if created:  # Failed before writing anything: leave no trace.
            with contextlib.suppress(OSError):
                os.rmdir(output_dir)
        raise


def _run_locked(config, strategy, extra_callbacks, output_dir):
    run_directory.remove_partial_files(output_dir)
    finished = run_directory.finished_report(config, output_dir,
                                             warn=_warn)
    if finished is not None:
        return finished
    dataset = run_inputs.load_run_dataset(config)
    backup_dir = os.path.join(output_dir, run_layout.BACKUP_NAME)
    states = [] if config.restart else backup_lib.list_states(backup_dir)
    changes = (run_directory.resumable_changes(
        config, output_dir, states, dataset.num_classes) if states else {})
    steps = config.steps_per_epoch or -(-dataset.num_train //
                                        config.batch_size)
    with strategy.scope():
        model = build_model(config, dataset)
        model.compile(optimizer=keras.optimizers.SGD(
            learning_rate_schedule(config, steps * config.epochs),
            momentum=config.momentum,
            nesterov=config.recipe_value("nesterov")))
        try:
            start_epoch, state = (backup_lib.restore_newest(
                model, backup_dir, warn=_warn) if states else (0, {}))
        except backup_lib.IncompatibleBackupError as error:
            raise ValueError(run_directory.unresumable(
                output_dir, str(error))) from None
        if config.strategy == "multi_worker":
            start_epoch, state = multi_worker.agree_on_backup(
                model, strategy, backup_dir, start_epoch, state, warn=_warn)
    start_epoch = min(start_epoch, config.epochs)
    history = list(state.get("resumed_with_changes", []))
    if start_epoch and changes:
        history.append({"epoch": start_epoch, **changes})
    previous_seconds = float(state.get("train_seconds", 0.0))
    train, test = run_inputs.fit_inputs(config, dataset, strategy,
                                        start_epoch, steps)
    # A backup and checkpoint.keras per epoch: refuse now, not after an epoch.
    backup_lib.check_free_space(output_dir,
                                2 * backup_lib.state_bytes(model))
    # Every check passed: only now the directory holds this run's config.
    if config.restart:
        run_directory.discard_run(output_dir)
    write_json(os.path.join(output_dir, run_layout.CONFIG_NAME),
               config.settings())
    # Before the savers: an epoch whose loss or weights are not finite is
    # never saved, so backup/ and checkpoint.keras keep the last good state.
    nan_guard = callbacks_lib.TerminateOnNaNWithAdvice()
    method_callbacks = methods_lib.get_method(config.method).callbacks(
        config.method_options(), config.epochs)
    start = time.perf_counter()

    def state_metadata(epoch):
        return {"train_seconds": round(
                    previous_seconds + time.perf_counter() - start, 3),
                "resumed_with_changes": history,
                # What a rerun checks when config.json is unreadable.
                "config": config.settings(),
                "num_classes": dataset.num_classes}

    def finite():
        return not nan_guard.triggered

    log_path = os.path.join(output_dir, run_layout.LOG_NAME)
    if start_epoch:
        run_directory.trim_log(log_path, start_epoch)
    callbacks = [
        *method_callbacks,
        nan_guard,
        # Before the backup: a kill right after it cannot lose the row, and
        # a row whose backup was not written is trimmed on resume.
        keras.callbacks.CSVLogger(log_path, append=start_epoch > 0),
        backup_lib.EpochBackup(backup_dir, state_metadata,
                               should_save=finite),
        callbacks_lib.AtomicCheckpoint(lambda m: run_directory.save_keras(
            m, os.path.join(output_dir, run_layout.CHECKPOINT_NAME)),
            should_save=finite),
        *extra_callbacks,
    ]
    if backends.tensorflow_installed():  # Keras writes summaries with TF.
        callbacks.insert(-len(extra_callbacks) or len(callbacks),
                         keras.callbacks.TensorBoard(os.path.join(
                             output_dir, run_layout.TENSORBOARD_NAME)))
    if config.strategy == "multi_worker":
        multi_worker.fit_multi_worker(model, strategy, train, steps, config,
                                      start_epoch, callbacks)
        results = multi_worker.evaluate_distributed(model, strategy, test)
    else:
        _fit(model, strategy, train, config, steps, test, start_epoch,
             callbacks)
        results = None
    train_seconds = previous_seconds + time.perf_counter() - start
    return _finish(config, strategy, model, dataset, test, state, steps,
                   start_epoch, history, results, train_seconds, nan_guard,
                   output_dir)


def _fit(model, strategy, train, config, steps, test, start_epoch,
         callbacks):
    """`model.fit`, under the strategy's distribution where the backend
    needs it at run time (JAX's `DataParallel`)."""
    with distribution.run_scope(strategy):
        model.fit(train, epochs=config.epochs, steps_per_epoch=steps,
                  validation_data=test, initial_epoch=start_epoch,
                  shuffle=False, verbose=fit_verbosity(config.verbose),
                  callbacks=callbacks)


def _finish(config, strategy, model, dataset, test, state, steps,
            start_epoch, history, results, train_seconds, nan_guard,
            output_dir):
    """Evaluates the trained model, writes its files and the report."""
    if nan_guard.triggered:
        raise FloatingPointError(
            f"{nan_guard.advice(config.lr)} The last finite state is kept: "
            "a rerun in the same --output_dir with a lower --lr resumes "
            "from it.")
    if results is None:
        with distribution.run_scope(strategy):
            results = model.evaluate(test, verbose=0, return_dict=True)
    # A resumed run's earlier epochs count when their time is known.
    epochs_timed = config.epochs - (0 if "train_seconds" in state
                                    else start_epoch)
    images = epochs_timed * steps * config.batch_size
    deployed = model.deployed_model()
    report = reporting.accuracy_fields(model, deployed, results, test,
                                       dataset.num_classes)
    report.update({
        "method": config.method,
        "dataset": dataset.name,
        "augment": dataset.augmentation,
        "recipe": config.recipe,
        "epochs": config.epochs,
        "resumed_at_epoch": start_epoch,
        "resumed_with_changes": history,
        "train_seconds": round(train_seconds, 2),
        "images_per_second": round(images / max(train_seconds, 1e-9), 1),
        **reporting.cost_fields(model, deployed),
        "replicas": strategy.num_replicas_in_sync,
        "sync_bn": config.sync_bn,
        "config": config.settings(),
        "versions": reporting.library_versions(),
    })
    run_directory.save_keras(
        model, os.path.join(output_dir, run_layout.MODEL_NAME))
    run_directory.save_keras(
        deployed, os.path.join(output_dir, run_layout.TARGET_NAME))
    write_json(os.path.join(output_dir, run_layout.REPORT_NAME), report)
    _draw_curves(output_dir)
    return report


def _draw_curves(output_dir):
    """`curves.png` from the run's `log.csv`; without matplotlib, a line
    saying so instead (the run itself is done)."""
    try:
        curves.draw_run(output_dir)
    except ImportError as error:
        _warn(f"{run_layout.CURVES_NAME} not drawn: {error} (pip install "
              "matplotlib)")


def _warn(line):
    print(line, file=sys.stderr)

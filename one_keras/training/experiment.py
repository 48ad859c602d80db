"""Runs a training experiment: a `TrainConfig` in; a trained, evaluated and
saved model and its report out (`run`)."""

import contextlib
import dataclasses
import os
import sys
import time

import keras

from one_keras import methods as methods_lib
from one_keras.models import deployment
from one_keras.reports import curves
from one_keras.reports import run_report
from one_keras.runs import ResumeState
from one_keras.runs import RunDirectory
from one_keras.runs import resume
from one_keras.training import callbacks as callbacks_lib
from one_keras.training import distribution
from one_keras.training import multi_worker
from one_keras.training import precision
from one_keras.training import train_inputs
# `experiment.TrainConfig(...)`: the argument of `run`, beside it.
from one_keras.training.train_config import TrainConfig  # noqa: F401
from one_keras.training.train_config import fit_verbosity
from one_keras.utils import backends


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

    The backbone gets its architecture options (`config.architecture()`:
    `--depth`, `--block` and `--width` for the CIFAR ResNet, none for the
    zoo models of fixed architectures).
    """
    architecture = config.architecture()
    request = methods_lib.BuildRequest(
        model_name=config.backbone, num_classes=dataset.num_classes,
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

    Writes to `config.output_dir` (a `one_keras.runs.RunDirectory`):
    `run.lock` (while it runs; a second run there is refused), `config.json`,
    `inputs.json` (`train_inputs.inputs_record`: the class names, the data
    location, KD's teacher; a resume on data of other classes is refused),
    `checkpoint.keras` (every epoch), `backup/` (`one_keras.runs.backup`:
    rerunning the same config resumes there; only
    `runs.resume.RESUMABLE_CHANGES` may differ), `log.csv`,
    `tensorboard/`, and at the end `model.keras` (the training model),
    `<name>.keras` for every deployable the method declares
    (`target.keras`, `ensemble.keras`, ...: raw pixels in, logits out) and
    `report.json`. A
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
    # The policy it trains under, recorded in config.json and the report.
    config = _with_recorded_policy(config, strategy).resolved(strategy)
    if config.dtype_policy == "mixed_bfloat16" and \
            precision.emulates_bfloat16_slowly(strategy):
        _warn("mixed_bfloat16 on a processor without bfloat16 units "
              f"(CPU flags {' or '.join(precision.BF16_CPU_FLAGS)}, TPU, GPU "
              "of compute capability >= 8.0) is emulated: measured ~8x "
              "slower than float32 on TensorFlow, not on JAX "
              "(docs/performance.md).")
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(config.dtype_policy)
    try:
        return _run(config, strategy, list(callbacks or []))
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _with_recorded_policy(config, strategy):
    """`config`, where its `dtype_policy` is `auto`, with the policy of the
    run its `output_dir` holds (unless `restart`): a run resumes, or
    returns its report, under the arithmetic it trained under, on any
    machine; `auto` chooses only for a new run."""
    if config.dtype_policy != "auto" or config.mixed_precision or \
            config.restart:
        return config
    saved = RunDirectory.of_worker(config, strategy).read_config()
    policy = resume.recorded_dtype_policy(saved) if saved else None
    if policy in precision.DTYPE_POLICIES and policy != "auto":
        return dataclasses.replace(config, dtype_policy=policy)
    return config


def _run(config, strategy, extra_callbacks):
    run_dir = RunDirectory.of_worker(config, strategy)
    # A folder that is not a run's is refused before anything is written.
    run_dir.check_writable()
    created = not os.path.isdir(run_dir.path)
    try:
        with run_dir.locked(warn=_warn):
            return _run_locked(config, strategy, extra_callbacks, run_dir)
    except BaseException:
        # Failed before writing anything: leave no trace.
        if run_dir.unmark_if_unused() and created:
            with contextlib.suppress(OSError):
                os.rmdir(run_dir.path)
        raise


@dataclasses.dataclass
class _Training:
    """A run being trained: what its steps share.

    Attributes:
        config: `TrainConfig`.
        strategy: the run's distribution strategy.
        run_dir: `RunDirectory`. Where this worker writes.
        dataset: the loaded `Dataset`.
        steps: int. Batches per epoch.
        model: the compiled training model (`None` until built).
        resume: `ResumeState`. What it resumed from (epoch 0: a fresh
            start).
        history: list of dict. Every resume's changed settings (this one's
            last).
        train, test: the `fit` inputs (`None` until made).
    """

    config: TrainConfig
    strategy: object
    run_dir: RunDirectory
    dataset: object
    steps: int
    model: object = None
    resume: ResumeState = ResumeState()
    history: list = dataclasses.field(default_factory=list)
    train: object = None
    test: object = None

    @property
    def start_epoch(self):
        """The first epoch `fit` trains."""
        return self.resume.epoch


def _run_locked(config, strategy, extra_callbacks, run_dir):
    """The steps of a run, in `run_dir`, under its lock."""
    run_dir.check_writable()  # Again, now that no other run can change it.
    run_dir.mark()  # First: the folder is a run's before it is written.
    run_dir.remove_partial_files()
    finished = run_dir.finished_report(config, warn=_warn)
    if finished is not None:
        if not os.path.exists(run_dir.curves_path):  # Killed before it.
            run_dir.record_final_files(())
            _draw_curves(run_dir)
        return finished
    dataset = train_inputs.load_train_dataset(config)
    states = [] if config.restart else run_dir.backup_states()
    changes = (run_dir.resumable_changes(config, states, dataset.num_classes)
               if states else {})
    if states:
        train_inputs.check_same_classes(
            run_dir, train_inputs.inputs_record(config, dataset))
    run = _Training(config, strategy, run_dir, dataset, steps=(
        config.steps_per_epoch or -(-dataset.num_train // config.batch_size)))
    _build_and_restore(run, resume=bool(states))
    run.history = list(run.resume.resumed_with_changes)
    if run.start_epoch and changes:
        run.history.append({"epoch": run.start_epoch, **changes})
    run.train, run.test = train_inputs.fit_inputs(
        config, dataset, strategy, run.start_epoch, run.steps)
    # A backup and checkpoint.keras per epoch: refuse now, not after an epoch.
    run_dir.check_free_space(run.model, copies=2)
    # Every check passed: only now the directory holds this run's config.
    if config.restart:
        run_dir.discard()
    run_dir.record_training_files()
    # What predict and evaluate read later: the classes, the data location.
    # Before config.json, so that a run's settings never stand beside the
    # inputs of the run that `--restart` replaced (a manifest of an earlier
    # version may not list inputs.json, which `discard` then keeps).
    run_dir.write_inputs(train_inputs.inputs_record(config, dataset, run.model))
    run_dir.write_config(config.settings())
    return _train_and_finish(run, extra_callbacks)


def _build_and_restore(run, resume):
    """Builds and compiles `run.model` in the strategy's scope and restores
    its newest backup into it (when `resume`), setting `run.resume`."""
    config = run.config
    with run.strategy.scope():
        run.model = build_model(config, run.dataset)
        run.model.compile(optimizer=keras.optimizers.SGD(
            learning_rate_schedule(config, run.steps * config.epochs),
            momentum=config.momentum,
            nesterov=config.recipe_value("nesterov")))
        state = (run.run_dir.restore(run.model, warn=_warn) if resume
                 else ResumeState())
        if config.strategy == "multi_worker":
            state = multi_worker.agree_on_backup(
                run.model, run.strategy, run.run_dir, state, warn=_warn)
    run.resume = dataclasses.replace(state,
                                     epoch=min(state.epoch, config.epochs))


def _train_and_finish(run, extra_callbacks):
    """Trains `run` from its start epoch to the end, then `_finish`."""
    config, run_dir, model = run.config, run.run_dir, run.model
    # Before the savers: an epoch whose loss or weights are not finite is
    # never saved, so backup/ and checkpoint.keras keep the last good state.
    nan_guard = callbacks_lib.TerminateOnNaNWithAdvice()
    method_callbacks = methods_lib.get_method(config.method).callbacks(
        config.method_options(), config.epochs)
    start = time.perf_counter()

    def backup_state(epoch):
        return ResumeState(
            epoch=epoch, train_seconds=round(
                run.resume.previous_seconds + time.perf_counter() - start,
                3),
            resumed_with_changes=tuple(run.history),
            # What a rerun checks when config.json is unreadable.
            config=config.settings(), num_classes=run.dataset.num_classes,
            # A resume on another backend is refused.
            backend=backends.backend())

    def finite():
        return not nan_guard.triggered

    if run.start_epoch:
        run_dir.trim_log(run.start_epoch)
    callbacks = [
        *method_callbacks,
        nan_guard,
        # Before the backup: a kill right after it cannot lose the row, and
        # a row whose backup was not written is trimmed on resume.
        keras.callbacks.CSVLogger(run_dir.log_path,
                                  append=run.start_epoch > 0),
        run_dir.epoch_backup(backup_state, should_save=finite),
        callbacks_lib.AtomicCheckpoint(
            run_dir.save_checkpoint,
            should_save=finite),
        *extra_callbacks,
    ]
    if backends.tensorflow_installed():  # Keras writes summaries with TF.
        callbacks.insert(-len(extra_callbacks) or len(callbacks),
                         keras.callbacks.TensorBoard(run_dir.tensorboard_dir))
    if config.strategy == "multi_worker":
        multi_worker.fit_multi_worker(model, run.strategy, run.train,
                                      run.steps, config, run.start_epoch,
                                      callbacks)
        results = multi_worker.evaluate_distributed(model, run.strategy,
                                                    run.test)
    else:
        _fit(model, run.strategy, run.train, config, run.steps, run.test,
             run.start_epoch, callbacks)
        results = None
    train_seconds = run.resume.previous_seconds + time.perf_counter() - start
    return _finish(run, results, train_seconds, nan_guard)


def _fit(model, strategy, train, config, steps, test, start_epoch,
         callbacks):
    """`model.fit`, under the strategy's distribution where the backend
    needs it at run time (JAX's `DataParallel`)."""
    with distribution.run_scope(strategy):
        model.fit(train, epochs=config.epochs, steps_per_epoch=steps,
                  validation_data=test, initial_epoch=start_epoch,
                  shuffle=False, verbose=fit_verbosity(config.verbose),
                  callbacks=callbacks)


def _finish(run, results, train_seconds, nan_guard):
    """Evaluates the trained model, writes its files and the report."""
    config, strategy, model, dataset, test, steps, start_epoch, history = (
        run.config, run.strategy, run.model, run.dataset, run.test,
        run.steps, run.start_epoch, run.history)
    run_dir = run.run_dir
    if nan_guard.triggered:
        raise FloatingPointError(
            f"{nan_guard.advice(config.lr)} The last finite state is kept: "
            "a rerun in the same --output_dir with a lower --lr resumes "
            "from it.")
    if results is None:
        with distribution.run_scope(strategy):
            results = model.evaluate(test, verbose=0, return_dict=True)
    # A resumed run's earlier epochs count when their time is known.
    epochs_timed = config.epochs - (
        0 if run.resume.train_seconds is not None else start_epoch)
    images = epochs_timed * steps * config.batch_size
    report = run_report.accuracy_fields(model, results, test,
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
        **run_report.cost_fields(model),
        "replicas": strategy.num_replicas_in_sync,
        "sync_bn": config.sync_bn,
        "config": config.settings(),
        "versions": run_report.library_versions(),
    })
    deployables = model.deployables()
    run_dir.record_final_files(deployables)
    run_dir.save_training_model(model)
    # Every deployable the method declares, as `<name>.keras`: raw pixels
    # in, logits out, stock Keras layers only.
    for name, deployable in deployables.items():
        run_dir.save_deployable(name, deployment.stock_copy(deployable))
    # Before the report: a finished run (its report written) has its curves.
    _draw_curves(run_dir)
    run_dir.write_report(report)
    return report


def _draw_curves(run_dir):
    """`curves.png` from the run's `log.csv`; without matplotlib, a line
    saying so instead (the run itself is done)."""
    try:
        curves.draw_run(run_dir.path)
    except ImportError as error:
        _warn(f"{os.path.basename(run_dir.curves_path)} not drawn: {error} "
              "(pip install matplotlib)")


def _warn(line):
    print(line, file=sys.stderr)

"""Training and evaluating under `MultiWorkerMirroredStrategy`.

Under `multi_worker`, `one_keras.training.experiment.run` trains through
`fit_multi_worker` and evaluates through `evaluate_distributed` instead of
Keras' `fit` and `evaluate` (keras-team/keras#20585): the same steps,
callbacks and metrics, in a loop of `strategy.run` calls.
"""

import keras

from one_keras.training.train_config import fit_verbosity


def fit_multi_worker(model, strategy, train, steps, config, start_epoch,
                     callbacks):
    """A `fit` loop for `MultiWorkerMirroredStrategy` (keras-team/keras#20585).

    It runs `ONEModel.train_step` in every replica (the same loss, metrics
    and optimizer step as `fit`) and drives the same callbacks, so backups,
    checkpoints and logs are the ones `fit` writes. Trainable weights are
    identical on every worker; BatchNorm moving statistics are each worker's
    own (as with `fit` under `MirroredStrategy`), and the chief's are saved,
    unless `config.sync_bn`: then every replica normalises with the global
    batch's statistics and all keep the same moving statistics.

    Args:
        model: the compiled training model, built in `strategy`'s scope.
        strategy: the `MultiWorkerMirroredStrategy`.
        train: `tf.data.Dataset` of the global training batches.
        steps: int. Steps per epoch.
        config: `one_keras.training.train_config.TrainConfig`. Its `epochs` and
            `verbose`.
        start_epoch: int. The first epoch to train.
        callbacks: list of `keras.callbacks.Callback`.
    """
    model.build_optimizer()  # Before run().
    import tensorflow as tf

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


def agree_on_backup(model, strategy, run_dir, state, warn=print):
    """The backup every worker resumes from under `multi_worker`.

    Each worker restored its own newest usable backup (`epoch`); one may
    be unreadable on one worker, and workers resuming at different epochs
    would train apart. All take the oldest of the workers' newest epochs,
    or all refuse when a worker lacks it.

    Args:
        model: the compiled training model, in `strategy`'s scope.
        strategy: the `MultiWorkerMirroredStrategy`.
        run_dir: `one_keras.runs.RunDirectory`. This worker's.
        state: `one_keras.runs.ResumeState`. What this worker restored
            (epoch 0: none).
        warn: callable taking a line: says when the workers differed.

    Returns:
        The `ResumeState` to resume from, the same epoch on every worker.

    Raises:
        ValueError: the workers have no usable backup in common.
    """
    newest = _gather_ints(strategy, state.epoch)
    agreed = min(newest)
    if agreed == max(newest):
        return state
    if agreed:  # On every worker: loading runs collective ops.
        state = run_dir.restore(model, warn=warn, max_epoch=agreed)
    found = _gather_ints(strategy, state.epoch)  # Every worker, even then.
    if not agreed or set(found) != {agreed}:
        raise ValueError(
            f"The workers' backups have no usable epoch in common (newest "
            f"per replica after epochs {newest}; restorable at epoch "
            f"{agreed}: {found}), so they would train apart. Copy the "
            f"chief's backup/ to the other workers' output_dir, or pass "
            f"--restart on every worker. Received: "
            f"backup_dir={run_dir.backup_dir}")
    warn(f"warning: the workers' newest usable backups differ (after epochs "
         f"{newest} per replica); every worker resumes after epoch "
         f"{agreed}.")
    return state


def _gather_ints(strategy, value):
    """`value` of every replica of every worker, as a list of ints."""
    import tensorflow as tf

    values = strategy.experimental_distribute_values_from_function(
        lambda _: tf.constant([value], tf.int64))
    return [int(v) for v in strategy.gather(values, axis=0).numpy()]


def evaluate_distributed(model, strategy, test):
    """`model.evaluate` through `strategy.run(model.test_step)`.

    Args:
        model: the trained model, built in `strategy`'s scope.
        strategy: the `MultiWorkerMirroredStrategy`.
        test: `tf.data.Dataset` of the global test batches.

    Returns:
        A dict: every metric's result, as a float.
    """
    import tensorflow as tf

    for metric in model.metrics:
        metric.reset_state()

    @tf.function
    def test_step(batch):
        strategy.run(model.test_step, args=(batch,))

    for batch in strategy.experimental_distribute_dataset(test):
        test_step(batch)
    return _as_floats(model.get_metrics_result())


def _as_floats(logs):
    """Metric results as Python floats (for callbacks and the report)."""
    return {k: float(v) for k, v in logs.items()}

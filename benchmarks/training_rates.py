"""Images/s of Keras models' training steps, the models taking turns.

The timing loop of `throughput.py` and `precision_throughput.py`, with no
flags of its own (both scripts define theirs) and no Keras import until it
runs; NumPy batches, so it runs on every Keras backend.
"""

import time


def step_clock():
    """A Keras callback that records the wall time at the end of each
    batch."""
    import keras

    class StepClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter())

    return StepClock()


def training_rates(models, batch_size, num_classes, steps, warmup, rounds):
    """Times `fit` steps of compiled models on one random CIFAR-size batch.

    Every model first runs `warmup` untimed steps; then, round by round,
    each runs `steps + 1` steps and the time between the ends of its first
    and last step is taken, so that ratios are taken under the same load.

    Args:
        models: dict. Key -> compiled `keras.Model` (images -> logits).
        batch_size: int. Images per step.
        num_classes: int. Labels are drawn from `[0, num_classes)`.
        steps: int. Timed steps per round.
        warmup: int. Untimed steps first.
        rounds: int. Rounds of every model in turn.

    Returns:
        A dict: key -> list of images/s, one a round.
    """
    import numpy as np

    # NumPy batches, so that every Keras backend runs it (JAX without TF).
    rng = np.random.default_rng(0)
    images = rng.normal(size=(batch_size, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, num_classes, batch_size).astype("int32")

    def batches(count):
        return (np.concatenate([images] * count),
                np.concatenate([labels] * count))

    for model in models.values():
        model.fit(*batches(warmup), batch_size=batch_size, shuffle=False,
                  verbose=0)
    timed = batches(steps + 1)
    rates = {key: [] for key in models}
    for _ in range(rounds):
        for key, model in models.items():
            clock = step_clock()
            model.fit(*timed, batch_size=batch_size, shuffle=False,
                      verbose=0, callbacks=[clock])
            seconds = clock.times[-1] - clock.times[0]
            rates[key].append(batch_size * steps / seconds)
    return rates

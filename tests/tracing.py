"""How the suite runs `tf.function`s: eagerly, unless a test needs them traced.

Tracing a training step costs seconds and checks the same arithmetic as
running it eagerly, so the suite runs eagerly (conftest.py). Tests marked
`graph` or `slow` run traced, as users' `fit` does; fixtures that train for
many steps use `traced()`, where a traced step is faster.
"""

import contextlib


def run_eagerly():
    """Runs `tf.function`s eagerly from now on (the suite's default)."""
    import tensorflow as tf

    tf.config.run_functions_eagerly(True)


@contextlib.contextmanager
def traced():
    """Runs `tf.function`s traced inside the block."""
    import tensorflow as tf

    before = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(False)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(before)

"""Runs `python -m one_keras.train ARGS` with the CPU split in 2 devices.

The split must happen before TensorFlow starts, so it runs in its own process.
"""

import os
import sys


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402


cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from absl import app  # noqa: E402

from one_keras.cli import train  # noqa: E402


if __name__ == "__main__":
    app.run(train.main, argv=["train", *sys.argv[1:]])

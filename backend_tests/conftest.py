"""Settings of the backend suite: one_keras on Keras' JAX (or torch)
backend, in an environment that may have no TensorFlow (`.ci/run` makes
one). JAX sees 2 CPU devices, so `keras.distribution.DataParallel` can be
tested on one CPU. Every test runs in its own `tmp_path`.

Run it as `KERAS_BACKEND=jax python -m pytest backend_tests` (the backend
defaults to jax).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("XLA_FLAGS",
                      "--xla_force_host_platform_device_count=2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    """Runs each test in its own temporary directory."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _float32_policy():
    """Restores the float32 policy after a mixed-precision test."""
    yield
    keras.mixed_precision.set_global_policy("float32")

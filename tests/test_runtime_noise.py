"""`one_keras.utils.runtime_noise`: the runtimes' start-up lines stay hidden
unless `TF_CPP_MIN_LOG_LEVEL=0` asks for them."""

import logging
import os
import warnings

import pytest

from one_keras.utils import runtime_noise


XNNPACK = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
OTHER = "ERROR: a real problem\n"


@pytest.mark.parametrize("level,shown", [(None, False), ("3", False),
                                         ("0", True)])
def test_xnnpack_line_is_dropped_and_others_kept(capfd, monkeypatch, level,
                                                 shown):
    if level is None:
        monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", level)
    with runtime_noise.quiet_tflite_start():
        os.write(2, XNNPACK.encode())  # As TFLite's C++ writes it.
        os.write(2, OTHER.encode())
    err = capfd.readouterr().err
    assert (XNNPACK in err) == shown
    assert OTHER in err


@pytest.mark.parametrize("level,shown", [(None, False), ("0", True)])
def test_tf2onnx_np_object_warning(monkeypatch, level, shown):
    if level is None:
        monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", level)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with runtime_noise.quiet_onnx_export():
            warnings.warn("In the future `np.object` will be defined as "
                          "the corresponding NumPy scalar.", FutureWarning)
            warnings.warn("another warning", FutureWarning)
    messages = [str(w.message) for w in caught]
    assert any("np.object" in m for m in messages) == shown
    assert "another warning" in messages


def test_jax_backend_search_is_quiet_unless_asked(monkeypatch):
    logger = logging.getLogger(runtime_noise.JAX_BACKEND_LOGGER)
    original = logger.level
    try:
        logger.setLevel(logging.NOTSET)
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
        runtime_noise.quiet_jax_backend_search()
        assert logger.level == logging.NOTSET  # Left to absl's verbosity.
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
        runtime_noise.quiet_jax_backend_search()
        assert logger.level == logging.WARNING  # Warnings still show.
    finally:
        logger.setLevel(original)

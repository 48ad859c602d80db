"""`one_keras.utils.runtime_noise`: the runtimes' start-up lines stay hidden
unless `TF_CPP_MIN_LOG_LEVEL=0` asks for them."""

import logging
import os
import subprocess
import sys
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


@pytest.mark.parametrize("environ,chosen", [
    ({}, False),
    ({"TF_CPP_MIN_LOG_LEVEL": "0"}, True),
    ({"TF_CPP_MIN_LOG_LEVEL": "3"}, True),
    # A tool's child process: the tool's level, inherited with its mark.
    ({"TF_CPP_MIN_LOG_LEVEL": "3",
      "ONE_KERAS_SET_TF_CPP_MIN_LOG_LEVEL": "3"}, False),
    # The user's own level for a child of a tool.
    ({"TF_CPP_MIN_LOG_LEVEL": "0",
      "ONE_KERAS_SET_TF_CPP_MIN_LOG_LEVEL": "3"}, True),
])
def test_a_tools_inherited_log_level_is_not_the_users(environ, chosen):
    from one_keras.cli import console

    assert console.user_chose_tf_log_level(environ) == chosen


@pytest.mark.parametrize("level,chosen", [(None, False), ("0", True)])
def test_a_child_of_a_tool_reads_the_tools_level_as_unset(level, chosen):
    # This process imported a tool's console (tests/conftest.py), which set
    # the level; its children inherit it, and the user's own still wins.
    env = dict(os.environ)
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    child = subprocess.run(
        [sys.executable, "-c", "from one_keras.cli import console; "
         "print(console._USER_TF_LOG_LEVEL)"],
        capture_output=True, text=True, env=env, timeout=60)
    assert child.stdout.strip() == str(chosen), child.stderr[-2000:]

"""Lines of the runtimes that a newcomer reads as errors, silenced unless
asked for.

- TFLite's `INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`,
  written by C++ on file descriptor 2 when the first interpreter allocates
  its tensors (`quiet_tflite_start`).
- tf2onnx's `FutureWarning` on `np.object` during an ONNX export
  (`quiet_onnx_export`).
- JAX's `Unable to initialize backend 'tpu'` (an INFO record of the
  `jax._src.xla_bridge` logger, which absl's handler prints in the command
  line tools: `quiet_jax_backend_search`).

They all show when `TF_CPP_MIN_LOG_LEVEL` is `"0"`, TensorFlow's own switch
for its INFO lines (the command line tools set it to `"3"` only when the
user did not set it).
"""

import contextlib
import logging
import os
import sys
import tempfile
import warnings


XNNPACK_LINE = "Created TensorFlow Lite XNNPACK delegate"
JAX_BACKEND_LOGGER = "jax._src.xla_bridge"


def shown():
    """Whether the user asked for every line: `TF_CPP_MIN_LOG_LEVEL=0`."""
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() == "0"


@contextlib.contextmanager
def quiet_tflite_start():
    """Runs the block with file descriptor 2 captured, then writes back
    every captured line but TFLite's XNNPACK delegate line (all of them
    when `shown()`). Wrap the creation and first `allocate_tensors()` of
    an interpreter."""
    if shown():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(
                errors="replace").splitlines(keepends=True)
                if XNNPACK_LINE not in line]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


@contextlib.contextmanager
def quiet_onnx_export():
    """Runs the block without tf2onnx's `np.object` `FutureWarning` (with
    it when `shown()`)."""
    with warnings.catch_warnings():
        if not shown():
            warnings.filterwarnings("ignore", message=".*np\\.object",
                                    category=FutureWarning)
        yield


def quiet_jax_backend_search():
    """Hides JAX's INFO records on the accelerator backends it did not find
    (`Unable to initialize backend 'tpu'`), unless `shown()`; its warnings
    and errors still show."""
    if not shown():
        logging.getLogger(JAX_BACKEND_LOGGER).setLevel(logging.WARNING)

"""Conversions in a child Python process that dies with its parent.

The TFLite converter keeps memory it never gives back, quantisation-aware
training needs `tf_keras` in its own process, and a JAX-backend export
converts under the TensorFlow backend: each runs as `python -m module
request.json` in a fresh process. The child dies with the export: when the
parent is interrupted (Ctrl-C, SIGTERM, any exception) it kills the child
and waits for it; when the parent is killed outright (SIGKILL) the child
gets SIGKILL from the kernel (Linux `PR_SET_PDEATHSIG`) or, elsewhere,
notices it has been orphaned and exits. The request and its data live in
the export's staging folder, which the export removes (or, after a
SIGKILL, the next export into the same folder does).
"""

import os
import signal
import subprocess
import sys

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PARENT_ENV = "ONE_KERAS_WORKER_PARENT"  # The parent's pid, for the child.
# The child's first lines, before it imports anything heavy: die with the
# parent (`die_with_parent`), then run the module as `python -m` would.
_BOOTSTRAP = (
    "import os, signal, sys\n"
    "if sys.platform.startswith('linux'):\n"
    "    try:\n"
    "        import ctypes\n"
    "        ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"
    "    except (OSError, AttributeError):\n"
    "        pass\n"
    f"if str(os.getppid()) != os.environ.get({PARENT_ENV!r}):\n"
    "    os._exit(1)\n"
    "import runpy\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n")


def write_request(folder, request, representative_images=None,
                  name="request.json"):
    """Writes a child's request (and its calibration images) into `folder`.

    Args:
        folder: str. The export's scratch folder.
        request: dict. The request; its `representative_images` is set to
            the path of the saved images, or `None` without them.
        representative_images: array or `None`. int8 calibration inputs,
            saved as float32 `rep.npy`.
        name: str. The request file's name. Defaults to `"request.json"`.

    Returns:
        str. The request file's path, for `run_worker`.
    """
    import json

    import numpy as np

    request = {**request, "representative_images": None}
    if representative_images is not None:
        request["representative_images"] = os.path.join(folder, "rep.npy")
        np.save(request["representative_images"],
                np.asarray(representative_images, dtype="float32"))
    request_path = os.path.join(folder, name)
    with open(request_path, "w") as f:
        json.dump(request, f)
    return request_path


def run_worker(module, request_path, env=None):
    """Runs `module` as `python -m module request_path` would, in a child
    that dies with this process; raises with its output's tail.

    The child is killed (and waited for) if this call ends any other way
    than by the child's exit: `KeyboardInterrupt`, `SystemExit` from a
    signal handler, any exception.

    Args:
        module: str. A module whose `__main__` reads a JSON request file and
            first calls `die_with_parent()`.
        request_path: str. The request file.
        env: dict or `None`. Environment variables to set for the child
            (e.g. `KERAS_BACKEND`).

    Raises:
        RuntimeError: the child failed; the message holds its output's last
            lines.
    """
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (_PACKAGE_ROOT, child_env.get("PYTHONPATH")) if p)
    child_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    child_env[PARENT_ENV] = str(os.getpid())
    child_env.update(env or {})
    child = subprocess.Popen(
        [sys.executable, "-c", _BOOTSTRAP, module, request_path],
        env=child_env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = child.communicate()
    except BaseException:
        child.kill()
        child.wait()
        raise
    if child.returncode != 0:
        tail = "\n".join(output.splitlines()[-15:])
        raise RuntimeError(f"`{module}` failed (exit {child.returncode}):\n"
                           f"{tail}")


def die_with_parent():
    """Makes this worker process end when the process that started it does.

    On Linux the kernel sends SIGKILL when the parent dies
    (`PR_SET_PDEATHSIG`); if the parent is already gone (it died before
    this call), the worker exits now. Call it first in a worker's
    `__main__`.
    """
    parent = os.environ.get(PARENT_ENV)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if parent is not None and os.getppid() != int(parent):
        os._exit(1)  # Orphaned before the line above took effect.

"""What produced a result: the code (the git commit of a checkout, else the
version) and the processor.

Every report one_keras writes (a run's `report.json`, `export_report.json`)
records `source_revision()`, and a run's report `machine()`, so a figure
can be traced to the code and the machine that made it.
"""

import functools
import os
import platform
import subprocess

from one_keras.utils.version import __version__


GIT_TIMEOUT_SECONDS = 10


@functools.lru_cache(maxsize=None)
def source_revision():
    """The code one_keras runs from.

    Returns:
        A dict. From a git checkout (the package's folder inside a git work
        tree): `git_commit` (the full hash of `HEAD`) and `git_dirty`
        (whether tracked files differ from it). Otherwise (an installed
        wheel, or no `git` program): `one_keras_version` alone.
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return revision_of(package, __version__)


def revision_of(package, version):
    """The revision of the package in folder `package` (see
    `source_revision`).

    Args:
        package: str. The package's folder.
        version: str. The package's version.

    Returns:
        A dict: `one_keras_version`, and `git_commit` and `git_dirty` when
        `package` is a top-level folder of a git work tree.
    """
    revision = {"one_keras_version": version}
    commit = _git(package, "rev-parse", "HEAD")
    top = _git(package, "rev-parse", "--show-toplevel")
    if commit is None or top is None or not os.path.samefile(
            top, os.path.dirname(package)):
        return revision
    status = _git(package, "status", "--porcelain", "--untracked-files=no")
    revision.update({"git_commit": commit,
                     "git_dirty": status is None or bool(status)})
    return revision


def machine():
    """The processor a result was computed on: runs of the same code on
    different CPUs follow different float32 paths (see docs/results.md,
    "Measured again").

    Returns:
        str. E.g. `"AMD EPYC, family 26 model 2, 2 cores"` (from
        `/proc/cpuinfo` where there is one, else `platform`).
    """
    fields = {}
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or \
        platform.machine()
    family = (f", family {fields['cpu family']} model {fields['model']}"
              if "cpu family" in fields and "model" in fields else "")
    return f"{name}{family}, {os.cpu_count()} cores"


def _git(folder, *arguments):
    """The stripped output of `git -C folder ...`, `None` if it fails."""
    try:
        done = subprocess.run(
            ["git", "-C", folder, *arguments], capture_output=True,
            text=True, timeout=GIT_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None

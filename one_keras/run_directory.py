"""The functions of a run's output directory before `RunDirectory`:
each is a method of `one_keras.runs.RunDirectory` now, and delegates to it
(new code uses the object).
"""

from one_keras.runs import RunDirectory
from one_keras.runs.directory import FINISHED_RUN_CHANGES  # noqa: F401
from one_keras.runs.directory import LOCATION_FIELDS  # noqa: F401
from one_keras.runs.directory import PARTIAL_FILE  # noqa: F401
from one_keras.runs.directory import RESUMABLE_CHANGES  # noqa: F401
from one_keras.runs.directory import save_keras  # noqa: F401
from one_keras.runs.directory import trim_log  # noqa: F401


def worker_output_dir(config, strategy):
    """`RunDirectory.of_worker(config, strategy).path`."""
    return RunDirectory.of_worker(config, strategy).path


def finished_report(config, output_dir, warn=print):
    """`RunDirectory(output_dir).finished_report(config, warn)`."""
    return RunDirectory(output_dir).finished_report(config, warn=warn)


def resumable_changes(config, output_dir, states, num_classes,
                      backend=None):
    """`RunDirectory(output_dir).resumable_changes(...)`."""
    return RunDirectory(output_dir).resumable_changes(
        config, states, num_classes, backend=backend)


def unresumable(output_dir, reason):
    """`RunDirectory(output_dir).unresumable(reason)`."""
    return RunDirectory(output_dir).unresumable(reason)


def discard_run(output_dir):
    """`RunDirectory(output_dir).discard()`."""
    RunDirectory(output_dir).discard()


def remove_partial_files(output_dir):
    """`RunDirectory(output_dir).remove_partial_files()`."""
    RunDirectory(output_dir).remove_partial_files()

"""Test settings and fixtures shared by the whole suite.

Every test runs in its own `tmp_path` (the working directory), and the suite
fails if it wrote anything into the checkout. `tf.function`s run eagerly,
except in tests marked `graph` or `slow` (tests/tracing.py). Shared fixtures
(build or train once, then only read):

- `zoo_model(name, num_classes, **kwargs)`: a zoo ONE model
  (`one_keras.methods.one.build_one_model`), built once per argument set and
  test module.
- `tiny_run`: a `TrainedRun(output_dir, report)` of a 1-epoch, 2-step
  `experiment.run` of a depth-8, width-4 ONE ResNet on the digits (output_dir
  holds config.json, report.json, model.keras, target.keras, log.csv, ...).
- `demo_run`: the `TrainedRun` of the README's demo, `configs/digits.flags`
  trained in full (30 epochs; about a minute).
"""

import collections
import os
import pathlib

import pytest

from one_keras.cli import console  # Sets TF_CPP_MIN_LOG_LEVEL=3.
from tests import tracing


ROOT = pathlib.Path(__file__).resolve().parents[1]
# A finished `experiment.run`: its output directory and the report it returned.
TrainedRun = collections.namedtuple("TrainedRun", ["output_dir", "report"])


def pytest_collection_modifyitems(items):
    """Runs the modules with the longest tests first (the demo's, then those
    with `slow` tests), each module's tests together and in order: the
    pytest-xdist workers (a file each, `--dist loadfile`) then end together
    instead of one finishing a long test alone."""
    rank = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        rank[module] = min(rank.get(module, 2),
                           0 if "demo_run" in item.fixturenames else
                           1 if item.get_closest_marker("slow") else 2)
    items.sort(key=lambda item: rank[item.nodeid.split("::")[0]])


def _runs_tests(config):
    """Whether this process runs tests: not pytest-xdist's controller, which
    only hands them to its workers (and so never imports TensorFlow, about
    9 s before the workers start)."""
    return bool(os.environ.get("PYTEST_XDIST_WORKER")) or \
        not getattr(config.option, "numprocesses", None)


def pytest_configure(config):
    """Where tests run: Keras' backend imported quietly, as the command line
    tools do (TensorFlow's start-up lines, which each xdist worker would
    print after the summary, stay hidden unless the user set
    TF_CPP_MIN_LOG_LEVEL), and `tf.function`s run eagerly (see
    tests/tracing.py)."""
    if _runs_tests(config):
        console.import_backend_quietly()
        tracing.run_eagerly()


@pytest.fixture(autouse=True)
def _traced_when_marked(request):
    """Tests marked `graph` or `slow` run their `tf.function`s traced."""
    if (request.node.get_closest_marker("graph")
            or request.node.get_closest_marker("slow")):
        with tracing.traced():
            yield
    else:
        yield


@pytest.fixture(autouse=True)
def _seed_and_policy():
    """Every test starts seeded and in float32."""
    import keras

    keras.utils.set_random_seed(0)
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(autouse=True)
def _work_in_tmp_path(tmp_path, monkeypatch):
    """Runs each test in its `tmp_path`: relative paths (the default
    `--output_dir=runs/digits`) never land in the checkout. Subprocesses
    import this checkout's `one_keras` from any directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def _checkout_files():
    """{relative path: mtime} of the checkout, hidden and cache folders aside.
    """
    files = {}
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders
                         if not name.startswith(".")
                         and name != "__pycache__"
                         and not name.endswith(".egg-info")]
        for name in names:
            path = os.path.join(folder, name)
            files[os.path.relpath(path, ROOT)] = os.stat(path).st_mtime_ns
    return files


@pytest.fixture(scope="session", autouse=True)
def _checkout_stays_unchanged():
    """Fails the run if a test wrote into the checkout (use `tmp_path`)."""
    before = _checkout_files()
    yield
    after = _checkout_files()
    changed = sorted(path for path in before.keys() | after.keys()
                     if before.get(path) != after.get(path))
    assert not changed, (
        f"The tests changed files in the checkout {ROOT} (tests must write "
        f"only to tmp_path): {', '.join(changed[:10])}")


@pytest.fixture(scope="module")
def zoo_model():
    """`zoo_model(name, num_classes, **kwargs)`: a ONE zoo model, built once
    per test module (full-size models hold GBs, freed after the module).

    Models are shared by the tests of the module: read them (counts, layers,
    forward passes); do not train or change them.
    """
    from one_keras.methods.one import build_one_model

    models = {}

    def build(name, num_classes, **kwargs):
        key = (name, num_classes, tuple(sorted(kwargs.items())))
        if key not in models:
            models[key] = build_one_model(name, num_classes=num_classes,
                                          **kwargs)
        return models[key]

    yield build
    models.clear()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """`TrainedRun` of a 2-step depth-8, width-4 ONE run on the digits.

    Read it only (copy it with `shutil.copytree` to change anything).
    """
    from one_keras.training import experiment

    output_dir = tmp_path_factory.mktemp("tiny_run")
    report = experiment.run(experiment.TrainConfig(
        depth=8, width=4, epochs=1, steps_per_epoch=2, eval_steps=1,
        output_dir=str(output_dir), verbose=0))
    return TrainedRun(output_dir, report)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """`TrainedRun` of the README's demo, `configs/digits.flags` trained in
    full through the CLI's flags. Read it only."""
    from absl.testing import flagsaver

    from one_keras.cli import train
    from one_keras.training import experiment

    output_dir = tmp_path_factory.mktemp("demo_run")
    with flagsaver.flagsaver():
        train.FLAGS(["train", f"--flagfile={ROOT / 'configs/digits.flags'}",
                     f"--output_dir={output_dir}", "--verbose=0"])
        config = train.config_from_flags()
    with tracing.traced():
        return TrainedRun(output_dir, experiment.run(config))

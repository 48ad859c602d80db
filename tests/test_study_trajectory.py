"""The training of today follows the study's: a guard against a change in
training that the step-by-step tests would not see.

`tests/reference/study_trajectory.json` holds every epoch's trained metrics
of ONE-3 and vanilla trained by `benchmarks/study.py` on a small synthetic
image folder (8 epochs, two learning-rate steps) at the commit the CIFAR-10
study's rows were trained at, with how they were obtained
(`tests/scripts/study_trajectory.py`). The same command at HEAD must give
the same trajectory up to float32 noise: a change of the loss, the gate,
the schedule, the augmentation or the data order shows in the first epochs.
A deliberate change of training updates the reference with that script and
says in docs/results.md why the study's rows still hold (or reruns them).
"""

import json
import pathlib

import numpy as np
import pytest

from tests.scripts import study_trajectory

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference" / "study_trajectory.json"
# The same code follows another float32 path on another CPU (docs/results.md):
# a reference recorded at the study's commit on this CPU family, where one
# is (`obtained.cpu_family`), else the study machine's.
REFERENCES = sorted(REFERENCE.parent.glob("study_trajectory_family*.json"))


def _cpu_family():
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu family"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _reference():
    for path in REFERENCES:
        reference = json.loads(path.read_text())
        if reference["obtained"].get("cpu_family") == _cpu_family():
            return reference
    return json.loads(REFERENCE.read_text())
# Bit-identical on the machine the reference came from; the bars allow
# float32 noise of another CPU's kernels over 40 steps, far below what a
# change of the method moves (a KL weight, a BatchNorm momentum or a
# schedule step changes `ce` by percents within an epoch).
LOSS_RTOL = 1e-3
ACCURACY_ATOL = 0.011  # One test image in 100; three training ones in 300.


def test_training_follows_the_study_commits_trajectory(tmp_path):
    reference = _reference()
    assert reference["epochs"] == study_trajectory.EPOCHS
    today = study_trajectory.train(ROOT, tmp_path)
    for run, epochs in reference["runs"].items():
        assert len(today[run]) == len(epochs), run
        for epoch, (want, got) in enumerate(zip(epochs, today[run])):
            assert sorted(got) == sorted(want), (run, epoch)
            for metric, value in want.items():
                tolerance = (dict(atol=ACCURACY_ATOL, rtol=0)
                             if "accuracy" in metric else
                             dict(rtol=LOSS_RTOL, atol=1e-6))
                assert np.isclose(got[metric], value, **tolerance), (
                    f"{run}, epoch {epoch}, {metric}: {got[metric]} today, "
                    f"{value} at the study's commit "
                    f"{reference['obtained']['commit'][:7]}")

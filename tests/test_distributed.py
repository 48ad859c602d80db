"""ONEModel under MirroredStrategy on 2 logical CPU devices."""

import json
import os
import subprocess
import sys

import numpy as np

SCRIPT = os.path.join(os.path.dirname(__file__), "scripts",
                      "mirrored_gradients.py")


def test_mirrored_step_equals_single_device():
    result = subprocess.run([sys.executable, SCRIPT], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    numbers = json.loads(result.stdout.strip().splitlines()[-1])
    assert numbers["replicas"] == 2
    assert numbers["loss_diff"] < 1e-5
    assert numbers["grad_diff"] < 1e-5
    assert np.isfinite(numbers["fit_loss"])

"""The verification bars: per-format defaults, or the user's."""

import numpy as np
import pytest

from one_keras.export import verify


def _outputs(num_images=1000, disagree=42, noise=0.0):
    """Keras and exported outputs whose top-1 differs on `disagree` images.
    """
    probabilities = np.tile(np.array([[0.6, 0.3, 0.1]], "float32"),
                            (num_images, 1))
    exported = probabilities + noise
    exported[:disagree] = [0.3, 0.6, 0.1]
    return ({"probabilities": probabilities, "logits": probabilities},
            {"probabilities": exported, "logits": exported})


def test_int8_below_the_default_bar_fails_naming_the_flag():
    entry = verify.compare(*_outputs(), "int8")  # 0.958 agree.
    assert not entry["passed"] and entry["min_agreement"] == 0.97
    assert entry["max_abs_diff"] is None
    assert verify.failure_reason(entry) == (
        "top-1 agreement 0.958 < --min_agreement=0.97; lower "
        "--min_agreement to accept it")


def test_the_users_bar_replaces_the_default():
    entry = verify.compare(*_outputs(), "int8", min_agreement=0.95)
    assert entry["passed"] and entry["threshold"] == 0.95
    assert entry["min_agreement"] == 0.95
    keras_outputs, exported = _outputs(disagree=0, noise=1e-3)
    entry = verify.compare(keras_outputs, exported, "none")
    assert not entry["passed"] and entry["threshold"] == 1e-4
    assert "> --max_abs_diff=0.0001; raise --max_abs_diff" in \
        verify.failure_reason(entry)
    entry = verify.compare(keras_outputs, exported, "none",
                           max_abs_diff=2e-3)
    assert entry["passed"] and entry["max_abs_diff"] == 2e-3


def test_a_float_export_can_also_be_held_to_an_agreement():
    entry = verify.compare(*_outputs(disagree=42), "none", max_abs_diff=1.0,
                           min_agreement=0.99)
    assert not entry["passed"] and entry["check"] == "top1_agreement"


@pytest.mark.parametrize("bars", [{"min_agreement": 1.5},
                                  {"min_agreement": -0.1},
                                  {"min_agreement": float("nan")},
                                  {"min_agreement": "0.9"},
                                  {"max_abs_diff": -1e-3},
                                  {"max_abs_diff": float("nan")}])
def test_bars_out_of_range_are_refused(bars):
    with pytest.raises(ValueError, match="Received: "):
        verify.check_bars(bars.get("min_agreement"),
                          bars.get("max_abs_diff"))

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from one_keras.export import export_model
from one_keras.export import formats
from one_keras.export import serving
from one_keras.export import verify
from one_keras.export.exporting import remove_stale_staging
from tests.export.conftest import load_digits
from tests.export.conftest import normalize
from tests.export.conftest import tiny_model


def _export(model, tmp_path, name, **kwargs):
    kwargs.setdefault("dataset", "digits")
    kwargs.setdefault("num_samples", 64)
    kwargs.setdefault("latency_repeats", 2)
    return export_model(model, tmp_path / name, **kwargs)


def _slow_unless(fast_cases, *cases):
    """`cases` as `pytest.param`s: those in `fast_cases` in the fast tier,
    the others `slow` (test_every_method's slow test exports every mode of
    every method to every format)."""
    return [case if case in fast_cases else
            pytest.param(*case if isinstance(case, tuple) else (case,),
                         marks=pytest.mark.slow) for case in cases]


@pytest.mark.parametrize("mode, format", _slow_unless(
    {("single", name) for name in formats.names()} | {("ensemble", "onnx")},
    *[(mode, name) for mode in ("single", "ensemble")
      for name in formats.names()]))
def test_float_export_loads_and_matches_keras(digits_model, tmp_path, mode,
                                              format):
    path = tmp_path / formats.get(format).default_name(mode)
    entry = _export(digits_model, tmp_path, path.name, mode=mode,
                    format=format)
    assert entry["passed"], entry
    assert entry["check"] == "max_abs_diff_probabilities"
    assert entry["value"] <= verify.FLOAT32_TOLERANCE
    assert entry["top1_agreement"] == 1.0
    # Reload independently (the format told from the file) and check the
    # serving signature.
    assert formats.for_path(path).name == format
    run = formats.runner_for(path)
    images, _ = load_digits("test")
    outputs = run(images[:3])
    assert set(outputs) == {"probabilities", "logits"}
    assert outputs["probabilities"].shape == (3, 10)
    np.testing.assert_allclose(outputs["probabilities"].sum(-1), 1.0,
                               atol=1e-5)
    report = json.loads((tmp_path / "export_report.json").read_text())
    assert report["exports"][path.name]["passed"]
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []


def test_single_export_has_vanilla_parameter_count(digits_model):
    single = serving.build_serving_model(digits_model, "single")
    ensemble = serving.build_serving_model(digits_model, "ensemble")
    vanilla = tiny_model(num_branches=1).target_model()
    assert single.count_params() == vanilla.count_params()
    assert ensemble.count_params() == digits_model.network.count_params()
    assert ensemble.count_params() > single.count_params()


@pytest.mark.parametrize("mode", _slow_unless({"single"}, "single",
                                              "ensemble"))
def test_preprocessing_flag_matches_keras_on_normalised_input(
        digits_model, tmp_path, mode):
    raw, _ = load_digits("test")
    raw = raw[:32]
    normalised = normalize(raw, digits_model.normalization)
    outputs = digits_model.predict(normalised, verbose=0)
    expected = (outputs["branch_logits"][:, 0] if mode == "single"
                else outputs["teacher_logits"])
    for include, images in ((True, raw), (False, normalised)):
        path = tmp_path / f"{mode}_{include}.onnx"
        entry = _export(digits_model, tmp_path, path.name, mode=mode,
                        format="onnx", include_preprocessing=include)
        assert entry["passed"]
        logits = verify.load_runner("onnx", path)(images)["logits"]
        np.testing.assert_allclose(logits, expected, atol=1e-4)
    # Raw pixels into the model without preprocessing give other answers.
    logits = verify.load_runner("onnx", tmp_path / f"{mode}_False.onnx")(
        raw)["logits"]
    assert np.max(np.abs(logits - expected)) > 1e-2


@pytest.mark.slow  # A TensorFlow process converts.
@pytest.mark.tflite_subprocess
def test_int8_tflite_agrees_with_keras_on_digits(digits_model, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    entry = _export(digits_model, tmp_path, "int8.tflite", quantize="int8",
                    num_samples=360)
    assert entry["check"] == "top1_agreement"
    assert entry["value"] >= verify.INT8_MIN_AGREEMENT, entry
    assert entry["passed"] and entry["num_samples"] == 360
    assert entry["export_accuracy"] >= 0.9
    interpreter = Interpreter(model_path=str(tmp_path / "int8.tflite"))
    dtypes = {d["dtype"] for d in interpreter.get_tensor_details()}
    assert np.int8 in dtypes and np.float32 in dtypes  # int8 inside, float IO


def test_float16_tflite_within_documented_bar(digits_model, tmp_path):
    entry = _export(digits_model, tmp_path, "f16.tflite", quantize="float16")
    assert entry["passed"], entry
    assert entry["threshold"] == verify.FLOAT16_TOLERANCE
    # float16 weights are rounded, so the outputs differ, a little.
    assert entry["max_abs_diff_probabilities"] > 0


def test_failed_check_leaves_nothing_at_output(digits_model, tmp_path,
                                               monkeypatch):
    monkeypatch.setattr(verify, "FLOAT32_TOLERANCE", -1.0)
    entry = _export(digits_model, tmp_path, "model.onnx", format="onnx")
    assert not entry["passed"]
    assert sorted(os.listdir(tmp_path)) == ["export_report.json"]
    report = json.loads((tmp_path / "export_report.json").read_text())
    assert report == {"exports": {}, "failed_attempts": {
        "model.onnx": json.loads(json.dumps(entry))}}


def test_random_pixels_when_no_dataset(digits_model, tmp_path):
    entry = _export(digits_model, tmp_path, "m.onnx", format="onnx",
                    dataset=None, num_samples=8)
    assert entry["passed"] and entry["data"] == "random pixels"
    assert "keras_accuracy" not in entry


@pytest.mark.slow
def test_qat_int8_tflite(digits_model, tmp_path):
    entry = _export(digits_model, tmp_path, "qat.tflite", quantize="int8",
                    qat_epochs=1, num_samples=360)
    assert entry["qat_epochs"] == 1
    assert entry["value"] >= verify.INT8_MIN_AGREEMENT, entry
    assert entry["passed"] and (tmp_path / "qat.tflite").is_file()


@pytest.mark.parametrize("kwargs, name", [
    ({"format": "pt"}, "`format`"),
    ({"quantize": "int4"}, "`quantize`"),
    ({"mode": "both"}, "`mode`"),
    ({"format": "onnx", "opset": 6}, "`opset`"),
    ({"format": "onnx", "opset": 19}, "`opset`"),
    ({"num_samples": 0}, "`num_samples`"),
    ({"format": "onnx", "qat_epochs": 1}, "`qat_epochs`"),
    ({"quantize": "int8", "dataset": None}, "`dataset`"),
    ({"min_agreement": 1.5}, "`min_agreement`"),
    ({"max_abs_diff": -1.0}, "`max_abs_diff`"),
])
def test_bad_arguments_raise_before_writing(digits_model, tmp_path, kwargs,
                                            name):
    with pytest.raises(ValueError, match=name):
        export_model(digits_model, tmp_path / "out" / "artifact", **kwargs)
    assert not (tmp_path / "out").exists()


def test_ensemble_of_one_branch_model_is_refused(tmp_path):
    # One branch is the plain network: no ensemble deployable.
    with pytest.raises(ValueError,
                       match=r"modes this model has \('single'\)"):
        export_model(tiny_model(num_branches=1), tmp_path / "m.onnx",
                     mode="ensemble", format="onnx")
    assert list(tmp_path.iterdir()) == []


def test_output_that_is_not_an_artifact_is_left_alone(digits_model,
                                                      tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"weights")
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    for path, format in [(run, "tflite"), (run, "savedmodel"),
                         (notes, "tflite"), (notes, "onnx")]:
        with pytest.raises(ValueError, match="left alone"):
            export_model(digits_model, path, format=format, dataset=None,
                         num_samples=4)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt", "run"]
    assert os.listdir(run) == ["model.keras"]
    assert (run / "model.keras").read_bytes() == b"weights"
    assert notes.read_text() == "keep me"


# A folder (SavedModel) and a file (ONNX) in the fast tier; TFLite's file,
# converted in a second process, is slow.
@pytest.mark.parametrize("format", _slow_unless({"savedmodel", "onnx"},
                                                *formats.names()))
def test_export_replaces_an_artifact_of_its_format(digits_model, tmp_path,
                                                   format):
    name = formats.get(format).default_name("m")
    for _ in range(2):
        entry = export_model(digits_model, tmp_path / name, format=format,
                             dataset=None, num_samples=4, latency_repeats=1)
        assert entry["passed"]
    assert sorted(os.listdir(tmp_path)) == ["export_report.json", name]


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_rerun_removes_what_a_killed_export_left(digits_model, tmp_path):
    """A kill used to leave hidden staging folders (a SavedModel each) that
    no rerun removed; user files of similar names stay."""
    host = socket.gethostname()
    left = [f".m.onnx.export-{host}-{_dead_pid()}-abcd_123",
            ".m.onnx.k2j4h5g6"]  # An older version's name.
    for name in left:
        (tmp_path / name / "saved_model").mkdir(parents=True)
        (tmp_path / name / "m.onnx").write_bytes(b"half")
    kept = [f".m.onnx.export-{host}-{os.getpid()}-abcd_123",  # Running.
            ".m.onnx.notes_12", ".m.onnx.abcdefgh", ".empty.abcdefgh"]
    for name in kept[:2]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "photo.jpg").write_bytes(b"mine")
    (tmp_path / kept[2]).write_text("a file, not a staging folder")
    (tmp_path / kept[3]).mkdir()
    entry = export_model(digits_model, tmp_path / "m.onnx", format="onnx",
                         dataset=None, num_samples=4, latency_repeats=1)
    assert entry["passed"]
    assert sorted(os.listdir(tmp_path)) == sorted(
        kept + ["export_report.json", "m.onnx"])
    assert (tmp_path / kept[1] / "photo.jpg").read_bytes() == b"mine"


def test_a_savedmodel_set_aside_by_a_killed_export_is_put_back(tmp_path):
    """Killed between its two renames, an export had moved the old
    SavedModel aside and not yet put the new one in its place."""
    staging = tmp_path / (f".m_savedmodel.export-{socket.gethostname()}-"
                          f"{_dead_pid()}-abcd_123")
    (staging / "old").mkdir(parents=True)
    (staging / "old" / "saved_model.pb").write_bytes(b"old model")
    (staging / "m_savedmodel").mkdir()
    assert remove_stale_staging(str(tmp_path)) == [staging.name]
    assert os.listdir(tmp_path) == ["m_savedmodel"]
    assert (tmp_path / "m_savedmodel" / "saved_model.pb").read_bytes() == \
        b"old model"

"""The format registry: spellings, default names, artifacts told apart.

The tests that loop over `formats.REGISTRY` test a new format with no edit
here (docs/contributing.md, "Add an export format").
"""

import pytest

from one_keras.export import default_output_path
from one_keras.export import formats


@pytest.mark.parametrize("spelling, name", [
    ("savedmodel", "savedmodel"), ("tf_saved_model", "savedmodel"),
    ("saved_model", "savedmodel"), ("tflite", "tflite"),
    ("litert", "tflite"), ("ONNX", "onnx")])
def test_every_spelling_names_one_exporter(spelling, name):
    assert formats.get(spelling) is formats.REGISTRY[name]
    assert spelling.lower() in formats.spellings()


def test_an_unknown_format_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match=r"tf_saved_model.*Received: "
                                         r"format='pt'"):
        formats.get("pt")


def test_default_names_come_from_the_exporter(tmp_path):
    assert default_output_path(tmp_path, "single", "tf_saved_model") == \
        str(tmp_path / "target_savedmodel")
    assert default_output_path(tmp_path, "ensemble", "litert", "int8") == \
        str(tmp_path / "ensemble_int8.tflite")


def test_quantisation_belongs_to_tflite():
    formats.get("tflite").check("int8", 17)
    for name in ("savedmodel", "onnx"):
        with pytest.raises(ValueError, match="`quantize`"):
            formats.get(name).check("int8", 17)


@pytest.mark.parametrize("name", formats.names())
def test_every_format_says_what_export_and_predict_need(name, tmp_path):
    exporter = formats.REGISTRY[name]
    assert exporter.name == name == exporter.spellings[0]
    assert all(formats.get(s) is exporter for s in exporter.spellings)
    assert exporter.suffix and exporter.description and exporter.runtime
    assert exporter.runtime_module and exporter.runtime_package
    assert isinstance(exporter.needs_tensorflow, bool)
    assert "none" in exporter.quantizations
    assert set(exporter.quantizations) <= set(formats.QUANTIZATIONS)
    for quantize in formats.QUANTIZATIONS:
        if quantize in exporter.quantizations:
            exporter.check(quantize, 17)
        else:
            with pytest.raises(ValueError, match="`quantize`"):
                exporter.check(quantize, 17)
    assert default_output_path(tmp_path, "single", name) == \
        str(tmp_path / exporter.default_name("target"))
    assert exporter.description in formats.described()
    # A path that does not exist is no artifact of any format.
    assert not exporter.is_artifact(str(tmp_path / "missing"))
    assert formats.named_by(tmp_path / exporter.default_name("none")) is None


def test_artifacts_are_told_apart_and_other_paths_refused(tmp_path):
    saved = tmp_path / "m_savedmodel"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"")
    tflite = tmp_path / "m.tflite"
    tflite.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(8))
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"\x08\x08\x12\x00")
    assert [formats.for_path(p).name for p in (saved, tflite, onnx)] == [
        "savedmodel", "tflite", "onnx"]
    link = tmp_path / "link.tflite"
    link.symlink_to(tflite)
    other = tmp_path / "notes.txt"
    other.write_text("x")
    for path in (link, other, tmp_path / "missing.onnx", tmp_path):
        with pytest.raises(ValueError, match="must be an exported artifact"):
            formats.runner_for(path)

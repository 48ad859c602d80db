"""`TrainConfig.dtype_policy` (issue 40): what `auto` picks, the
`--mixed_precision` alias, the record in a run and the refused resume."""

import dataclasses
import json
import shutil

import pytest

from one_keras.runs import RunDirectory
from one_keras.training import precision
from one_keras.training.train_config import TrainConfig


ZEN3_FLAGS = "fpu vme sse2 avx avx2 fma bmi2 sha_ni vaes"


def _cpuinfo(tmp_path, flags):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Test CPU 9000\n"
                    f"flags\t\t: {flags}\n\nprocessor\t: 1\n")
    return str(path)


def test_cpu_bfloat16_flags_are_read_from_cpuinfo(tmp_path):
    assert precision.cpu_bfloat16_flags(_cpuinfo(tmp_path, ZEN3_FLAGS)) == []
    genoa = _cpuinfo(tmp_path, ZEN3_FLAGS + " avx512f avx512_bf16")
    assert precision.cpu_bfloat16_flags(genoa) == ["avx512_bf16"]
    assert precision.cpu_model(genoa) == "Test CPU 9000"
    assert precision.cpu_bfloat16_flags(str(tmp_path / "missing")) == []


@pytest.mark.parametrize("fast,expected", [(False, "float32"),
                                           (True, "mixed_bfloat16")])
def test_auto_picks_bfloat16_only_where_the_hardware_has_it(
        monkeypatch, fast, expected):
    monkeypatch.setattr(precision, "has_fast_bfloat16", lambda s=None: fast)
    assert precision.resolve_dtype_policy("auto") == expected
    for policy in ("float32", "mixed_bfloat16", "mixed_float16"):
        assert precision.resolve_dtype_policy(policy) == policy


@pytest.mark.parametrize("backend, fast, slow", [
    ("tensorflow", False, True), ("tensorflow", True, False),
    ("jax", False, False)])
def test_only_tensorflow_without_bf16_units_emulates_it_slowly(
        monkeypatch, backend, fast, slow):
    # docs/performance.md: 8x slower on TF, float32's speed with XLA (JAX).
    import keras

    monkeypatch.setattr(precision, "has_fast_bfloat16", lambda s=None: fast)
    monkeypatch.setattr(keras.backend, "backend", lambda: backend)
    assert precision.emulates_bfloat16_slowly() is slow


def test_the_default_stays_float32_and_the_alias_is_the_device_policy():
    config = TrainConfig()
    assert config.dtype_policy == "float32"
    assert config.resolved().dtype_policy == "float32"
    alias = TrainConfig(mixed_precision=True).resolved()
    # This machine has no GPU: its mixed policy is bfloat16.
    assert (alias.dtype_policy, alias.mixed_precision) == (
        "mixed_bfloat16", False)


@pytest.mark.parametrize("fields,message", [
    ({"dtype_policy": "bfloat16"}, r"`dtype_policy` must be one of"),
    ({"dtype_policy": "mixed_float16", "mixed_precision": True},
     r"`mixed_precision` is an alias of a `dtype_policy`.*give one"),
])
def test_bad_policy_is_refused_in_one_line(fields, message):
    with pytest.raises(ValueError, match=message) as error:
        TrainConfig(**fields)
    assert "\n" not in str(error.value)


def test_resume_under_another_policy_is_refused_in_one_line(tmp_path):
    run = RunDirectory(tmp_path)
    saved = TrainConfig(output_dir=str(tmp_path),
                        dtype_policy="mixed_bfloat16")
    (tmp_path / "config.json").write_text(json.dumps(saved.settings()))
    states = [(1, "epoch-00001.weights.h5", {"num_classes": 10})]
    assert run.resumable_changes(saved, states, 10) == {}
    with pytest.raises(ValueError, match=r"cannot be resumed with these "
                       r"settings: it trained under the dtype policy "
                       r"'mixed_bfloat16' .* under 'float32' "
                       r"\(--dtype_policy=mixed_bfloat16 resumes it\)"
                       ) as error:
        run.resumable_changes(dataclasses.replace(
            saved, dtype_policy="float32"), states, 10)
    assert "\n" not in str(error.value)


def test_a_run_of_an_earlier_version_resumes_under_its_policy(tmp_path):
    """Earlier config.json files have `mixed_precision` and no
    `dtype_policy`: without mixed precision they trained in float32."""
    run = RunDirectory(tmp_path)
    current = TrainConfig(output_dir=str(tmp_path))
    old = {k: v for k, v in current.settings().items()
           if k != "dtype_policy"}
    (tmp_path / "config.json").write_text(json.dumps(old))
    states = [(1, "epoch-00001.weights.h5", {"num_classes": 10})]
    assert run.resumable_changes(current, states, 10) == {}
    with pytest.raises(ValueError, match="dtype policy 'float32'"):
        run.resumable_changes(dataclasses.replace(
            current, dtype_policy="mixed_bfloat16"), states, 10)
    # One that trained with --mixed_precision resumes with it.
    (tmp_path / "config.json").write_text(
        json.dumps({**old, "mixed_precision": True}))
    assert run.resumable_changes(
        TrainConfig(output_dir=str(tmp_path), mixed_precision=True).resolved(),
        states, 10) == {}


def test_auto_keeps_the_policy_a_run_trained_under(tmp_path, tiny_run,
                                                    monkeypatch):
    # `tiny_run` trained in float32; on a machine with bfloat16 units
    # `auto` would pick mixed_bfloat16 for a new run, not for this one.
    from one_keras.training import experiment

    run = tmp_path / "run"
    shutil.copytree(tiny_run.output_dir, run)
    monkeypatch.setattr(precision, "has_fast_bfloat16", lambda s=None: True)
    config = TrainConfig.from_settings(
        json.loads((run / "config.json").read_text()),
        output_dir=str(run), dtype_policy="auto")
    assert config.resolved().dtype_policy == "mixed_bfloat16"
    assert experiment.run(config) == tiny_run.report

"""Every method and ONE ablation trains through `experiment.run`
(`--method`)."""

import json
import warnings

import keras
import pytest

from one_keras import data
from one_keras.reports import run_report
from one_keras.training import experiment


TINY = {"depth": 8, "width": 4, "epochs": 1, "steps_per_epoch": 2,
        "eval_steps": 1, "verbose": 0}


def name_of(options):
    return "-".join(f"{k}={v}" for k, v in options.items())


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """`run(**options)`: (output dir, report); each configuration trains once
    per module, and the tests that follow only read it."""
    runs = {}

    def train(**options):
        name = name_of(options)
        if name not in runs:
            output_dir = tmp_path_factory.mktemp(options.get("method", "one"))
            config = experiment.TrainConfig.from_settings(
                output_dir=str(output_dir), **{**TINY, **options})
            runs[name] = output_dir, experiment.run(config)
        return runs[name]

    return train


@pytest.mark.parametrize("options", [
    {"method": "vanilla"},
    # tests/test_every_method.py trains every method in the fast tier; these
    # run them through the CLI's settings in CI (`slow`).
    pytest.param({"method": "dml", "num_peers": 2}, marks=pytest.mark.slow),
    pytest.param({"method": "ensemble", "num_peers": 3},
                 marks=pytest.mark.slow),
    # A snapshot a learning-rate cycle, a cycle at least an epoch.
    pytest.param({"method": "snapshot", "num_snapshots": 2, "epochs": 2},
                 marks=pytest.mark.slow),
    # The ablations train in CI; test_ablation_flags_reach_the_model checks
    # what they change in seconds.
    pytest.param({"no_distillation": True}, marks=pytest.mark.slow),
    pytest.param({"no_sharing": True}, marks=pytest.mark.slow),
    pytest.param({"gate": "average", "num_branches": 2},
                 marks=pytest.mark.slow),
], ids=name_of)
def test_method_trains_and_reports(run, options):
    output_dir, report = run(**options)
    assert report["method"] == options.get("method", "one")
    assert 0.0 <= report["target_accuracy"] <= 1.0
    assert report["params_target"] > 0
    assert report["flops_train"] > 0 and report["flops_target"] > 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deployed = keras.models.load_model(output_dir / "target.keras")
    # E.g. "Skipping variable loading for optimizer 'rm_sprop'": the file
    # carried an optimizer that does not match the model.
    assert not [str(w.message) for w in caught
                if "optimizer" in str(w.message)]
    assert deployed.output.shape[-1] == 10
    saved = json.loads((output_dir / "report.json").read_text())
    assert saved["target_accuracy"] == report["target_accuracy"]


def _layer_names(model):
    return {layer.name for layer in model.network._flatten_layers()}


@pytest.mark.parametrize("options", [
    {"no_distillation": True},
    {"no_sharing": True},
    {"gate": "average", "num_branches": 2},
], ids=name_of)
def test_ablation_flags_reach_the_model(options):
    digits = data.load_dataset("digits")
    config = experiment.TrainConfig(**TINY, options=options)
    default = experiment.build_model(experiment.TrainConfig(**TINY), digits)
    model = experiment.build_model(config, digits)
    assert default.kl_weight == 1.0 and "gate_bn" in _layer_names(default)
    one = config.method_options()
    assert model.kl_weight == (0.0 if one.no_distillation else 1.0)
    assert ("branch1_trunk" in _layer_names(model)) == one.no_sharing
    assert ("gate_bn" in _layer_names(model)) == (one.gate == "learned")
    assert model.network.output["branch_logits"].shape[1] == \
        one.num_branches


def _costs(**options):
    """The report's cost fields (`run_report.cost_fields`) of the model
    `experiment.run` would train, counted on the model as built."""
    config = experiment.TrainConfig.from_settings(**{**TINY, **options})
    return run_report.cost_fields(
        experiment.build_model(config, data.load_dataset("digits")))


def test_costs_follow_the_method(run):
    vanilla = _costs(method="vanilla")
    dml = _costs(method="dml", num_peers=2)
    # A run's report carries these fields; a snapshot ensemble's costs
    # exist once a snapshot is taken.
    _, report = run(method="vanilla")
    assert {key: report[key] for key in vanilla} == vanilla
    _, snapshot = run(method="snapshot", num_snapshots=2, epochs=2)
    assert dml["flops_train"] == 2 * vanilla["flops_train"]
    assert dml["flops_target"] == vanilla["flops_target"]
    assert dml["flops_ensemble"] == 2 * vanilla["flops_target"]
    # A snapshot run trains one network; its target is the last snapshot,
    # its ensemble runs both.
    assert snapshot["flops_train"] == vanilla["flops_train"]
    assert snapshot["flops_target"] == vanilla["flops_target"]
    assert snapshot["flops_ensemble"] == 2 * vanilla["flops_target"]
    assert snapshot["params_ensemble"] == 2 * vanilla["params_target"]


@pytest.mark.parametrize("teacher_file", ["target.keras", ""])
def test_kd_learns_from_a_saved_teacher(run, teacher_file):
    # A deployed `.keras` or the run directory, as every command takes.
    teacher_dir, _ = run(method="vanilla")
    teacher = str(teacher_dir / teacher_file) if teacher_file else \
        str(teacher_dir)
    _, report = run(method="kd", teacher=teacher, alpha=0.5)
    assert report["flops_train"] == 2 * report["flops_target"]


def test_more_snapshots_than_epochs_is_refused():
    # Snapshots are taken at epochs' ends: 1 epoch cannot give 2.
    with pytest.raises(ValueError, match="lower --num_snapshots"):
        experiment.TrainConfig(method="snapshot", options={"num_snapshots": 2},
                               epochs=1)


def test_kd_without_teacher_names_the_flag():
    with pytest.raises(ValueError, match="`teacher` must name a training"):
        experiment.TrainConfig(method="kd")

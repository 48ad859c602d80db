"""A run's report: its fields, and the text `format_report` prints."""

import json
import re

from one_keras.reports import run_report


def test_report_has_costs_versions_and_flags(tiny_run):
    run_dir, report = tiny_run.output_dir, tiny_run.report
    assert report["augment"] == "none"  # The digits' own recipe.
    assert report["flops_train"] > report["flops_target"] > 0
    assert report["config"]["depth"] == 8 and report["recipe"] == "paper"
    assert set(report["versions"]) == {"backend", "tensorflow", "keras",
                                       "one_keras", "python", "source",
                                       "machine"}
    assert report["versions"]["backend"] == "tensorflow"
    assert (run_dir / "tensorboard").is_dir()
    assert json.loads((run_dir / "report.json").read_text()) == report


ONE_REPORT = {
    "method": "one", "target_accuracy": 0.9, "ensemble_accuracy": 0.95,
    "deployables": {"target": "branch 0", "ensemble": "ONE-E"},
    "branch_accuracy": [0.9, 0.8], "branch_accuracy_mean": 0.85,
    "branch_accuracy_std": 0.05, "params_target": 1000,
    "params_ensemble": 1500, "params_train": 1500, "flops_target": 2e6,
    "flops_ensemble": 2.5e6, "flops_train": 3e6, "epochs": 2,
    "train_seconds": 3.0, "images_per_second": 120.0, "resumed_at_epoch": 1}


def test_format_report_prints_every_branch_the_costs_and_the_speed():
    lines = run_report.format_report(ONE_REPORT).splitlines()
    assert lines == [
        # The label column fits the longest label.
        "model               test accuracy",
        "branch 0                   0.9000",
        "branch 1                   0.8000",
        "branches mean+-std   0.8500 +- 0.0500",
        "target (branch 0)          0.9000",
        "ensemble (ONE-E)           0.9500",
        "params: target 1,000, ensemble 1,500, training 1,500",
        "FLOPs/image: target 2e+06, ensemble 2.5e+06, training 3e+06",
        "trained 2 epochs in 3.0 s (120 images/s, resumed at epoch 1)"]


def test_format_report_names_each_deployable_as_its_method_does():
    # An evaluation report of one deployed file: no method, no branches.
    assert run_report.format_report({"target_accuracy": 0.5}).splitlines() \
        == ["model              test accuracy",
            "target                    0.5000"]
    text = run_report.format_report({
        "method": "vanilla", "target_accuracy": 0.5, "params_target": 10,
        "deployables": {"target": "the network"}})
    assert re.search(r"^target \(the network\) +0\.5000$", text, re.M)
    assert "params: target 10" in text
    assert "teacher" not in text and "ONE" not in text
    text = run_report.format_report({
        "target_accuracy": 0.5, "ensemble_accuracy": 0.75,
        "deployables": {"target": "member 0",
                        "ensemble": "3 members averaged"}})
    assert re.search(r"^ensemble \(3 members averaged\) +0\.7500$", text,
                     re.M)

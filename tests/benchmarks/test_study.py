"""benchmarks/study.py and plot_curves.py: plan, subset, table and curves
(no training: the runs' reports and logs are written here)."""

import csv
import importlib.util
import json
import pathlib

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(
        f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


study = _load("study")
plot_curves = _load("plot_curves")


def test_plan_runs_every_seed_of_one_and_vanilla_first():
    plan = study.planned_runs(["one", "vanilla", "dml"], [0, 1])
    assert [study.run_id(n, s) for n, s, _ in plan] == [
        "one_s0", "vanilla_s0", "one_s1", "vanilla_s1", "dml_s0"]
    with pytest.raises(Exception, match="unknown run 'onne'"):
        study.planned_runs(["onne"], [0])


def test_kd_learns_from_the_teacher_run_of_its_seed(tmp_path):
    config = study.train_config("kd", 2, {"method": "kd"}, "photos",
                                str(tmp_path), epochs=3, depth=8)
    # A 3-epoch run is off the study's budget: its directories say so.
    assert config.options["teacher"] == str(
        tmp_path / "kd_teacher_e3_s2" / "target.keras")
    assert (config.augment, config.image_size, config.epochs) == (
        "pad_crop_flip", 32, 3)
    assert config.output_dir == str(tmp_path / "kd_e3_s2")


def test_subset_links_the_first_photos_of_each_class(tmp_path):
    for split, count in (("train", 5), ("test", 2)):
        for name in ("cat", "dog"):
            folder = tmp_path / "cifar" / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                (folder / f"{index:04d}.jpg").write_bytes(b"x")
    counts = study.make_subset(tmp_path / "cifar", tmp_path / "subset", 3)
    assert counts == (6, 4)
    assert sorted(p.name for p in (tmp_path / "subset/train/cat").iterdir()) \
        == ["0000.jpg", "0001.jpg", "0002.jpg"]
    assert study.make_subset(tmp_path / "cifar", tmp_path / "subset", 3) == \
        (6, 4)  # Rerunning keeps the links.


def _write_run(root, name, target, ensemble=None, epochs=3,
               extra_columns=(), **fields):
    run = root / name
    run.mkdir(parents=True)
    report = {"target_accuracy": target, "train_seconds": 600.0,
              "epochs": epochs, **fields}
    columns = ["epoch", "loss", "ce", "kl", "val_branch_0_accuracy"]
    if ensemble is not None:
        report.update(ensemble_accuracy=ensemble,
                      branch_accuracy_mean=target)
        columns += ["val_branch_1_accuracy", "val_teacher_accuracy"]
    columns += list(extra_columns)
    (run / "report.json").write_text(json.dumps(report))
    with open(run / "log.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for epoch in range(epochs):
            writer.writerow([epoch] + [0.1 * (epoch + 1)] * (len(columns) - 1))


def test_table_gives_mean_and_spread_over_seeds(tmp_path):
    _write_run(tmp_path / "keras", "one_s0", 0.70, 0.72)
    _write_run(tmp_path / "keras", "one_s1", 0.60, 0.62)
    _write_run(tmp_path / "keras", "vanilla_s0", 0.65)
    _write_run(tmp_path / "pytorch", "one_s0", 0.75, 0.77)
    table = study.write_table(tmp_path)
    one = study.summarize(tmp_path)["one"]
    assert one["keras"]["target"]["mean"] == pytest.approx(0.65)
    assert one["keras"]["target"]["std"] == pytest.approx(0.0707, abs=1e-4)
    assert one["pytorch"]["target"]["n"] == 1
    assert "| ONE-3 | keras | 0.6500 +- 0.0707 (n=2) | 0.6700" in table
    # Keras minus PyTorch: one PyTorch seed gives no standard error.
    assert "| ONE-3 | -0.1000 | -0.1000 |" in table
    assert "| vanilla |" not in table.split("Keras minus PyTorch")[1]
    _write_run(tmp_path / "pytorch", "one_s1", 0.65, 0.67)
    # (0.65 - 0.70) +- sqrt(0.0707^2 / 2 + 0.0707^2 / 2).
    assert "| ONE-3 | -0.0500 +- 0.0707 | -0.0500 +- 0.0707 |" in \
        study.write_table(tmp_path)
    assert (tmp_path / "study.json").exists()


def test_table_gives_the_peers_ensemble_and_mean_of_dml(tmp_path):
    # DML's report keeps its ensemble and peers in `metrics`, as `fit`
    # names them.
    _write_run(tmp_path / "keras", "dml_s0", 0.70, metrics={
        "member_0_accuracy": 0.70, "member_1_accuracy": 0.74,
        "ensemble_accuracy": 0.75, "kl": 0.2})
    table = study.write_table(tmp_path)
    assert "| DML (2 x ResNet-20) | keras | 0.7000 (n=1) | 0.7500 (n=1) | " \
        "0.7200 (n=1) |" in table


def test_table_names_the_device_a_report_gives(tmp_path):
    _write_run(tmp_path / "keras", "one_s0", 0.70, 0.72)
    _write_run(tmp_path / "pytorch", "one_s0", 0.75, 0.77, device="GPU X")
    table = study.write_table(tmp_path)
    assert "| ONE-3 | keras | 0.7000" in table
    assert "| ONE-3 | pytorch (GPU X) | 0.7500" in table


def test_budget_table_sets_one_against_vanilla_per_epochs(tmp_path):
    assert study.run_id("one", 2) == "one_s2"
    assert study.run_id("one", 2, epochs=8) == "one_e8_s2"
    for seed, (one, vanilla) in enumerate(((0.60, 0.64), (0.62, 0.66))):
        _write_run(tmp_path / "pytorch", study.run_id("one", seed, 8), one,
                   one + 0.01, epochs=8)
        _write_run(tmp_path / "pytorch", study.run_id("vanilla", seed, 8),
                   vanilla, vanilla, epochs=8)
    _write_run(tmp_path / "pytorch", "one_s0", 0.77, 0.78, epochs=30)
    _write_run(tmp_path / "pytorch", "vanilla_s0", 0.75, 0.75, epochs=30)
    _write_run(tmp_path / "keras", "one_s0", 0.76, 0.77, epochs=30)
    _write_run(tmp_path / "keras", "dml_s0", 0.70, 0.71, epochs=30)
    summary = study.budget_summary(tmp_path)
    assert list(summary["pytorch"]) == [8, 30]
    assert summary["pytorch"][8]["one"]["target"]["mean"] == \
        pytest.approx(0.61)
    assert summary["pytorch"][8]["vanilla"]["target"]["n"] == 2
    assert list(summary["keras"][30]) == ["one"]  # dml is not a budget row
    assert "0.6100" not in study.write_table(tmp_path)  # sweep stays out
    lines = study.write_budget_table(tmp_path).splitlines()
    assert lines[2].startswith(
        "| 8 | pytorch | 0.6500 +- 0.0141 (n=2) | 0.6100")
    # -0.04 +- sqrt(0.0141^2 / 2 + 0.0141^2 / 2).
    assert lines[2].endswith("| -0.0400 +- 0.0141 |")
    assert lines[3].startswith("| 30 | keras | - | 0.7600 (n=1)")
    assert lines[3].endswith("| - |")
    assert lines[4].endswith("| +0.0200 |")
    assert (tmp_path / "budget.md").read_text().splitlines() == lines
    output = tmp_path / "budget.png"
    assert plot_curves.plot_budget(tmp_path, output) == [8, 30]
    assert output.stat().st_size > 1000


def test_curves_draw_vanilla_branches_and_ensemble(tmp_path):
    _write_run(tmp_path / "keras", "one_s0", 0.70, 0.72)
    _write_run(tmp_path / "keras", "vanilla_s0", 0.65)
    log = plot_curves.read_log(tmp_path / "keras/one_s0/log.csv")
    assert set(plot_curves.curves(log)) == {"ONE branch 0", "ONE branch 1",
                                            "ONE-E"}
    output = tmp_path / "curves.png"
    drawn = plot_curves.plot(tmp_path, 0, output)
    assert len(drawn) == 2 and output.stat().st_size > 1000
    with pytest.raises(Exception, match="No log.csv of seed 5"):
        plot_curves.plot(tmp_path, 5, output)


def test_rows_figure_draws_each_keras_run_of_the_seed(tmp_path):
    _write_run(tmp_path / "keras", "one_s0", 0.70, 0.72,
               extra_columns=["val_kl"])
    _write_run(tmp_path / "keras", "dml_s0", 0.68,
               extra_columns=["val_member_0_accuracy",
                              "val_ensemble_accuracy"])
    _write_run(tmp_path / "keras", "vanilla_s1", 0.65)  # Another seed.
    output = tmp_path / "rows.png"
    assert plot_curves.plot_rows(tmp_path, 0, output) == ["one", "dml"]
    assert output.stat().st_size > 1000
    with pytest.raises(Exception, match="No log.csv of seed 2"):
        plot_curves.plot_rows(tmp_path, 2, output)


def test_pytorch_runs_train_the_same_protocol(tmp_path):
    command, output_dir = study.pytorch_command(
        "python-with-torch", "vanilla", 1, "photos", str(tmp_path), depth=20,
        epochs=30, batch_size=64)
    assert command[0] == "python-with-torch"
    assert command[1].endswith("benchmarks/pytorch_reference.py")
    options = dict(zip(command[3::2], command[4::2]))
    assert options == {"--data_dir": "photos", "--depth": "20",
                       "--num_branches": "1", "--epochs": "30",
                       "--batch_size": "64", "--seed": "1",
                       "--output_dir": str(tmp_path / "pytorch/vanilla_s1")}
    assert output_dir == tmp_path / "pytorch" / "vanilla_s1"


def test_precision_check_runs_are_named_and_tabled_beside_float32(tmp_path):
    assert study.run_id("one", 0, dtype_policy="mixed_bfloat16") == \
        "one_bf16_s0"
    assert study.run_id("vanilla", 1, epochs=8, augment="flip",
                        dtype_policy="mixed_bfloat16") == \
        "vanilla_e8_flip_bf16_s1"
    config = study.train_config("one", 0, {"method": "one"}, "photos",
                                "runs", dtype_policy="mixed_bfloat16")
    assert config.dtype_policy == "mixed_bfloat16"
    assert config.output_dir.endswith("one_bf16_s0")
    keras_dir = tmp_path / "keras"
    assert study.write_precision_table(tmp_path) == ""  # No check yet.
    for seed, (one, vanilla) in enumerate([(0.80, 0.78), (0.82, 0.78)]):
        _write_run(keras_dir, f"one_s{seed}", one, 0.84, epochs=30,
                   images_per_second=100.0)
        _write_run(keras_dir, f"vanilla_s{seed}", vanilla, epochs=30,
                   images_per_second=300.0)
        _write_run(keras_dir, f"one_bf16_s{seed}", one - 0.01, 0.83,
                   epochs=30, images_per_second=12.0 + seed)
        _write_run(keras_dir, f"vanilla_bf16_s{seed}", vanilla - 0.02,
                   epochs=30, images_per_second=40.0)
    _write_run(keras_dir, "one_rrc_s0", 0.5, 0.5, epochs=30)  # not tabled
    summary = study.precision_summary(tmp_path)
    assert set(summary) == {"float32", "mixed_bfloat16"}
    assert summary["mixed_bfloat16"]["one"]["target"]["mean"] == \
        pytest.approx(0.80)
    assert summary["mixed_bfloat16"]["one"]["images_per_second"][
        "mean"] == pytest.approx(12.5)
    assert summary["float32"]["one"]["target"]["n"] == 2
    lines = study.write_precision_table(tmp_path).splitlines()
    assert lines[2].startswith("| float32 | 0.7800 +- 0.0000 (n=2) | "
                               "0.8100 +- 0.0141 (n=2) |")
    assert lines[3].startswith("| mixed_bfloat16 | 0.7600")
    assert "| 40 +- 0 (n=2) | 12 +- 1 (n=2) |" in lines[3]
    assert (tmp_path / "precision.md").read_text().splitlines() == lines
    assert "bf16" not in study.write_table(tmp_path)  # study.md keeps out


def test_runs_on_another_backend_are_named_and_tabled_apart(tmp_path):
    assert study.run_id("one", 0, dtype_policy="mixed_bfloat16",
                        backend="jax") == "one_bf16_jax_s0"
    assert study.run_id("vanilla", 1, backend="jax") == "vanilla_jax_s1"
    config = study.train_config("kd", 0, {"method": "kd"}, "photos", "runs",
                                dtype_policy="mixed_bfloat16", backend="jax")
    assert config.output_dir.endswith("kd_bf16_jax_s0")
    assert config.options["teacher"].endswith("kd_teacher_bf16_jax_s0/"
                                              "target.keras")
    keras_dir = tmp_path / "keras"
    _write_run(keras_dir, "one_s0", 0.80, 0.84, epochs=30)
    _write_run(keras_dir, "vanilla_s0", 0.78, epochs=30)
    _write_run(keras_dir, "vanilla_jax_s0", 0.77, epochs=30,
               images_per_second=90.0)
    _write_run(keras_dir, "vanilla_bf16_jax_s0", 0.76, epochs=30,
               images_per_second=100.0)
    summary = study.precision_summary(tmp_path)
    assert list(summary) == ["float32", "float32 on jax",
                             "mixed_bfloat16 on jax"]
    assert summary["mixed_bfloat16 on jax"]["vanilla"]["target"][
        "mean"] == pytest.approx(0.76)
    lines = study.write_precision_table(tmp_path).splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == [
        "| float32", "| float32 on jax", "| mixed_bfloat16 on jax"]
    # The study's own table and the budget table keep to TensorFlow's runs.
    assert "jax" not in study.write_table(tmp_path)
    assert "jax" not in json.dumps(study.budget_summary(tmp_path))

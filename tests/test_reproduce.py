"""benchmarks/reproduce.py: every row is a `experiment.run` of the CLI's flags.
"""

import dataclasses
import json
import pathlib

import pytest
from absl import flags
from absl.testing import flagsaver

from one_keras.cli import train
from one_keras.training import experiment
from tests import cli_tools


SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / \
    "reproduce.py"


@pytest.fixture(scope="module")
def reproduce():
    with cli_tools.loaded_tool(SCRIPT, "reproduce") as module:
        yield module


def test_one_row_is_a_training_run_of_the_cli_flags(reproduce, tmp_path,
                                                    monkeypatch, capsys):
    work_dir = tmp_path / "work"
    table = tmp_path / "table.md"
    training_flags = ["--dataset=digits", "--depth=8", "--width=4",
                      "--epochs=1", "--steps_per_epoch=2", "--eval_steps=1",
                      "--verbose=0"]
    with flagsaver.flagsaver():
        flags.FLAGS(["reproduce", *training_flags, "--runs=one",
                     "--seeds=3", f"--work_dir={work_dir}",
                     f"--output={table}"])
        reproduce.main(["reproduce"])
        # What `python -m one_keras.train` makes of the same flags.
        expected = dataclasses.replace(
            train.config_from_flags(), method="one", seed=3,
            output_dir=str(work_dir / "one_seed3"))
    run_dir = work_dir / "one_seed3"
    config = json.loads((run_dir / "config.json").read_text())
    assert config == expected.settings()
    report = json.loads((run_dir / "report.json").read_text())
    assert (run_dir / "model.keras").is_file()
    assert (run_dir / "backup").is_dir()  # The CLI's checkpoints.
    error = 100 * (1 - report["target_accuracy"])
    ensemble_error = 100 * (1 - report["ensemble_accuracy"])
    row = [line for line in table.read_text().splitlines()
           if line.startswith("| `one` |")]
    assert len(row) == 1
    assert f"{error:.2f} +- 0.00 | {ensemble_error:.2f} +- 0.00" in row[0]
    results = json.loads((work_dir / "results.json").read_text())
    assert results["results"][0]["error"] == pytest.approx(error)

    # Rerunning reads the finished run back instead of training it again.
    def no_training(config):
        raise AssertionError(f"trained {config.output_dir} again")

    monkeypatch.setattr(experiment, "run", no_training)
    capsys.readouterr()
    with flagsaver.flagsaver():
        flags.FLAGS(["reproduce", *training_flags, "--runs=one",
                     "--seeds=3", f"--work_dir={work_dir}"])
        reproduce.main(["reproduce"])
    assert row[0] in capsys.readouterr().out


def test_kd_row_trains_its_teacher_first(reproduce, tmp_path):
    base = experiment.TrainConfig(dataset="digits", depth=8, width=4)
    teacher = reproduce.teacher_config(base, 1, str(tmp_path), 14)
    student = reproduce.row_config(base, "kd", 1, str(tmp_path),
                                   teacher=teacher.output_dir)
    assert teacher.method == "vanilla" and teacher.depth == 14
    assert student.method == "kd" and student.depth == 8
    assert student.options["teacher"] == teacher.output_dir
    assert reproduce.row_config(base, "one_no_sharing", 0,
                                str(tmp_path)).options["no_sharing"]
    with pytest.raises(ValueError, match="--runs"):
        reproduce.reproduce(base, ["resnet"], [0], 14,
                            str(tmp_path / "work"))
    assert not (tmp_path / "work").exists()

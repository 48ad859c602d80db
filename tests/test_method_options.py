"""Options a method ignores are refused; `--recipe=code` sets the code's
recipe for the options left unset."""

import os

import pytest
from absl.testing import flagsaver

from one_keras import data
from one_keras import methods
from one_keras import train
from one_keras import training

CODE_FLAGS = os.path.join(os.path.dirname(__file__), "..", "configs",
                          "cifar100_resnet110_code.flags")


@pytest.mark.parametrize("method, option, value", [
    ("vanilla", "temperature", 2.0),
    ("ensemble", "temperature", 2.0),
    ("dml", "gate", "average"),
    ("vanilla", "num_branches", 4),
    ("snapshot", "no_distillation", True),
    ("dml", "no_sharing", True),
    ("ensemble", "kl_rampup_epochs", 80),
    ("one", "teacher", "teacher.keras"),
    ("vanilla", "alpha", 0.5),
    ("one", "num_peers", 3),
    ("dml", "num_snapshots", 3),
])
def test_option_the_method_ignores_is_refused(method, option, value):
    users = methods.METHOD_OPTIONS[option]
    with pytest.raises(ValueError) as error:
        training.TrainConfig(method=method, **{option: value})
    message = str(error.value)
    assert f"`{option}` is used by method" in message
    assert all(repr(user) in message for user in users)
    assert f"method={method!r}" in message


def test_options_at_their_defaults_are_accepted_by_every_method():
    for method in methods.METHODS:
        teacher = "t.keras" if method == "kd" else ""
        training.TrainConfig(method=method, teacher=teacher)


def test_dml_uses_the_temperature():
    dataset = data.load_dataset("digits")
    tiny = {"method": "dml", "depth": 8, "width": 4}
    assert training.TrainConfig(**tiny).temperature == 1.0
    config = training.TrainConfig(**tiny, temperature=2.0)
    assert training.build_model(config, dataset).temperature == 2.0


def test_cli_refuses_an_ignored_flag_in_one_line():
    with flagsaver.flagsaver():
        train.FLAGS(["train", "--method=dml", "--kl_rampup_epochs=80"])
        with pytest.raises(ValueError, match="kl_rampup_epochs"):
            train.config_from_flags()


def test_code_recipe_fills_the_options_left_unset():
    paper = training.TrainConfig(depth=110)
    assert (paper.nesterov, paper.kl_rampup_epochs, paper.block) == (
        True, 0, "basic")
    code = training.TrainConfig(depth=110, recipe="code")
    assert (code.nesterov, code.kl_rampup_epochs, code.block) == (
        False, 80, "bottleneck")
    assert training.TrainConfig(depth=32, recipe="code").block == "basic"
    given = training.TrainConfig(depth=110, recipe="code", nesterov=True,
                                 kl_rampup_epochs=0, block="basic")
    assert (given.nesterov, given.kl_rampup_epochs, given.block) == (
        True, 0, "basic")


def test_code_recipe_flag_gives_the_flagfile():
    lines = [line.strip() for line in open(CODE_FLAGS)
             if line.startswith("--")]
    recipe_only = [line for line in lines if not line.startswith(
        ("--nonesterov", "--kl_rampup_epochs", "--block"))]
    assert len(recipe_only) == len(lines) - 3
    with flagsaver.flagsaver():
        train.FLAGS(["train", f"--flagfile={CODE_FLAGS}"])
        from_file = train.config_from_flags()
    with flagsaver.flagsaver():
        train.FLAGS(["train", *recipe_only])
        from_recipe = train.config_from_flags()
        train.FLAGS(["train", *recipe_only, "--nesterov"])
        overridden = train.config_from_flags()
    assert from_file == from_recipe
    assert (from_file.nesterov, from_file.kl_rampup_epochs,
            from_file.block) == (False, 80, "bottleneck")
    assert overridden.nesterov

"""Options a method ignores are refused, also at their default value;
`--recipe=code` sets the code's recipe for the options left unset; nothing
is filled into a `TrainConfig`, so `dataclasses.replace` works."""

import dataclasses
import os

import pytest
from absl.testing import flagsaver

from one_keras import data
from one_keras import methods
from one_keras.cli import train
from one_keras.training import experiment


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
    users = methods.option_users(methods.REGISTRY)[option]
    with pytest.raises(ValueError) as error:
        experiment.TrainConfig(method=method, options={option: value})
    message = str(error.value)
    assert f"`{option}` is used by method" in message
    assert all(repr(user) in message for user in users)
    assert f"method={method!r}" in message


def test_every_method_trains_with_its_own_defaults():
    for method in methods.METHODS:
        options = {"teacher": "t.keras"} if method == "kd" else {}
        config = experiment.TrainConfig(method=method, options=options)
        expected = methods.get_method(method).options(**options)
        if getattr(expected, "kl_rampup_epochs", 0) is None:
            # The paper recipe's ramp-up (ONE, CL-ILR, OKDDip: none).
            expected = dataclasses.replace(expected, kl_rampup_epochs=0)
        assert config.method_options() == expected


def test_an_option_given_at_its_default_is_still_given():
    with pytest.raises(ValueError, match="`num_branches` is used by method"):
        experiment.TrainConfig(method="dml", options={"num_branches": 3})


def test_replace_switches_the_method_of_a_config_without_options():
    one = experiment.TrainConfig(depth=8, width=4)
    dml = dataclasses.replace(one, method="dml")
    assert dml.method_options().temperature == 1.0
    assert one.method_options().temperature == 3.0
    with pytest.raises(ValueError, match="`gate` is used by method 'one'"):
        dataclasses.replace(experiment.TrainConfig(options={"gate": "average"}),
                            method="vanilla")


def test_dml_uses_the_temperature():
    dataset = data.load_dataset("digits")
    tiny = {"method": "dml", "depth": 8, "width": 4}
    config = experiment.TrainConfig(**tiny, options={"temperature": 2.0})
    assert experiment.build_model(config, dataset).temperature == 2.0


def test_settings_round_trip_through_the_flat_form():
    config = experiment.TrainConfig(method="ensemble", options={"num_peers": 3},
                                    depth=8)
    settings = config.settings()
    assert settings["num_peers"] == 3 and "num_branches" not in settings
    again = experiment.TrainConfig.from_settings(settings)
    assert again.settings() == settings
    with pytest.raises(ValueError, match="`alpha` is used by method 'kd'"):
        experiment.TrainConfig.from_settings(method="ensemble", alpha=0.5)


@pytest.mark.parametrize("option, value, message", [
    ("num_branches", 0, "`num_branches` must be"),
    ("alpha", 1.5, "`alpha` must be in"),
    ("temperature", float("nan"), "`temperature`"),
    ("gate", "max", "`gate` must be one of"),
])
def test_option_out_of_range_is_refused_in_one_line(option, value, message):
    method = "kd" if option == "alpha" else "one"
    options = {option: value}
    if method == "kd":
        options["teacher"] = "t.keras"
    with pytest.raises(ValueError, match=message):
        experiment.TrainConfig(method=method, options=options)


def test_cli_refuses_an_ignored_flag_in_one_line():
    with flagsaver.flagsaver():
        train.FLAGS(["train", "--method=dml", "--kl_rampup_epochs=80"])
        with pytest.raises(ValueError, match="kl_rampup_epochs"):
            train.config_from_flags()


def resolved(config):
    settings = config.settings()
    return settings["nesterov"], settings["kl_rampup_epochs"], \
        settings["block"]


def test_code_recipe_fills_the_options_left_unset():
    paper = experiment.TrainConfig(depth=110)
    assert resolved(paper) == (True, 0, "basic")
    assert paper.nesterov is None  # Resolved, never filled in.
    code = experiment.TrainConfig(depth=110, recipe="code")
    assert resolved(code) == (False, 80, "bottleneck")
    assert experiment.TrainConfig(depth=32, recipe="code").recipe_value(
        "block") == "basic"
    given = experiment.TrainConfig(depth=110, recipe="code", nesterov=True,
                                   options={"kl_rampup_epochs": 0},
                                   block="basic")
    assert resolved(given) == (True, 0, "basic")


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
    assert from_file.settings() == from_recipe.settings()
    assert resolved(from_file) == (False, 80, "bottleneck")
    assert overridden.recipe_value("nesterov")


def test_options_check_their_types_when_made():
    from one_keras.methods import get_method
    options = get_method("one").options
    with pytest.raises(ValueError, match=r"`no_distillation` must be a bool "
                       r".*Received: no_distillation='False' \(of type str\)"):
        options(no_distillation="False")
    with pytest.raises(ValueError, match=r"`num_branches` must be an int"):
        options(num_branches=2.0)
    with pytest.raises(ValueError, match=r"`temperature` must be a number > 0"):
        options(temperature=0)
    assert options(temperature=2).temperature == 2

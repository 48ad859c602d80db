"""`TrainConfig`: its checks and defaults, and `fit_verbosity`."""

import os

import pytest
from absl.testing import flagsaver

from one_keras.cli import train
from one_keras.training import train_config


@pytest.mark.parametrize("field,value,message", [
    ("epochs", 0, "`epochs` must be an integer >= 1"),
    ("strategy", "horovod", "`strategy` must be one of"),
    ("backbone", "vgg", "`backbone` must be one of"),
])
def test_bad_config_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        train_config.TrainConfig(**{field: value})


class _Terminal:
    def isatty(self):
        return True


def test_verbose_auto_is_a_bar_on_a_terminal_and_lines_otherwise(tmp_path):
    assert train_config.TrainConfig().verbose == "auto"
    assert train_config.fit_verbosity("auto", _Terminal()) == 1
    with open(tmp_path / "log.txt", "w") as log_file:
        assert train_config.fit_verbosity("auto", log_file) == 2
    for explicit in (0, 1, 2):
        assert train_config.fit_verbosity(explicit, _Terminal()) == explicit
    with flagsaver.flagsaver():
        train.FLAGS(["train", "--verbose=1"])
        assert train.config_from_flags().verbose == 1
    with pytest.raises(ValueError, match="`verbose` must be one of 'auto'"):
        train_config.TrainConfig(verbose=3)


def test_demo_flagfile_matches_defaults():
    """`python -m one_keras.train` with no flags is the flagfile's demo."""
    path = os.path.join(os.path.dirname(__file__), "..", "configs",
                        "digits.flags")
    values = dict(line.lstrip("-").strip().split("=", 1)
                  for line in open(path) if line.startswith("--"))
    defaults = train_config.TrainConfig().settings()
    for name, value in values.items():
        if name != "output_dir":
            assert str(defaults[name]) == value, name


@pytest.mark.parametrize("fields,message", [
    # A string is never a truthy bool: "False" would restart a finished
    # run, train without distillation or in bfloat16.
    ({"restart": "False"},
     r"`restart` must be a bool .* Received: restart='False' \(of type str\)"),
    ({"mixed_precision": "False"}, r"`mixed_precision` must be a bool"),
    ({"options": {"no_distillation": "False"}},
     r"`no_distillation` must be a bool .*\(of type str\)"),
    ({"nesterov": "yes"}, r"`nesterov` must be a bool \(True, False or None"),
    ({"depth": "8"}, r"`depth` must be an int\. Received: depth='8' "
                     r"\(of type str\)"),
    ({"depth": 10}, r"`depth` must be of the form `6 \* n \+ 2`"),
    ({"width": 16.0}, r"`width` must be an integer >= 1\. .*\(of type float"),
    ({"seed": "0"}, r"`seed` must be an integer >= 0\. .*\(of type str\)"),
    ({"dataset": "mnist"}, r"`dataset` must be one of 'digits'"),
    ({"output_dir": None}, r"`output_dir` must be a str\. .*NoneType"),
    ({"output_dir": ""}, r"`output_dir` must be a non-empty str"),
    ({"options": {"temperature": "3"}},
     r"`temperature` must be a number .*\(of type str\)"),
    ({"lr": "0.1"}, r"`lr` must be a number .*\(of type str\)"),
    ({"verbose": True}, r"`verbose` must be one of .*\(of type bool\)"),
    ({"block": "wide"}, r"`block` must be one of 'basic', 'bottleneck'"),
])
def test_wrong_types_are_refused_at_construction(fields, message):
    with pytest.raises(ValueError, match=message):
        train_config.TrainConfig(**fields)


def test_a_path_object_is_kept_as_its_string(tmp_path):
    config = train_config.TrainConfig(output_dir=tmp_path / "run")
    assert config.output_dir == str(tmp_path / "run")


def test_from_settings_keeps_or_refuses_every_key():
    config = train_config.TrainConfig.from_settings(options={"num_branches": 5})
    assert config.method_options().num_branches == 5
    saved = train_config.TrainConfig(options={"num_branches": 4}).settings()
    config = train_config.TrainConfig.from_settings(
        saved, options={"gate": "average"})
    assert config.options["num_branches"] == 4
    assert config.options["gate"] == "average"
    with pytest.raises(ValueError, match="`num_branches` is given twice"):
        train_config.TrainConfig.from_settings(num_branches=4,
                                             options={"num_branches": 5})
    with pytest.raises(ValueError, match="`epoch` is neither a `TrainConfig` "
                       "field nor an option"):
        train_config.TrainConfig.from_settings({"epoch": 3})
    with pytest.raises(ValueError, match="`options` must be a dict"):
        train_config.TrainConfig.from_settings(options=[("num_branches", 5)])


def test_numpy_scalars_become_python_values():
    """Issue 37, finding 14: NumPy scalars were accepted, then the run
    crashed writing `config.json` after loading its data."""
    import json

    import numpy as np

    config = train_config.TrainConfig(
        epochs=np.int64(1), lr=np.float32(0.5), depth=np.int32(8),
        restart=np.bool_(True), dataset=np.str_("digits"),
        options={"num_branches": np.int64(2)})
    settings = config.settings()
    json.dumps(settings)  # Raised "int64 is not JSON serializable".
    assert type(config.epochs) is int and config.epochs == 1
    assert type(config.lr) is float and config.lr == 0.5
    assert type(config.restart) is bool
    assert type(settings["num_branches"]) is int
    with pytest.raises(ValueError, match="`epochs` must be an integer >= 1"):
        train_config.TrainConfig(epochs=np.int64(0))


def test_only_the_backbones_architecture_options_are_recorded():
    resnet = train_config.TrainConfig(depth=8).settings()
    assert (resnet["depth"], resnet["block"], resnet["width"]) == \
        (8, "basic", 16)
    densenet = train_config.TrainConfig(backbone="densenet_bc_190_40")
    assert densenet.architecture() == {}
    assert not {"depth", "block", "width"} & set(densenet.settings())
    with pytest.raises(ValueError, match="`width` is not an architecture "
                       "option of backbone 'resnet18' .*shapes 'resnet'"):
        train_config.TrainConfig(backbone="resnet18", width=4)


def test_older_settings_with_every_architecture_option_still_load():
    # Earlier versions recorded depth, block and width for every backbone.
    old = {**train_config.TrainConfig(backbone="resnet18").settings(),
           "depth": 14, "block": "basic", "width": 16}
    config = train_config.TrainConfig.from_settings(old)
    assert config.settings() == train_config.TrainConfig(
        backbone="resnet18").settings()
    with pytest.raises(ValueError, match="`depth` is not an architecture"):
        train_config.TrainConfig.from_settings(old, depth=8)


def test_older_settings_name_the_backbone_model():
    # Runs before the rename recorded `"model": "resnet18"` in config.json.
    old = train_config.TrainConfig(backbone="resnet18").settings()
    old["model"] = old.pop("backbone")
    config = train_config.TrainConfig.from_settings(old)
    assert config.backbone == "resnet18"
    assert "model" not in config.settings()
    assert train_config.TrainConfig.from_settings(
        model="resnet18").backbone == "resnet18"


def test_the_older_name_of_a_field_is_taken_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="use backbone="):
        config = train_config.TrainConfig(model="densenet_bc_190_40")
    assert config.backbone == "densenet_bc_190_40"
    assert config == train_config.TrainConfig(backbone="densenet_bc_190_40")
    with pytest.raises(ValueError, match="give `backbone` only"):
        train_config.TrainConfig(model="resnet", backbone="resnet")


def test_an_older_config_json_is_read_under_todays_names(tmp_path):
    # A resume compares the recorded backbone, and evaluate and export read
    # the run, whichever name it recorded.
    import json

    from one_keras.runs import ResumeState
    from one_keras.runs import RunDirectory
    current = train_config.TrainConfig(backbone="resnet18").settings()
    old = dict(current)
    old["model"] = old.pop("backbone")
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert RunDirectory(str(tmp_path)).read_config() == current
    assert ResumeState.from_backup(1, {"config": old}).config == current

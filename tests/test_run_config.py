"""`TrainConfig`: its checks and defaults, and `fit_verbosity`."""

import os

import pytest
from absl.testing import flagsaver

from one_keras import run_config
from one_keras import train


@pytest.mark.parametrize("field,value,message", [
    ("epochs", 0, "`epochs` must be an integer >= 1"),
    ("strategy", "horovod", "`strategy` must be one of"),
    ("model", "vgg", "`model` must be one of"),
])
def test_bad_config_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        run_config.TrainConfig(**{field: value})


class _Terminal:
    def isatty(self):
        return True


def test_verbose_auto_is_a_bar_on_a_terminal_and_lines_otherwise(tmp_path):
    assert run_config.TrainConfig().verbose == "auto"
    assert run_config.fit_verbosity("auto", _Terminal()) == 1
    with open(tmp_path / "log.txt", "w") as log_file:
        assert run_config.fit_verbosity("auto", log_file) == 2
    for explicit in (0, 1, 2):
        assert run_config.fit_verbosity(explicit, _Terminal()) == explicit
    with flagsaver.flagsaver():
        train.FLAGS(["train", "--verbose=1"])
        assert train.config_from_flags().verbose == 1
    with pytest.raises(ValueError, match="`verbose` must be one of 'auto'"):
        run_config.TrainConfig(verbose=3)


def test_demo_flagfile_matches_defaults():
    """`python -m one_keras.train` with no flags is the flagfile's demo."""
    path = os.path.join(os.path.dirname(__file__), "..", "configs",
                        "digits.flags")
    values = dict(line.lstrip("-").strip().split("=", 1)
                  for line in open(path) if line.startswith("--"))
    defaults = run_config.TrainConfig().settings()
    for name, value in values.items():
        if name != "output_dir":
            assert str(defaults[name]) == value, name

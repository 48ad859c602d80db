"""The registries read from their source (`--help` imports no Keras) are
the imported registries, and a new method is a flag with nothing to
regenerate."""

import dataclasses
import os
import re
import shutil
import subprocess
import sys

import pytest

from one_keras import data
from one_keras import methods
from one_keras.models import architecture_options
from one_keras.models import model_names
from one_keras.training import registry_source
from one_keras.training import settings
from one_keras.utils import module_source


def test_methods_and_their_options_are_the_registrys():
    declared = registry_source.methods()
    assert [m.name for m in declared] == list(methods.REGISTRY)
    for method in declared:
        real = methods.REGISTRY[method.name]
        assert method.summary == real.summary
        fields = dataclasses.fields(real.options)
        assert [o.name for o in method.options] == [f.name for f in fields]
        for option, field in zip(method.options, fields):
            metadata = dict(field.metadata)
            if "choices" in metadata:
                metadata["choices"] = tuple(metadata["choices"])
            assert (option.default, option.help, option.type,
                    {"help": option.help, **option.bounds}) == \
                (field.default, metadata["help"],
                 getattr(field.type, "__name__", field.type), metadata)


def test_backbones_and_datasets_are_the_registrys():
    assert registry_source.backbone_options() == {
        name: architecture_options(name) for name in model_names()}
    assert registry_source.dataset_names() == data.dataset_names()
    for options in registry_source.backbone_options().values():
        assert set(options) <= set(settings.ARCHITECTURE_OPTIONS)


def test_every_settings_choices_and_defaults_are_the_libraries():
    from one_keras.methods import recipes
    from one_keras.methods.method_model import WEIGHT_DECAY
    from one_keras.models import resnet_cifar
    from one_keras.training import distribution
    from one_keras.training import precision
    assert settings.BY_NAME["augment"].allowed() == data.AUGMENTATIONS
    assert settings.BY_NAME["block"].allowed() == resnet_cifar.BLOCKS
    assert settings.BY_NAME["recipe"].allowed() == recipes.RECIPES
    assert settings.BY_NAME["strategy"].allowed() == distribution.STRATEGIES
    assert settings.BY_NAME["dtype_policy"].allowed() == \
        precision.DTYPE_POLICIES
    assert settings.BY_NAME["dtype_policy"].default == \
        precision.DEFAULT_DTYPE_POLICY
    assert settings.BY_NAME["weight_decay"].default == WEIGHT_DECAY


def test_what_is_no_literal_is_refused_in_one_line(tmp_path):
    package = tmp_path / "one_keras"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "consts.py").write_text(
        "import os\nA = (1, 'b')\nB = A + (2,)\nC = os.getcwd()\n")
    assert module_source.literal("one_keras.consts", "B", str(package)) == \
        (1, "b", 2)
    with pytest.raises(module_source.NotLiteralError,
                       match=r"`os.getcwd\(\)` is not a literal"):
        module_source.literal("one_keras.consts", "C", str(package))


def test_a_new_method_is_a_flag_without_regenerating_anything(tmp_path):
    # docs/contributing.md's example, written into a copy of the package
    # with its one registry line; the copy's `--help` lists its option.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    copy = tmp_path / "one_keras"
    shutil.copytree(os.path.join(root, "one_keras"), copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(os.path.join(root, "docs", "contributing.md")) as handle:
        section = handle.read().split("## Add a method")[1].split("\n## ")[0]
    (copy / "methods" / "label_smoothing.py").write_text(
        re.findall(r"```python\n(.*?)```", section, re.S)[0])
    registry = copy / "methods" / "registry.py"
    source = registry.read_text()
    source = source.replace(
        "from one_keras.methods import kdcl\n",
        "from one_keras.methods import kdcl\n"
        "from one_keras.methods import label_smoothing\n").replace(
        "    kdcl.METHOD,\n", "    kdcl.METHOD,\n    label_smoothing.METHOD,\n")
    registry.write_text(source)
    declared = registry_source.methods(str(copy))
    assert declared[-1].name == "label_smoothing"
    assert [o.name for o in declared[-1].options] == ["smoothing"]
    result = subprocess.run(
        [sys.executable, "-m", "one_keras.train", "--helpfull"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
        env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert result.returncode == 0, result.stderr[-2000:]
    text = " ".join(result.stdout.split())
    assert "--smoothing: method=label_smoothing: Weight of the uniform " \
        "target. (default: label_smoothing 0.1)" in text
    assert "label_smoothing: a plain network on smoothed labels" in text

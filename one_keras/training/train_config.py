"""The settings of a training run: `TrainConfig`, checked when built."""

import dataclasses
import functools
import os
import sys
import warnings

import numpy as np

from one_keras import data as data_lib
from one_keras import methods as methods_lib
from one_keras.methods import method as method_lib
from one_keras.methods import recipes
from one_keras.models import architecture_options
from one_keras.models import model_names
from one_keras.models import resnet_cifar
from one_keras.runs import recorded_settings
from one_keras.training import distribution
from one_keras.training import precision
from one_keras.training import settings as settings_lib
from one_keras.utils import validation


RECIPES = recipes.RECIPES
STRATEGIES = distribution.STRATEGIES
DTYPE_POLICIES = precision.DTYPE_POLICIES
# The architecture options of the backbones (`one_keras.models.
# architecture_options`): a run sets those of its backbone only; unset,
# they take their `Setting.unset` (`block`: the recipe's).
ARCHITECTURE_FIELDS = settings_lib.ARCHITECTURE_OPTIONS
ARCHITECTURE_DEFAULTS = {s.name: s.unset for s in settings_lib.SETTINGS
                         if s.architecture and s.unset is not
                         settings_lib.FROM_RECIPE}


def _declared_settings(cls):
    """Makes `cls` the frozen dataclass of `settings_lib.SETTINGS` (its
    fields, in order, then the class's own, `options`), with their
    `Attributes:` in its docstring."""
    own = dict(cls.__dict__.get("__annotations__", {}))
    cls.__annotations__ = {
        **{s.name: settings_lib.TYPES[s.type] for s in settings_lib.SETTINGS},
        **own}
    for setting in settings_lib.SETTINGS:
        setattr(cls, setting.name, setting.default)
    cls.__doc__ += settings_lib.docstring()
    cls = dataclasses.dataclass(frozen=True)(cls)
    cls.__init__ = _taking_older_names(cls.__init__)
    return cls


def _taking_older_names(init):
    """`init` that also takes a setting's older name (`model` for
    `backbone`: `one_keras.runs.recorded_settings.RENAMED`), with a
    `DeprecationWarning`, as `--model` is taken with a warning."""

    @functools.wraps(init)
    def __init__(self, *args, **fields):
        for old, new in recorded_settings.RENAMED.items():
            if old not in fields:
                continue
            if new in fields:
                raise ValueError(
                    f"`{old}` is the deprecated name of `{new}`; give "
                    f"`{new}` only. Received: {old}={fields[old]!r}, "
                    f"{new}={fields[new]!r}")
            warnings.warn(f"TrainConfig({old}=...) is deprecated: use "
                          f"{new}=...", DeprecationWarning, stacklevel=2)
            fields[new] = fields.pop(old)
        init(self, *args, **fields)

    return __init__


@_declared_settings
class TrainConfig:
    """Everything a training run needs. The CLI builds it from flags.

    Its fields are the settings of `one_keras.training.settings.SETTINGS`
    (each declared there once: type, default, help, bounds) and `options`,
    the method's options that were set.
    """

    options: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        # NumPy scalars (`np.int64(30)`, `np.float32(0.1)`) become the
        # Python values they hold: `config.json` and the report are JSON.
        for field in dataclasses.fields(self):
            object.__setattr__(self, field.name,
                               _python_scalar(getattr(self, field.name)))
        if isinstance(self.options, dict):
            object.__setattr__(self, "options", {
                name: _python_scalar(value)
                for name, value in self.options.items()})
        for setting in settings_lib.SETTINGS:  # A pathlib.Path: its str.
            value = getattr(self, setting.name)
            if setting.type == "path" and isinstance(value, os.PathLike):
                object.__setattr__(self, setting.name, os.fspath(value))
        # The registries as imported (a test may add to them).
        registries = {"dataset": data_lib.dataset_names(),
                      "method": tuple(methods_lib.REGISTRY),
                      "backbone": tuple(model_names())}
        for setting in settings_lib.SETTINGS:
            setting.check(getattr(self, setting.name),
                          registries.get(setting.name))
        self._check_architecture_options()
        if self.backbone == "resnet":
            resnet_cifar.check_depth(self._depth())
        if not isinstance(self.options, dict) or not all(
                isinstance(name, str) for name in self.options):
            raise ValueError(
                "`options` must be a dict of the method's options by name, "
                f"e.g. {{'num_branches': 4}}. "
                f"{validation.received('options', self.options)}")
        # Checks the method and its options; nothing is stored.
        options = self.method_options()
        method_lib.check_option_types(options, strings=True)
        methods_lib.get_method(self.method).check_run(options, self.epochs)
        if self.skip_bad_images and self.dataset != "image_folder":
            raise ValueError(
                "`skip_bad_images` applies to dataset 'image_folder' only. "
                f"Received: skip_bad_images=True, dataset={self.dataset!r}")
        if self.mixed_precision and \
                self.dtype_policy != precision.DEFAULT_DTYPE_POLICY:
            raise ValueError(
                "`mixed_precision` is an alias of a `dtype_policy` (the "
                "device's mixed one); give one of them. Received: "
                f"mixed_precision=True, dtype_policy={self.dtype_policy!r}")

    def _check_architecture_options(self):
        """Refuses an architecture option that `backbone` does not take."""
        taken = architecture_options(self.backbone)
        for name in ARCHITECTURE_FIELDS:
            value = getattr(self, name)
            if value is None or name in taken:
                continue
            users = [m for m in model_names()
                     if name in architecture_options(m)]
            raise ValueError(
                f"`{name}` is not an architecture option of backbone "
                f"{self.backbone!r} ("
                + (f"it takes {', '.join(taken)}" if taken else
                   "its architecture is fixed")
                + f"; `{name}` shapes {', '.join(map(repr, users))}): drop "
                f"it. Received: {name}={value!r}, backbone={self.backbone!r}")

    def _depth(self):
        """The ResNet depth the run builds (`None` for other backbones)."""
        if "depth" not in architecture_options(self.backbone):
            return None
        return ARCHITECTURE_DEFAULTS["depth"] if self.depth is None \
            else self.depth

    def architecture(self):
        """The architecture options the backbone is built with: those of
        `architecture_options(backbone)`, as given, else their defaults
        (`block`: the recipe's).

        Returns:
            A dict, e.g. `{"depth": 14, "block": "basic", "width": 16}`
            for `"resnet"`, `{}` for a backbone of a fixed architecture.
        """
        values = {}
        for name in architecture_options(self.backbone):
            if name == "block":
                values[name] = self.recipe_value("block")
            elif getattr(self, name) is None:
                values[name] = ARCHITECTURE_DEFAULTS[name]
            else:
                values[name] = getattr(self, name)
        return values

    @classmethod
    def from_settings(cls, settings=None, **fields):
        """A `TrainConfig` from flat settings, fields and the method's
        options side by side: the form of `settings()`, `config.json` and a
        report's `config`.

        Every key is kept or refused: a field, an option of the method
        (flat, or in an `options` dict), or the option of another method
        or an architecture option of another backbone, which a saved flat
        form may list (left out when it comes from `settings`: older runs
        recorded `depth`, `block` and `width` for every backbone; refused
        when given in `fields`). An older name is read as today's
        (`model` as `backbone`: `one_keras.runs.recorded_settings`).

        Args:
            settings: dict or `None`. Flat settings; `fields` override them.
            **fields: more flat settings, e.g. `method="dml",
                num_peers=3, depth=32`, or `options={"num_peers": 3}`.

        Returns:
            A `TrainConfig`; the method's options found among the settings
            (flat or in `options`) become `options`.

        Raises:
            ValueError: a key that is no field nor option, an `options`
                that is not a dict, or an option given twice with two
                values.
        """
        # Older runs recorded `backbone` as `model`.
        settings = recorded_settings.current_names(dict(settings or {}))
        fields = recorded_settings.current_names(fields)
        method = fields.get("method", settings.get(
            "method", cls.__dataclass_fields__["method"].default))
        backbone = fields.get("backbone", settings.get(
            "backbone", cls.__dataclass_fields__["backbone"].default))
        if backbone in model_names():
            for name in set(ARCHITECTURE_FIELDS) - set(
                    architecture_options(backbone)):
                settings.pop(name, None)
        names = methods_lib.get_method(method).option_names()
        every_option = methods_lib.option_users(methods_lib.REGISTRY)
        known = set(cls.__dataclass_fields__) | set(every_option)
        options = {}
        for source, keep in ((settings, names), (fields, every_option)):
            unknown = sorted(set(source) - known)
            if unknown:
                raise ValueError(
                    f"`{unknown[0]}` is neither a `TrainConfig` field nor "
                    f"an option of a method; nothing would read it. Drop "
                    f"it or fix its name. "
                    f"{validation.received(unknown[0], source[unknown[0]])}")
            given = source.get("options", {})
            if not isinstance(given, dict):
                raise ValueError(
                    "`options` must be a dict of the method's options by "
                    f"name. {validation.received('options', given)}")
            flat = {k: v for k, v in source.items() if k in keep}
            for name in set(flat) & set(given):
                if flat[name] != given[name]:
                    raise ValueError(
                        f"`{name}` is given twice, as a setting and in "
                        f"`options`, with two values; give it once. "
                        f"Received: {name}={flat[name]!r}, "
                        f"options={given!r}")
            options.update({**flat, **given})
        merged = {k: v for k, v in {**settings, **fields}.items()
                  if k not in every_option and k != "options"}
        return cls(**merged, options=options)

    def method_options(self):
        """The options the method trains with: `options`, else the recipe's,
        else the method's defaults.

        Returns:
            An instance of the method's options dataclass.
        """
        return methods_lib.resolve_options(self.method, self.options,
                                           self.recipe, self.backbone,
                                           self._depth())

    def recipe_value(self, name):
        """`nesterov` or `block`: the value given, else the recipe's."""
        value = getattr(self, name)
        if value is not None:
            return value
        return recipes.recipe_defaults(self.recipe, self.method, self.backbone,
                                       self._depth())[name]

    def resolved(self, strategy=None):
        """This config with `dtype_policy` the policy it trains under
        (`auto` and `mixed_precision` resolved on this machine) and
        `mixed_precision` off: what a run records and compares.

        Args:
            strategy: the run's `tf.distribute` strategy or `None`.

        Returns:
            A `TrainConfig`.
        """
        return dataclasses.replace(
            self, mixed_precision=False,
            dtype_policy=precision.resolve_dtype_policy(
                self.dtype_policy, self.mixed_precision, strategy))

    def settings(self):
        """Every setting the run trains with, in one flat dict: the fields
        (`nesterov` resolved; of `depth`, `block` and `width` only the
        backbone's own, resolved: `architecture()`) and the method's
        options with their defaults. It is what `config.json` and the
        report record and what a resumed run is compared on (older runs
        wrote this flat form too).

        Returns:
            A dict of JSON values.
        """
        settings = dataclasses.asdict(self)
        del settings["options"]
        for name in ARCHITECTURE_FIELDS:
            del settings[name]
        settings.update(self.architecture())
        settings["nesterov"] = self.recipe_value("nesterov")
        settings.update(dataclasses.asdict(self.method_options()))
        return settings


def _python_scalar(value):
    """`value`, or the Python value a NumPy scalar holds (`np.int64(3)` ->
    `3`); the checks then see the Python type."""
    return value.item() if isinstance(value, np.generic) else value


def fit_verbosity(verbose, stream=None):
    """Resolves `TrainConfig.verbose` to the number Keras `fit` takes.

    Args:
        verbose: `"auto"`, 0, 1 or 2.
        stream: the file the progress goes to (default `sys.stdout`).

    Returns:
        `verbose`, with `"auto"` replaced by 1 (a progress bar) when `stream`
        is a terminal and by 2 (one line per epoch, no escape codes)
        otherwise.
    """
    if verbose != "auto":
        return verbose
    stream = sys.stdout if stream is None else stream
    return 1 if getattr(stream, "isatty", lambda: False)() else 2

"""`Method`: everything one_keras knows about one training method.

A method is one object (in its own module, listed once in
`one_keras.methods.registry.METHODS`): its options (a frozen dataclass
whose field defaults are the method's defaults, and whose fields become
`TrainConfig` options and command-line flags), its builder, and what a
run adds for it (callbacks, a learning-rate schedule, report fields).
"""

import dataclasses
from typing import Callable
from typing import Optional

from one_keras.methods.method_model import WEIGHT_DECAY
from one_keras.models import build_plain_network
from one_keras.utils import validation


def option(default, help, **bounds):
    """A field of a method's options dataclass.

    Args:
        default: The method's default (`None`: filled by the recipe, see
            `one_keras.methods.recipes`).
        help: str. The flag's help text.
        **bounds: `lower_bound`, `upper_bound` (numbers, inclusive),
            `greater_than` (a number, exclusive: e.g. `0.0` for a
            temperature) or `choices` (str).

    Returns:
        A `dataclasses.field`.
    """
    return dataclasses.field(default=default,
                             metadata={"help": help, **bounds})


# An option field's declared type -> the check of its values' type.
_TYPE_CHECKS = {bool: validation.check_bool, "bool": validation.check_bool,
                int: validation.check_int, "int": validation.check_int,
                float: validation.check_number,
                "float": validation.check_number}


def check_option_types(options, strings=False):
    """Refuses an option value that is not of its field's type.

    A string is never a bool (`"False"` would be truthy) nor a number.

    Args:
        options: an options dataclass instance.
        strings: bool. Whether `str` fields must hold a str (a run's
            settings); `build_method_model` also takes objects there (a
            `keras.Model` as KD's `teacher`).
    """
    for field in dataclasses.fields(options):
        value = getattr(options, field.name)
        if value is None:
            continue
        check = _TYPE_CHECKS.get(field.type)
        if check is None and strings and field.type in (str, "str"):
            check = validation.check_str
        if check is not None:
            check(field.name, value)


def check_option_bounds(options):
    """Refuses an option value of another type than its field's, or outside
    its field's bounds or choices.

    Args:
        options: an options dataclass instance.
    """
    check_option_types(options)
    for field in dataclasses.fields(options):
        value = getattr(options, field.name)
        if value is None:
            continue
        if "choices" in field.metadata:
            validation.check_choice(field.name, value,
                                    field.metadata["choices"])
        if "greater_than" in field.metadata:
            if not value > field.metadata["greater_than"]:
                raise ValueError(
                    f"`{field.name}` must be a number > "
                    f"{field.metadata['greater_than']:g}. "
                    f"{validation.received(field.name, value)}")
        low = field.metadata.get("lower_bound")
        high = field.metadata.get("upper_bound")
        if isinstance(value, bool) or (low is None and high is None):
            continue
        if field.type in (int, "int"):
            validation.check_int_at_least(field.name, value, low)
            continue
        if (low is not None and value < low) or \
                (high is not None and value > high):
            bounds = (f">= {low}" if high is None else
                      f"in [{low}, {high}]" if low is not None else
                      f"<= {high}")
            raise ValueError(f"`{field.name}` must be {bounds}. "
                             f"{validation.received(field.name, value)}")


class Options:
    """Base of the methods' options dataclasses: an instance checks its
    values' types and bounds when it is made (e.g. `ONEOptions(
    no_distillation="False")` is refused: a string is never a bool)."""

    def __post_init__(self):
        check_option_bounds(self)


@dataclasses.dataclass(frozen=True)
class BuildRequest:
    """What every method's builder gets besides its options.

    Attributes:
        model_name: str. A backbone of `one_keras.models.model_names()`.
        num_classes: int. Number of classes.
        input_shape: tuple or `None`. Image shape (`None`: the backbone's).
        weight_decay: float. Coupled L2 weight decay of the training model.
        normalization: dict or `None`. Input normalisation, for export.
        sync_bn: bool. BatchNorm synchronized across replicas.
        architecture: dict. The backbone's architecture arguments.
    """

    model_name: str
    num_classes: int
    input_shape: Optional[tuple] = None
    weight_decay: float = WEIGHT_DECAY
    normalization: Optional[dict] = None
    sync_bn: bool = False
    architecture: dict = dataclasses.field(default_factory=dict)

    @property
    def model_arguments(self):
        """`weight_decay` and `normalization`, which every model takes."""
        return {"weight_decay": self.weight_decay,
                "normalization": self.normalization}

    def plain_network(self, name):
        """A fresh plain network of the requested backbone, named `name`."""
        return build_plain_network(
            self.model_name, self.num_classes, self.input_shape,
            sync_bn=self.sync_bn, network_name=name, **self.architecture)


def no_callbacks(options, epochs):
    """The callbacks of a method that needs none."""
    return []


@dataclasses.dataclass(frozen=True)
class Method:
    """A training method: its options, builder and what a run adds for it.

    Attributes:
        name: str. The `--method` value.
        summary: str. One line: what it trains (the flag's help).
        options: type. A frozen dataclass of the method's options, an
            `Options`, every field made with `option` (its default is the
            method's).
        build: callable. `build(options, request)` returns the training
            model (a `one_keras.methods.method_model.MethodModel`) for an
            options instance and a `BuildRequest`.
        callbacks: callable. `callbacks(options, epochs)` returns the
            `keras.callbacks.Callback`s a run adds. Defaults to none.
        schedule: callable or `None`. `schedule(options, lr, total_steps)`
            returns the learning-rate schedule; `None` takes the paper's
            step schedule.
        check: callable or `None`. `check(options, epochs)` raises a
            `ValueError` for options that do not fit the run's length.
        recipes: dict. Recipe name (`one_keras.methods.recipes.RECIPES`) -> the
            values it gives the method's options left unset (e.g. ONE's
            `{"code": {"kl_rampup_epochs": 80}}`). Defaults to none.
    """

    name: str
    summary: str
    options: type
    build: Callable
    callbacks: Callable = no_callbacks
    schedule: Optional[Callable] = None
    check: Optional[Callable] = None
    recipes: dict = dataclasses.field(default_factory=dict)

    def option_names(self):
        """The names of the method's options, in declaration order."""
        return tuple(field.name for field in dataclasses.fields(self.options))

    def check_run(self, options, epochs):
        """Raises a `ValueError` when `options` do not fit a run of
        `epochs` epochs (the method's `check`, if any)."""
        if self.check is not None:
            self.check(options, epochs)

    def make_options(self, given):
        """The method's options: its defaults, overridden by `given`.

        Args:
            given: dict. Option name -> value, for the options set.

        Returns:
            An instance of `self.options` (its checks passed).

        Raises:
            ValueError: an option the method does not have, or a value out
                of range.
        """
        unknown = [name for name in given if name not in self.option_names()]
        if unknown:
            raise ValueError(
                f"`{unknown[0]}` is not an option of method {self.name!r}, "
                f"which would ignore it (its options: "
                f"{', '.join(self.option_names()) or 'none'}). Drop it or "
                f"choose a method that uses it. Received: "
                f"{unknown[0]}={given[unknown[0]]!r}, method={self.name!r}")
        return self.options(**given)  # Checked by `Options`.

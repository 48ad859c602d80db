"""The training methods by name: one `Method` object a method.

Adding a method is writing its module under `one_keras/methods/` (its model,
its options dataclass and its `METHOD`) and adding one line to `REGISTRY`
here (see docs/contributing.md).
"""

from one_keras.methods import cl_ilr
from one_keras.methods import dml
from one_keras.methods import ensemble
from one_keras.methods import kd
from one_keras.methods import kdcl
from one_keras.methods import okddip
from one_keras.methods import one
from one_keras.methods import pcl
from one_keras.methods import recipes
from one_keras.methods import snapshot
from one_keras.methods import vanilla
from one_keras.methods.method import BuildRequest
from one_keras.methods.method_model import WEIGHT_DECAY
from one_keras.methods.options import check_method_options
from one_keras.methods.options import option_users
from one_keras.models import check_architecture


__all__ = ["METHODS", "REGISTRY", "build_method_model", "get_method",
           "resolve_options"]

# Method name -> `Method`, in the order the command line lists them.
REGISTRY = {method.name: method for method in (
    one.METHOD,
    vanilla.METHOD,
    kd.METHOD,
    dml.METHOD,
    ensemble.METHOD,
    snapshot.METHOD,
    cl_ilr.METHOD,
    okddip.METHOD,
    pcl.METHOD,
    kdcl.METHOD,
)}
METHODS = tuple(REGISTRY)


def get_method(name):
    """The `Method` named `name`.

    Raises:
        ValueError: no method has that name.
    """
    if name not in REGISTRY:
        allowed = ", ".join(repr(n) for n in METHODS)
        raise ValueError(f"`method` must be one of {allowed}. Received: "
                         f"method={name!r}")
    return REGISTRY[name]


def resolve_options(method, given, recipe="paper", model_name="resnet",
                    depth=None):
    """The options a method trains with: `given`, else the recipe's, else
    the method's defaults.

    Args:
        method: str. A name of `METHODS`.
        given: dict. Option name -> value, for the options that were set.
        recipe: str. `"paper"` or `"code"` (`one_keras.methods.recipes`).
        model_name: str. The backbone (the recipe may depend on it).
        depth: int or `None`. The ResNet depth (likewise).

    Returns:
        An instance of the method's options dataclass.

    Raises:
        ValueError: an option another method uses, or a value out of range.
    """
    spec = get_method(method)
    check_method_options(method, given, option_users(REGISTRY))
    names = spec.option_names()
    recipe_values = {**recipes.recipe_defaults(recipe, method, model_name,
                                               depth),
                     **spec.recipes.get(recipe, {})}
    filled = {name: value for name, value in recipe_values.items()
              if name in names}
    return spec.make_options({**filled, **given})


def build_method_model(method, model_name="resnet", num_classes=10,
                       input_shape=None, weight_decay=WEIGHT_DECAY,
                       normalization=None, sync_bn=False, **kwargs):
    """Builds the training model of a method of the paper, by name.

    Args:
        method: str. One of `METHODS`.
        model_name: str. A name of `one_keras.models.model_names()`.
            Defaults to `"resnet"`.
        num_classes: int. Number of classes. Defaults to `10`.
        input_shape: tuple or `None`. Image shape; `None` takes the model's
            default.
        weight_decay: float. Coupled L2 weight decay. Defaults to `1e-4`.
        normalization: dict or `None`. Input normalisation, recorded for
            export.
        sync_bn: bool. BatchNorm synchronized across replicas. Defaults to
            `False`.
        **kwargs: the method's options (`get_method(method).options`, e.g.
            `num_branches` and `temperature` for ONE, `teacher` for KD,
            `num_peers` for DML; each defaults to the method's value) and
            the backbone's architecture arguments (e.g. `depth`, `width`).

    Returns:
        A `keras.Model` to `compile` and `fit`; `deployed_model()` returns
        what a user deploys. For `"snapshot"`, compile with a
        `methods.cyclic_cosine_decay` of `num_snapshots` cycles.

    Example:
    ```python
    model = one_keras.methods.build_method_model(
        "dml", num_classes=100, input_shape=(32, 32, 3), depth=32)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    model.fit(train, epochs=300)
    model.deployed_model().save("dml_peer0.keras")
    ```
    """
    spec = get_method(method)
    every_option = option_users(REGISTRY)
    given = {k: v for k, v in kwargs.items() if k in every_option}
    architecture = {k: v for k, v in kwargs.items() if k not in given}
    check_architecture(
        model_name, architecture, f", or the options of method {spec.name!r}"
        f": {', '.join(spec.option_names()) or 'none'}")
    options = resolve_options(method, given, model_name=model_name,
                              depth=architecture.get("depth"))
    request = BuildRequest(
        model_name=model_name, num_classes=num_classes,
        input_shape=input_shape, weight_decay=weight_decay,
        normalization=normalization, sync_bn=sync_bn,
        architecture=architecture)
    return spec.build(options, request)


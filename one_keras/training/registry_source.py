"""What the registries offer a training run, read from their source.

The training command's flags and `--help` need the datasets, the methods
with their options and the backbones with their architecture options, and
importing the registries imports Keras and TensorFlow. This module reads
them from the registries' source (`one_keras.utils.module_source`), so a
new method, backbone or dataset is a flag as soon as its module and its
registry line are written: nothing to regenerate. What it reads is what
they declare, literals only: a method's `option(default, help, **bounds)`
fields and its `Method(name=..., summary=..., options=...)`, a backbone's
`Backbone(..., options=(...))`, a dataset's `LOADERS` key
(tests/test_registry_source.py compares all of it with the imported
registries).
"""

import ast
import dataclasses

from one_keras.utils import module_source
from one_keras.utils.module_source import NotLiteralError


METHODS_REGISTRY = "one_keras.methods.registry"
BACKBONES_REGISTRY = "one_keras.models.registry"
DATASETS_REGISTRY = "one_keras.data.registry"
# The field order of `one_keras.methods.method.Method` and
# `one_keras.models.registry.Backbone`, for arguments given by position.
_METHOD_FIELDS = ("name", "summary", "options")
_BACKBONE_FIELDS = ("build_trunk", "branch_builder", "input_shape",
                    "architecture", "options")


@dataclasses.dataclass(frozen=True)
class OptionDeclaration:
    """One field of a method's options dataclass, as its source declares it.

    Attributes:
        name: str. The option's name.
        type: str. `"bool"`, `"int"`, `"float"` or `"str"`.
        default: The method's default (`None`: the recipe's).
        help: str. The help text.
        bounds: dict. `lower_bound`, `upper_bound`, `greater_than`,
            `choices`, as given to `option`.
    """

    name: str
    type: str
    default: object
    help: str
    bounds: dict


@dataclasses.dataclass(frozen=True)
class MethodDeclaration:
    """A registered method, as its source declares it.

    Attributes:
        name: str. The `--method` value.
        summary: str. Its one-line summary.
        options: tuple of `OptionDeclaration`, in declaration order.
    """

    name: str
    summary: str
    options: tuple


def methods(root=module_source.PACKAGE_DIR):
    """The methods of `REGISTRY` in `one_keras/methods/registry.py`, in its
    order.

    Args:
        root: str. The `one_keras` package directory (a copy in tests).

    Returns:
        A tuple of `MethodDeclaration`.

    Raises:
        NotLiteralError: a declaration that is not written with literals.
    """
    _, node = module_source.definition(METHODS_REGISTRY, "REGISTRY", root)
    if not isinstance(node, ast.DictComp) or \
            not isinstance(node.generators[0].iter, (ast.Tuple, ast.List)):
        raise NotLiteralError(f"{METHODS_REGISTRY}: `REGISTRY` is not "
                              "written as {m.name: m for m in (...)}")
    declared = []
    for entry in node.generators[0].iter.elts:
        if not (isinstance(entry, ast.Attribute)
                and isinstance(entry.value, ast.Name)):
            raise NotLiteralError(f"{METHODS_REGISTRY}, line {entry.lineno}:"
                                  " an entry is not `module.METHOD`")
        module = module_source.imported_module(
            METHODS_REGISTRY, entry.value.id, root)
        if module is None:
            raise NotLiteralError(f"{METHODS_REGISTRY}: `{entry.value.id}` "
                                  "is not an imported module")
        declared.append(_method(module, entry.attr, root))
    return tuple(declared)


def _method(module, name, root):
    """The `MethodDeclaration` of `module.name` (a `Method(...)` call)."""
    where, call = module_source.definition(module, name, root)
    arguments = _call_arguments(call, _METHOD_FIELDS, where)
    options = arguments["options"]
    if not isinstance(options, ast.Name):
        raise NotLiteralError(f"{where}: `options` is not a class name")
    return MethodDeclaration(
        name=module_source.evaluate(arguments["name"], where, root),
        summary=module_source.evaluate(arguments["summary"], where, root),
        options=_option_fields(where, options.id, root))


def _option_fields(module, class_name, root):
    """The `option(...)` fields of an options class, its bases' first."""
    where, node = module_source.definition(module, class_name, root)
    if not isinstance(node, ast.ClassDef):
        raise NotLiteralError(f"`{class_name}` of {where} is not a class")
    fields = {}
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id != "Options":
            for field in _option_fields(where, base.id, root):
                fields[field.name] = field
    for statement in node.body:
        if not (isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and isinstance(statement.value, ast.Call)):
            continue
        declared = _option_call(statement.value, where, root)
        if declared is None:
            continue
        call, declared_in = declared
        arguments = _call_arguments(call, ("default", "help"), declared_in)
        type_name = ast.unparse(statement.annotation).strip("'\"")
        bounds = {keyword.arg: module_source.evaluate(
                      keyword.value, declared_in, root)
                  for keyword in call.keywords
                  if keyword.arg not in ("default", "help")}
        if "choices" in bounds:
            bounds["choices"] = tuple(bounds["choices"])
        name = statement.target.id
        fields[name] = OptionDeclaration(
            name=name, type=type_name,
            default=module_source.evaluate(arguments["default"],
                                           declared_in, root),
            help=module_source.evaluate(arguments["help"], declared_in,
                                        root),
            bounds=bounds)
    return tuple(fields.values())


def _option_call(call, module, root):
    """The `option(...)` call a field's value is, directly or through a
    function without arguments that returns one (an option several
    methods share, e.g. `kl_rampup_option()`): `(call, its module)`, or
    `None` for a field that is no option."""
    name = getattr(call.func, "id", None)
    if name == "option":
        return call, module
    if name is None or call.args or call.keywords:
        return None
    try:
        where, function = module_source.definition(module, name, root)
    except NotLiteralError:
        return None
    if not isinstance(function, ast.FunctionDef):
        return None
    returned = [statement.value for statement in function.body
                if isinstance(statement, ast.Return)]
    if len(returned) == 1 and isinstance(returned[0], ast.Call) and \
            getattr(returned[0].func, "id", None) == "option":
        return returned[0], where
    return None


def _call_arguments(call, positional, module):
    """A call's arguments by name (`ast` nodes): positional ones named by
    `positional`, then the keywords."""
    if not isinstance(call, ast.Call):
        raise NotLiteralError(f"{module}: `{ast.unparse(call)}` is not a "
                              "call")
    arguments = dict(zip(positional, call.args))
    arguments.update({k.arg: k.value for k in call.keywords if k.arg})
    return arguments


def backbone_options(root=module_source.PACKAGE_DIR):
    """Backbone name -> its architecture options (`Backbone.options`), in
    the order of `BACKBONES` in `one_keras/models/registry.py`.

    Returns:
        A dict of str -> tuple of str.
    """
    where, node = module_source.definition(BACKBONES_REGISTRY, "BACKBONES",
                                           root)
    if not isinstance(node, ast.Dict) or None in node.keys:
        raise NotLiteralError(f"{where}: `BACKBONES` is not written as a "
                              "dict")
    options = {}
    for key, value in zip(node.keys, node.values):
        arguments = _call_arguments(value, _BACKBONE_FIELDS, where)
        options[module_source.evaluate(key, where, root)] = tuple(
            module_source.evaluate(arguments["options"], where, root)
            if "options" in arguments else ())
    return options


def backbone_names(root=module_source.PACKAGE_DIR):
    """The backbones' names (`one_keras.models.model_names()`)."""
    return tuple(backbone_options(root))


def dataset_names(root=module_source.PACKAGE_DIR):
    """The datasets' names (`one_keras.data.dataset_names()`)."""
    return module_source.dict_keys(DATASETS_REGISTRY, "LOADERS", root)


def method_names(root=module_source.PACKAGE_DIR):
    """The methods' names (`one_keras.methods.METHODS`)."""
    return tuple(method.name for method in methods(root))

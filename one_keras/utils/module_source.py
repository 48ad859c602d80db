"""Values one_keras' modules write as literals, read from their source.

A command's flags need the registries' names (datasets, methods and their
options, backbones) to answer `--help`, and importing those modules imports
Keras and TensorFlow: seconds. `literal("one_keras.data.augmentation",
"AUGMENTATIONS")` parses the module's file with `ast` instead, and follows
the names a literal is made of (`NUM_PEERS`, `from ... import GATES`, a
module's `recipes.RECIPES`) to where they are assigned. What is no literal
(a call, a comprehension) is refused: a test compares every value read here
with the imported one.
"""

import ast
import functools
import os


PACKAGE = "one_keras"
# The directory of the `one_keras` package.
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class NotLiteralError(ValueError):
    """A value in a module's source is not a literal."""


def module_file(module, root=PACKAGE_DIR):
    """The file of `module`, a dotted name under `one_keras`, or `None`.

    Args:
        module: str. E.g. `"one_keras.methods.kd"`.
        root: str. The directory of the `one_keras` package (another copy
            of it in tests).

    Returns:
        The path of its `.py` file or of its package's `__init__.py`;
        `None` when there is none.
    """
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = os.path.join(root, *parts[1:])
    for path in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(path):
            return path
    return None


@functools.lru_cache(maxsize=None)
def _parsed(path):
    with open(path, encoding="utf-8") as handle:
        return ast.parse(handle.read(), path)


def module_tree(module, root=PACKAGE_DIR):
    """The parsed source (`ast.Module`) of `module`.

    Raises:
        NotLiteralError: `module` has no file under `root`.
    """
    path = module_file(module, root)
    if path is None:
        raise NotLiteralError(f"no module {module!r} under {root}")
    return _parsed(path)


def definition(module, name, root=PACKAGE_DIR):
    """Where `name` is defined, following `from X import name`.

    Args:
        module: str. The module whose top-level `name` is wanted.
        name: str. A top-level name of it.
        root: str. See `module_file`.

    Returns:
        `(module, node)`: the module that defines it and the `ast` node, an
        assignment's value, a `ClassDef` or a `FunctionDef`.

    Raises:
        NotLiteralError: `name` is neither assigned nor imported there.
    """
    found = None
    for node in module_tree(module, root).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name
                for t in node.targets):
            found = (module, node.value)
        elif isinstance(node, ast.AnnAssign) and node.value is not None and \
                isinstance(node.target, ast.Name) and node.target.id == name:
            found = (module, node.value)
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef)) and \
                node.name == name:
            found = (module, node)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    found = ("import", node.module, alias.name)
    if found is None:
        raise NotLiteralError(f"`{name}` is not defined in {module}")
    if found[0] == "import":
        return definition(found[1], found[2], root)
    return found


def imported_module(module, alias, root=PACKAGE_DIR):
    """The module that the name `alias` stands for in `module`, or `None`
    (`from one_keras.methods import kd` -> `"one_keras.methods.kd"`)."""
    for node in module_tree(module, root).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            for name in node.names:
                full = f"{node.module}.{name.name}"
                if (name.asname or name.name) == alias and \
                        module_file(full, root):
                    return full
        elif isinstance(node, ast.Import):
            for name in node.names:
                if name.asname == alias or name.name == alias:
                    return name.name if module_file(name.name, root) \
                        else None
    return None


def evaluate(node, module, root=PACKAGE_DIR):
    """The value of expression `node` of `module`: a literal, or names that
    stand for literals in it or in the modules it imports them from.

    Raises:
        NotLiteralError: anything else (a call, a comprehension).
    """
    def value(child):
        return evaluate(child, module, root)

    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Tuple):
        return tuple(value(e) for e in node.elts)
    if isinstance(node, ast.List):
        return [value(e) for e in node.elts]
    if isinstance(node, ast.Set):
        return {value(e) for e in node.elts}
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {value(k): value(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -value(node.operand)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return value(node.left) + value(node.right)
    if isinstance(node, ast.Name):
        return literal(module, node.id, root)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        target = imported_module(module, node.value.id, root)
        if target is not None:
            return literal(target, node.attr, root)
    raise NotLiteralError(
        f"{module}, line {getattr(node, 'lineno', '?')}: "
        f"`{ast.unparse(node)}` is not a literal")


def literal(module, name, root=PACKAGE_DIR):
    """The value of the top-level name `name` of `module`, read from its
    source (see the module docstring).

    Args:
        module: str. E.g. `"one_keras.data.augmentation"`.
        name: str. E.g. `"AUGMENTATIONS"`.
        root: str. See `module_file`.

    Returns:
        The value (tuples, lists, dicts, sets, numbers, strings, `None`).

    Raises:
        NotLiteralError: it is not (made of) literals.
    """
    where, node = definition(module, name, root)
    if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
        raise NotLiteralError(f"`{name}` of {where} is a {type(node).__name__}")
    return evaluate(node, where, root)


def dict_keys(module, name, root=PACKAGE_DIR):
    """The keys of the dict that the top-level `name` of `module` is
    written as (`LOADERS = {"digits": load_digits, ...}`), in order; its
    values need not be literals.

    Returns:
        A tuple.
    """
    where, node = definition(module, name, root)
    if not isinstance(node, ast.Dict) or None in node.keys:
        raise NotLiteralError(f"`{name}` of {where} is not written as a "
                              "dict of literal keys")
    return tuple(evaluate(key, where, root) for key in node.keys)

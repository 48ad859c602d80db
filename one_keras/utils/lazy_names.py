"""Names a package hands on but imports on first use (PEP 562).

A package `__init__.py` that would import Keras or TensorFlow to re-export
a name lists it instead:

    _LAZY = {"ONEModel": "one_keras.one_model", "models": "one_keras.models"}
    __getattr__, __dir__ = lazy_names.attach(__name__, _LAZY)

so that importing one of its light modules (and `--help` of a command line
tool) does not start TensorFlow.
"""

import importlib
import sys


def attach(package, names):
    """The `__getattr__` and `__dir__` of a package with lazy names.

    Args:
        package: str. The package's `__name__`.
        names: dict. Public name -> the module that defines it (the
            module's attribute of that name, else, for a submodule named
            so, the module itself).

    Returns:
        `(__getattr__, __dir__)`, to assign in the package.
    """
    def __getattr__(name):
        if name not in names:
            raise AttributeError(
                f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(names[name])
        value = getattr(module, name, module)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted({*vars(sys.modules[package]), *names})

    return __getattr__, __dir__

"""Registers one_keras' classes with Keras once both are imported, in
either order, so that `keras.saving.load_model("runs/x/model.keras")`
reads a run's training model after `import one_keras`.

Where Keras is loaded already (`import keras` sorts before `import
one_keras`), `one_keras.methods` is imported at once. Otherwise nothing is
imported (`--help` of the tools stays quick): a finder on `sys.meta_path`
waits for Keras to be imported and then imports `one_keras.methods`. When
Keras is imported by a one_keras module (`one_keras.methods` itself, or
one it imports), registering then would import a module that is still
half-initialised; it waits until no one_keras module is being imported,
and is done after the next one_keras module finishes (the one that
imported Keras, at the latest). The finder is removed once the classes are
registered. `one_keras.methods.saved_models.load_model`
registers them too.
"""

import importlib
import sys

_PACKAGE = "one_keras"


def register():
    """Imports `one_keras.methods` (registering every class) when Keras is
    loaded and no one_keras module is half-initialised; removes the
    finder once done.

    Returns:
        bool. Whether the classes are registered.
    """
    if "keras" not in sys.modules or _importing_one_keras():
        return False
    _remove_finder()
    importlib.import_module(f"{_PACKAGE}.methods")
    return True


def _importing_one_keras():
    """Whether a one_keras module is being imported (half-initialised)."""
    return any(
        (name == _PACKAGE or name.startswith(f"{_PACKAGE}.")) and getattr(
            getattr(module, "__spec__", None), "_initializing", False)
        for name, module in list(sys.modules.items()))


class _Finder:
    """A `sys.meta_path` finder that finds nothing itself: it hands out the
    other finders' specs of `keras` and of one_keras' modules with a loader
    that calls `register` once the module is executed."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras" and not name.startswith(f"{_PACKAGE}."):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


class _RegisteringLoader:
    """Wraps a loader: `register` after `exec_module`; the rest is the
    wrapped loader's."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        # The module is still marked as initialising while this runs.
        spec = getattr(module, "__spec__", None)
        initializing = getattr(spec, "_initializing", None)
        if initializing:
            spec._initializing = False
        try:
            register()
        finally:
            if initializing:
                spec._initializing = initializing


_FINDER = _Finder()


def _remove_finder():
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)


if "keras" in sys.modules:  # Keras is loaded: registering costs little.
    # `one_keras` itself is half-initialised here, but `one_keras.methods`
    # needs only the names its `__init__` set before importing this.
    importlib.import_module(f"{_PACKAGE}.methods")
else:
    sys.meta_path.insert(0, _FINDER)

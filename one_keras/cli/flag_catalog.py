"""What the training command's flags are made of, written down so that
defining them (and `--help`) imports neither Keras nor TensorFlow.

The training flags take their choices (datasets, augmentations, methods,
backbones, recipes, strategies), their defaults (`TrainConfig`'s) and the
methods' option flags from registries whose modules import Keras, and so
TensorFlow: seconds before `--help` could answer. `build()` reads them from
the registries; `flag_catalog.json` (shipped in the package) is its output,
which `one_keras.cli.train` defines its flags from. The test suite and every
training run check that the file matches the registries; after changing a
method's options, a `TrainConfig` default or a registry, rewrite it:

    python -m one_keras.cli.flag_catalog
"""

import dataclasses
import json
import os


CATALOG_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "flag_catalog.json")
_TYPES = {bool: "bool", int: "int", float: "float", str: "str"}


def load():
    """The catalog the training flags are defined from (the shipped file).

    Returns:
        A dict: `defaults`, `choices`, `methods`, `options` (see `build`).
    """
    with open(CATALOG_PATH) as handle:
        return json.load(handle)


def build():
    """The catalog, read from the registries (imports Keras).

    Returns:
        A dict (JSON types only): `defaults` (`TrainConfig` field -> its
        default, `options` left out), `choices` (flag -> allowed values),
        `methods` (`[name, summary]` in the command line's order) and
        `options` (one entry per method option flag: `name`, `type`,
        `help` naming the methods that use it and their defaults, and
        `choices` or `lower_bound`/`upper_bound` where it has them).
    """
    from one_keras import data
    from one_keras import methods
    from one_keras.training import train_config

    catalog = {
        "defaults": {name: field.default for name, field in
                     train_config.TrainConfig.__dataclass_fields__.items()
                     if name != "options"},
        "choices": {"dataset": list(data.dataset_names()),
                    "augment": list(data.AUGMENTATIONS),
                    "method": list(methods.METHODS),
                    "model": list(train_config.MODELS),
                    "recipe": list(train_config.RECIPES),
                    "strategy": list(train_config.STRATEGIES),
                    "dtype_policy": list(train_config.DTYPE_POLICIES)},
        "methods": [[m.name, m.summary] for m in methods.REGISTRY.values()],
        "options": _option_flags(methods.REGISTRY),
    }
    return json.loads(json.dumps(catalog))  # tuples as lists, as loaded


def _option_flags(registry):
    """One flag entry per option of the methods' options dataclasses.

    A flag's default is `None` (not given: the method's default); its help
    names the methods that use it and their defaults.
    """
    fields = {}
    for method in registry.values():
        for field in dataclasses.fields(method.options):
            fields.setdefault(field.name, []).append((method.name, field))
    entries = []
    for name, users in fields.items():
        field = users[0][1]
        kind = {"bool": "bool", "int": "int", "float": "float",
                "str": "str"}.get(field.type) or _TYPES[field.type]
        defaults = ", ".join(f"{method} {f.default!r}" for method, f in users
                             if f.default is not None)
        entry = {"name": name, "type": kind, "help": (
            f"method={'/'.join(m for m, _ in users)}: "
            f"{field.metadata['help']}"
            + (f" (default: {defaults})" if defaults else ""))}
        if "choices" in field.metadata:
            entry["choices"] = list(field.metadata["choices"])
        elif kind in ("int", "float"):
            lows = [f.metadata.get("lower_bound") for _, f in users]
            highs = [f.metadata.get("upper_bound") for _, f in users]
            if None not in lows:
                entry["lower_bound"] = min(lows)
            if None not in highs:
                entry["upper_bound"] = max(highs)
            above = [f.metadata.get("greater_than") for _, f in users]
            if None not in above:  # Checked by `TrainConfig`; said here.
                entry["help"] += f" A number > {min(above):g}."
        entries.append(entry)
    return entries


def check_current():
    """Raises a `ValueError` when the shipped catalog does not match the
    registries (the training flags would not be theirs)."""
    if load() != build():
        raise ValueError(
            f"{CATALOG_PATH} does not match one_keras' registries (a "
            "method, a method option, a TrainConfig default or a registry "
            "changed): rewrite it with `python -m one_keras.cli.flag_catalog`.")


def write():
    """Writes `build()` to `CATALOG_PATH`; returns the path."""
    with open(CATALOG_PATH, "w") as handle:
        json.dump(build(), handle, indent=1)
        handle.write("\n")
    return CATALOG_PATH


if __name__ == "__main__":
    print(f"wrote {write()}")

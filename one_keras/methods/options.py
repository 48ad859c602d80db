"""Which training options each method uses: the one table that
`one_keras.training.TrainConfig` (and so the CLI) checks a config against.

An option a method does not use is refused when it is given (differs from
its default), so that no flag is silently ignored.
"""

# Option -> the methods that use it. Options not listed (lr, epochs, depth,
# ...) are used by every method.
METHOD_OPTIONS = {
    "num_branches": ("one",),
    "gate": ("one",),
    "no_distillation": ("one",),
    "no_sharing": ("one",),
    "kl_rampup_epochs": ("one",),
    "temperature": ("one", "kd", "dml"),
    "teacher": ("kd",),
    "alpha": ("kd",),
    "num_peers": ("dml", "ensemble"),
    "num_snapshots": ("snapshot",),
}


def check_method_options(method, given):
    """Raises a `ValueError` for the first given option `method` ignores.

    Args:
        method: str. A method name (`one_keras.methods.METHODS`).
        given: dict. Option name -> value, for the options the user set.
    """
    for name, value in given.items():
        users = METHOD_OPTIONS.get(name, ())
        if users and method not in users:
            names = ", ".join(repr(m) for m in users)
            raise ValueError(
                f"`{name}` is used by method {names} only; method "
                f"{method!r} would ignore it. Drop it or choose one of those "
                f"methods. Received: {name}={value!r}, method={method!r}")

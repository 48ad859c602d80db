"""Which method uses which option: read from the methods' options
dataclasses, so that an option given to a method that would ignore it is
refused (no flag is silently ignored).
"""


def option_users(registry):
    """Option name -> the names of the methods that have it.

    Args:
        registry: dict. Method name -> `Method`.

    Returns:
        A dict of str -> tuple of str, options in first-seen order.
    """
    users = {}
    for name, method in registry.items():
        for option in method.option_names():
            users.setdefault(option, ())
            users[option] += (name,)
    return users


def check_method_options(method, given, users):
    """Raises a `ValueError` for the first given option `method` ignores.

    Args:
        method: str. A method name.
        given: dict. Option name -> value, for the options the user set.
        users: dict. Option name -> methods using it (`option_users`).
    """
    for name, value in given.items():
        methods = users.get(name, ())
        if method not in methods:
            names = ", ".join(repr(m) for m in methods) or "none"
            raise ValueError(
                f"`{name}` is used by method {names} only; method "
                f"{method!r} would ignore it. Drop it or choose one of those "
                f"methods. Received: {name}={value!r}, method={method!r}")

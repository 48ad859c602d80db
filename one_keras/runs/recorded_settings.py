"""The settings a run's `config.json` records, under today's names.

Older runs recorded some settings under names that changed since: `model`
is `backbone` (`--model` names a saved model in evaluate, predict, export
and flatness). `current_names` reads them under today's names, so that
such a run still resumes, evaluates and exports, and a resume compares it
setting by setting.
"""

# Older name -> today's name.
RENAMED = {"model": "backbone"}


def current_names(settings):
    """`settings` with every older name replaced by today's.

    Args:
        settings: dict or `None`. A run's recorded flat settings.

    Returns:
        A new dict (`None` for `None`); where both names are present,
        today's value is kept.
    """
    if not isinstance(settings, dict):
        return settings
    renamed = {RENAMED.get(name, name): value for name, value in
               settings.items() if name not in RENAMED or
               RENAMED[name] not in settings}
    return renamed

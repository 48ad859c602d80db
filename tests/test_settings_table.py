"""docs/training.md's settings table is `one_keras.training.settings`'s.

`python tests/test_settings_table.py` rewrites the table after a setting
changed; the test fails until then.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "training.md")
BEGIN = ("<!-- settings table: from one_keras/training/settings.py, by "
         "`python tests/test_settings_table.py` -->\n")
END = "<!-- end of settings table -->\n"


def _sections():
    """The doc before the table, the table, the doc after it."""
    with open(DOC) as handle:
        text = handle.read()
    head, rest = text.split(BEGIN)
    table, tail = rest.split(END)
    return head, table, tail


def _table():
    from one_keras.training import settings
    return settings.markdown_table()


def test_docs_table_is_the_declared_settings():
    assert _sections()[1] == _table(), (
        "docs/training.md's settings table is stale: run "
        "`python tests/test_settings_table.py`")


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    head, _, tail = _sections()
    with open(DOC, "w") as handle:
        handle.write(head + BEGIN + _table() + END + tail)
    print(f"wrote the settings table of {DOC}")

"""`python export/export.py ...`: the export command, `one-export`.

The command lives in the package (`one_keras.cli.export`, whose docstring
and `--help` describe it); this file keeps the documented path working.
"""

import importlib.util
import sys


if importlib.util.find_spec("one_keras") is None:
    sys.exit("export.py: error: the one_keras package is not installed; run "
             "`pip install -e .` in the repository (README, Quick start).")

from one_keras.cli.export import console_main  # noqa: E402
from one_keras.cli.export import main  # noqa: E402,F401


if __name__ == "__main__":
    console_main()

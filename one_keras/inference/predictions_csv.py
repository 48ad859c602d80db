"""Predictions as a CSV file: `path,class_1,probability_1,...`.

The file is written atomically, with the mode a new file gets, and safe in
a spreadsheet (no cell starts a formula); it never replaces a file of a
training run, only a CSV this module wrote (`check_csv_path`).

Example:
```python
from one_keras.inference import predictions_csv

predictions_csv.check_csv_path("predictions.csv")  # Before labelling.
predictions_csv.write_csv("predictions.csv", predictions, top_k=3)
```
"""

import csv
import os
import tempfile

from one_keras import runs
from one_keras.data import image_folder


CSV_HEADER_START = ("path", "class_1", "probability_1")
# What makes a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@")


def _csv_cell(text):
    """`text` safe in a CSV cell: on one line (`image_folder.shown`), and
    never read as a formula by a spreadsheet (a leading `=`, `+`, `-` or
    `@` gets a `'`, as OWASP advises)."""
    text = image_folder.shown(text)
    return "'" + text if text[:1] in FORMULA_STARTS else text


def csv_header(top_k):
    """The CSV columns: `path`, then `class_i`, `probability_i` per rank."""
    header = ["path"]
    for rank in range(1, top_k + 1):
        header += [f"class_{rank}", f"probability_{rank}"]
    return header


def _is_predictions_csv(path):
    """Whether `path` is a CSV file that `write_csv` wrote."""
    if os.path.islink(path) or not os.path.isfile(path):
        return False
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            first = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return tuple(first[:3]) == CSV_HEADER_START


def check_csv_path(path):
    """Raises, before labelling, unless predictions may go to `path`: a new
    file in an existing folder, or a CSV this module wrote; never a file of
    a training run (`one_keras.runs.check_output_path`)."""
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ValueError(f"`output` must be in an existing folder; "
                         f"{parent} does not exist. Received: output={path}")
    runs.check_output_path(
        path, _is_predictions_csv, "predictions CSV (a file that "
        "`one_keras.cli.predict --output` wrote)", hint="e.g. a new "
        "predictions.csv")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"`output` cannot be written (no write permission "
                         f"in {parent}). Received: output={path}")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_csv(path, predictions, top_k):
    """Writes predictions as CSV, atomically: a temporary file beside
    `path`, renamed over it (a symlink at `path` is refused by
    `check_csv_path`, never written through). The file gets the mode a new
    file gets (0666 less the umask). Paths and labels are written on one
    line each (`image_folder.shown`), and a cell that a spreadsheet would
    run as a formula (`=cmd|...`) starts with a `'`.

    Args:
        path: str. Checked by `check_csv_path`.
        predictions: list of `Prediction`.
        top_k: int. The ranks to write (a row with fewer leaves them empty).
    """
    check_csv_path(path)
    folder = os.path.dirname(os.path.abspath(path))
    handle = tempfile.NamedTemporaryFile(
        "w", dir=folder, suffix=".csv.tmp", newline="", encoding="utf-8",
        delete=False)
    try:
        with handle:
            writer = csv.writer(handle)
            writer.writerow(csv_header(top_k))
            for prediction in predictions:
                row = [_csv_cell(prediction.path)]
                for label, probability in prediction.top:
                    row += [_csv_cell(label), f"{probability:.6g}"]
                writer.writerow(row)
        os.chmod(handle.name, 0o666 & ~_umask())  # Not mkstemp's 0600.
        os.replace(handle.name, path)
    finally:
        if os.path.exists(handle.name):
            os.unlink(handle.name)

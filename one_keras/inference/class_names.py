"""The names of a model's classes: the user's, or those its run stored.

Example:
```python
from one_keras.inference import class_names

names = class_names.parse_class_names("cat,dog,bird")
```
"""

import os

from one_keras.data import image_folder
from one_keras.data import labels


def run_class_names(run_dir, config, num_classes):
    """The class names the run stored when it trained (`inputs.json`),
    and a note where its image folder's classes changed since; for a run
    of an earlier version, a dataset's fixed names (digits, tfds), never
    an image folder's classes as they are now.

    Returns:
        `(class_names or None, notes)`: `notes` a tuple of one-line str.
    """
    recorded = run_dir.read_inputs() or {}
    trained = recorded.get("class_names")
    dataset = config.get("dataset")
    if isinstance(trained, list) and len(trained) == num_classes and all(
            isinstance(name, str) for name in trained):
        location = recorded.get("data_location")
        train = os.path.join(location, "train") if isinstance(
            location, str) else None
        if recorded.get("dataset") != "image_folder" or train is None or \
                not os.path.isdir(train):
            return trained, ()
        change = labels.changed_classes(
            trained, image_folder.class_folders(train))
        return trained, ((
            f"the classes of {location} changed since the run trained on "
            f"it ({change}); labels are the {num_classes} classes it "
            "trained on."),) if change else ()
    if not isinstance(dataset, str):
        return None, ()
    if dataset == "image_folder":
        return None, (
            f"{run_dir.path} does not record its class names (trained by "
            "an earlier version): classes are shown by index; pass "
            "--class_names to name them.",)
    data_dir = config.get("data_dir")
    names = labels.dataset_class_names(
        dataset, data_dir if isinstance(data_dir, str) else None)
    if names is not None and len(names) != num_classes:
        names = None  # Not this model's classes: print indices.
    return names, ()


def parse_class_names(value):
    """Class names from `--class_names`: a text file with one name a line
    (UTF-8, a byte order mark allowed; blank lines left out), or names
    separated by commas.

    Returns:
        A list of str, or `None` for an empty `value`.

    Raises:
        ValueError: an empty name among the commas, no name at all, or a
            name given twice.
    """
    if not value:
        return None
    if os.path.isfile(value):
        # "utf-8-sig": a BOM (Windows Notepad) is no part of the first name.
        with open(value, encoding="utf-8-sig") as handle:
            names = [name for name in (line.strip() for line in handle)
                     if name]
        source = f"the file {value}"
    else:
        names = [name.strip() for name in value.lstrip("\ufeff").split(",")]
        source = "the commas"
        if not all(names):
            raise ValueError(
                "`class_names` must be names separated by commas, none "
                "empty (or a text file with one a line). Received: "
                f"class_names={value!r}")
    if not names:
        raise ValueError(f"`class_names` names no class: {source} holds "
                         "none. Give one name a line, in label order. "
                         f"Received: class_names={value!r}")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(
            f"`class_names` must name each class once; {source} give "
            f"{', '.join(map(repr, twice[:5]))} more than once. Received: "
            f"class_names={value!r}")
    return names

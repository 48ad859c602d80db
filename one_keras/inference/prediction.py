"""Labels image files with a loaded deployable: top classes and
probabilities, batch by batch.

The deployable is a `predictor.Predictor` (`predictor.load_predictor`:
a run directory, a `.keras` file or an artifact of any registered export
format); the files come from `images.list_images` and are read by
`images.read_image`; `predictions_csv` writes the results as CSV.

Example:
```python
from one_keras.inference import images
from one_keras.inference import prediction
from one_keras.inference import predictor

labeller = predictor.load_predictor("runs/digits")
paths = images.list_images(["photos/"])
for result in prediction.predict_files(labeller, paths, top_k=3):
    print(prediction.format_prediction(result))
```
"""

import dataclasses

import numpy as np

from one_keras.data import image_folder
from one_keras.inference import images
from one_keras.utils import validation


@dataclasses.dataclass(frozen=True)
class Prediction:
    """The top classes of one image.

    Attributes:
        path: str. The image file.
        top: list of `(label, probability)`, most probable first; `label`
            is the class name where known, else its index (a str).
        indices: list of int. The classes' indices, in the same order.
    """

    path: str
    top: list
    indices: list


def predict_files(predictor, paths, top_k=5, batch_size=64, on_skip=None):
    """Labels image files, batch by batch, as they are read.

    Args:
        predictor: `predictor.Predictor`.
        paths: list of str. Files to label (see `images.list_images`).
        top_k: int. Classes per image (at most the model's). Defaults to
            `5`.
        batch_size: int. Images per model call. Defaults to `64`.
        on_skip: callable or `None`. `on_skip(path, reason)` for each file
            that is not an image; `None` skips silently.

    Yields:
        A `Prediction` per image, in the order of `paths`.

    Raises:
        ValueError: none of `paths` is an image (after the skips).
    """
    validation.check_int_at_least("top_k", top_k, 1)
    validation.check_int_at_least("batch_size", batch_size, 1)
    k = min(top_k, predictor.num_classes)
    batch, names, labelled = [], [], 0
    for index, path in enumerate(paths):
        try:
            batch.append(images.read_image(path, predictor.input_shape,
                                           predictor.center_crop))
            names.append(path)
        except ValueError as error:
            if on_skip is not None:
                on_skip(path, str(error))
        if batch and (len(batch) == batch_size or index == len(paths) - 1):
            probabilities = predictor.run(np.stack(batch))
            for name, row in zip(names, probabilities):
                order = np.argsort(-row, kind="stable")[:k]
                yield Prediction(
                    path=name, indices=[int(i) for i in order],
                    top=[(predictor.label(int(i)), float(row[i]))
                         for i in order])
            labelled += len(batch)
            batch, names = [], []
    if not labelled:
        raise ValueError(
            f"`input` holds no image: none of its {len(paths)} files could "
            "be decoded as an image (JPEG, PNG, GIF, BMP, ...). Received: "
            f"e.g. {image_folder.shown(paths[0]) if paths else 'nothing'}")


def format_prediction(prediction):
    """One line: `path: label probability, label probability, ...`."""
    classes = ", ".join(f"{label} {probability:.4f}"
                        for label, probability in prediction.top)
    return f"{image_folder.shown(prediction.path)}: {classes}"



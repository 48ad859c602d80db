"""Reading the images to label: files and folders in, model inputs out.

Images are read as the NumPy pipeline reads an image folder (Pillow, RGB or
grayscale as the model takes, bilinear resizing with antialiasing;
`one_keras.data.numpy_pipeline`): resized to the model's input, or, for a
run trained on `imagenet2012`, resized and centre-cropped as its
evaluation is. A folder is searched recursively, in sorted order, leaving
out hidden files and folders (names starting with `.`); a file that is not
an image is skipped, through `on_skip`.

Example:
```python
from one_keras.inference import images

paths = images.list_images(["photos/"])
pixels = images.read_image(paths[0], (32, 32, 3))
```
"""

import os
import stat

from one_keras.data import image_folder
from one_keras.data import numpy_pipeline


UNDECODABLE = (OSError, ValueError, SyntaxError)


def list_images(inputs, exclude=(), on_skip=None):
    """The files to label: the files given, and the files under the folders
    given, recursively, in sorted order, without hidden files and folders.

    Symlinked files and sub-folders are followed; a sub-folder that leads
    to a folder listed already (a symlink loop, or a second way to the same
    folder) and one that cannot be listed are left out, through `on_skip`.

    Args:
        inputs: list of str. Image files and folders.
        exclude: iterable of str. Paths to leave out (the CSV output).
        on_skip: callable or `None`. `on_skip(path, reason)` for each
            sub-folder left out; `None` leaves them out silently.

    Returns:
        A list of file paths (not yet checked to be images).

    Raises:
        ValueError: an input does not exist, or there is no file at all.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    excluded = {os.path.abspath(os.fspath(p)) for p in exclude}
    paths = []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            paths.extend(_files_under(item, on_skip or (lambda *_: None)))
        elif os.path.lexists(item):
            paths.append(item)
        else:
            raise ValueError(
                "`input` must be an image file or a folder of images. "
                f"Received: input={item!r} (not found)")
    paths = [p for p in paths if os.path.abspath(p) not in excluded]
    if not paths:
        raise ValueError(
            "`input` holds no files to label: give image files or folders "
            "holding some. Received: input="
            + ", ".join(repr(os.fspath(i)) for i in inputs))
    return paths


def _files_under(folder, on_skip):
    """The files under `folder`, recursively and sorted, symlinked
    sub-folders followed, each real folder once."""
    listed = {os.path.realpath(folder): folder}

    def unlistable(error):
        on_skip(error.filename, "the folder cannot be listed "
                f"({error.strerror})")

    files = []
    for parent, folders, names in os.walk(folder, onerror=unlistable,
                                          followlinks=True):
        kept = []
        for name in sorted(f for f in folders if not f.startswith(".")):
            path = os.path.join(parent, name)
            real = os.path.realpath(path)
            if real in listed:
                on_skip(path, "a link to a folder listed already ("
                        f"{image_folder.shown(listed[real])})")
                continue
            listed[real] = path
            kept.append(name)
        folders[:] = kept
        files.extend(os.path.join(parent, name) for name in sorted(names)
                     if not name.startswith("."))
    return files


def read_image(path, input_shape, center_crop=False):
    """One image file as the model's float32 input of raw 0-255 pixels.

    Args:
        path: str. An image file.
        input_shape: tuple. `(height, width, channels)`, 1 or 3 channels.
        center_crop: bool. Resize the shorter side and centre-crop (as
            ImageNet evaluation does) instead of resizing to the input.

    Returns:
        A float32 array of `input_shape`.

    Raises:
        ValueError: the file is not an image (the reason in the message).
    """
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError as error:
        raise ValueError(f"it cannot be opened ({error.strerror})") from None
    if not regular:  # Reading a named pipe could block forever.
        raise ValueError("not a regular file (a named pipe, socket or "
                         "device)")
    height, width, channels = input_shape
    try:
        image = numpy_pipeline.decode(path, channels)
    except numpy_pipeline.UnusableImage as error:
        raise ValueError(f"refused: {error}") from None
    except UNDECODABLE as error:
        raise ValueError(f"not an image ({_first_line(error)})") from error
    except Exception as error:  # Pillow's DecompressionBombError, ...
        raise ValueError(f"cannot be decoded ({type(error).__name__}: "
                         f"{_first_line(error)})") from error
    if center_crop and height == width:
        image = numpy_pipeline.resize_center_crop(image, height)
    else:
        image = numpy_pipeline.resize_to(image, (height, width))
    return image.astype("float32")


def _first_line(error):
    return (str(error).splitlines() or [type(error).__name__])[0]

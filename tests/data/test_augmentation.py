"""`--augment`: named training recipes, and the image-folder defaults."""

import numpy as np
import pytest
import tensorflow as tf

from one_keras import data
from one_keras.data import augmentation


def _write_folder(root, side, per_class=2):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in ("cat", "dog"):
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(per_class):
                pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
                (folder / f"{index}.png").write_bytes(
                    tf.io.encode_png(pixels).numpy())


def _augmented_and_plain(dataset):
    image = next(iter(dataset.train_source))[0]
    seeds = [tf.constant([0, s], tf.int64) for s in range(8)]
    augmented = [dataset.prepare_train(image, seed).numpy() for seed in seeds]
    return augmented, dataset.prepare_eval(image).numpy()


@pytest.mark.parametrize("side, recipe", [
    (32, "pad_crop_flip"), (64, "pad_crop_flip"),
    (80, "random_resized_crop_flip")])
def test_image_folder_default_follows_the_image_size(tmp_path, side, recipe):
    _write_folder(tmp_path, side)
    dataset = data.load_dataset("image_folder", data_dir=str(tmp_path),
                                image_size=side)
    assert dataset.augmentation == recipe
    augmented, plain = _augmented_and_plain(dataset)
    assert all(a.shape == (side, side, 3) for a in augmented)
    # Crops move pixels, so some seeds give neither the image nor its flip.
    flipped = plain[:, ::-1]
    assert any(not np.allclose(a, plain) and not np.allclose(a, flipped)
               for a in augmented)


@pytest.mark.parametrize("name", ["none", "flip"])
def test_named_recipes_override_the_dataset(tmp_path, name):
    _write_folder(tmp_path, 16)
    dataset = data.load_dataset("image_folder", data_dir=str(tmp_path),
                                image_size=16, augment=name)
    assert dataset.augmentation == name
    augmented, plain = _augmented_and_plain(dataset)
    for image in augmented:
        assert (np.allclose(image, plain)
                or (name == "flip" and np.allclose(image, plain[:, ::-1])))
    if name == "flip":
        assert any(not np.allclose(image, plain) for image in augmented)


def test_auto_keeps_the_dataset_recipe():
    dataset = data.load_dataset("digits")
    assert augmentation.with_augmentation(dataset, "auto") is dataset
    assert dataset.augmentation == "none"


def test_unknown_recipe_names_the_choices():
    with pytest.raises(ValueError, match="pad_crop_flip"):
        data.load_dataset("digits", augment="crop")

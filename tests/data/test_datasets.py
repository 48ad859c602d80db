"""tfds loaders (mock data), image folders, preprocessing and pipelines."""

import contextlib
import json
import os
import threading

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from one_keras import data
from one_keras.data import image_folder
from one_keras.data import preprocessing
from one_keras.data import tfds_datasets
from one_keras.runs import saved_run


@pytest.mark.parametrize("name,classes,shape,splits", [
    ("cifar10", 10, (32, 32, 3), ["train", "test"]),
    ("cifar100", 100, (32, 32, 3), ["train", "test"]),
    ("svhn_cropped", 10, (32, 32, 3), ["train+extra", "test"]),
    ("imagenet2012", 1000, (224, 224, 3), ["train", "validation"]),
])
def test_tfds_loaders_with_mock_data(tmp_path, monkeypatch, name, classes,
                                     shape, splits):
    requested = []
    load_split = tfds_datasets._load_split

    def spy(builder, name, split, *args):
        requested.append(split)
        return load_split(builder, name, split, *args)

    monkeypatch.setattr(tfds_datasets, "_load_split", spy)
    with tfds.testing.mock_data(num_examples=4):
        dataset = data.load_dataset(name, data_dir=str(tmp_path))
        batches = data.train_pipeline(dataset, batch_size=3, steps=2)
        images, labels = next(iter(batches))
        test_images, _ = next(iter(data.eval_pipeline(dataset, 4)))
    assert dataset.num_classes == classes and dataset.input_shape == shape
    assert images.shape == (3, *shape) and test_images.shape == (4, *shape)
    assert labels.dtype == tf.int32
    assert np.all(np.isfinite(images)) and np.all(np.isfinite(test_images))
    assert requested == splits  # SVHN trains on train + extra (paper).
    assert dataset.num_train == 4  # mock_data's count, read from the data.


def test_missing_tfds_dataset_says_how_to_prepare_it(tmp_path):
    with pytest.raises(data.DatasetNotFoundError) as error:
        data.load_dataset("cifar10", data_dir=str(tmp_path))
    message = str(error.value)
    assert "'cifar10'" in message and str(tmp_path) in message
    assert "tfds.builder('cifar10'" in message
    assert "download_and_prepare()" in message


def test_missing_imagenet_says_where_the_tar_files_go(tmp_path):
    with pytest.raises(data.DatasetNotFoundError, match="ILSVRC2012_img_"
                       "train.tar") as error:
        data.load_dataset("imagenet2012", data_dir=str(tmp_path))
    assert os.path.join(str(tmp_path), "downloads", "manual") in str(
        error.value)


def test_bad_data_dir_is_named(tmp_path):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(data.DatasetNotFoundError, match="does not exist"):
        data.load_dataset("cifar100", data_dir=missing)


def _write_folder(root, split, counts, size=(20, 13)):
    rng = np.random.default_rng(0)
    for name, count in counts.items():
        folder = root / split / name
        folder.mkdir(parents=True)
        for index in range(count):
            pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            encoded = tf.io.encode_png(pixels).numpy()
            (folder / f"{index}.png").write_bytes(encoded)


@pytest.mark.parametrize("test_name", ["test", "val"])
def test_image_folder(tmp_path, test_name):
    _write_folder(tmp_path, "train", {"cat": 3, "dog": 2})
    _write_folder(tmp_path, test_name, {"cat": 1, "dog": 1})
    dataset = data.load_dataset("image_folder", data_dir=str(tmp_path),
                                image_size=16)
    assert dataset.num_classes == 2 and dataset.input_shape == (16, 16, 3)
    assert (dataset.num_train, dataset.num_test) == (5, 2)
    images, labels = next(iter(data.train_pipeline(dataset, batch_size=5)))
    assert images.shape == (5, 16, 16, 3)
    assert sorted(labels.numpy().tolist()) == [0, 0, 0, 1, 1]


def test_split_arrays_are_raw_resized_pixels_of_every_class(tmp_path):
    counts = {"a": 6, "b": 6, "c": 6}
    _write_folder(tmp_path, "train", counts)
    _write_folder(tmp_path, "test", counts)
    dataset = data.load_dataset("image_folder", data_dir=str(tmp_path),
                                image_size=8)
    images, labels = data.split_arrays(dataset, "train", limit=6)
    assert images.shape == (6, 8, 8, 3) and images.dtype == np.float32
    assert images.max() > 200 and images.min() >= 0  # Not normalised.
    # Files are listed in a seeded order: a prefix samples every class.
    assert set(labels.tolist()) == {0, 1, 2}
    test_images, test_labels = data.split_arrays(dataset, "test")
    assert test_images.shape == (18, 8, 8, 3)
    assert sorted(test_labels.tolist()) == [0] * 6 + [1] * 6 + [2] * 6


def test_image_folder_without_train_names_the_layout(tmp_path):
    with pytest.raises(data.DatasetNotFoundError, match="train/<class>"):
        data.load_dataset("image_folder", data_dir=str(tmp_path))


def test_image_folder_refuses_undecodable_files(tmp_path):
    _write_folder(tmp_path, "train", {"cat": 3, "dog": 2})
    _write_folder(tmp_path, "test", {"cat": 1, "dog": 1})
    (tmp_path / "train" / "cat" / "1.png").write_bytes(b"\x89PNG broken")
    (tmp_path / "train" / "dog" / "9.jpg").write_bytes(b"")
    with pytest.raises(ValueError) as error:
        data.load_dataset("image_folder", data_dir=str(tmp_path))
    message = str(error.value)
    assert "2 of 6 files" in message and "--skip_bad_images" in message
    assert os.path.join("cat", "1.png") in message
    assert "\n" not in message


def test_image_folder_skips_undecodable_files_by_name(tmp_path, caplog):
    _write_folder(tmp_path, "train", {"cat": 3, "dog": 2})
    _write_folder(tmp_path, "test", {"cat": 1, "dog": 1})
    bad = tmp_path / "train" / "cat" / "1.png"
    bad.write_bytes(b"\x89PNG broken")
    dataset = data.load_dataset("image_folder", data_dir=str(tmp_path),
                                image_size=8, skip_bad_images=True)
    assert (dataset.num_train, dataset.num_test) == (4, 2)
    assert str(bad) in caplog.text
    labels = [int(y) for _, y in dataset.train_source]
    assert sorted(labels) == [0, 0, 1, 1]


def test_image_folder_refuses_empty_class_folders(tmp_path):
    _write_folder(tmp_path, "train", {"cat": 2, "dog": 2})
    _write_folder(tmp_path, "test", {"cat": 1, "dog": 1})
    for name in ("emu", "yak"):
        (tmp_path / "train" / name).mkdir()
    with pytest.raises(ValueError, match="have none: emu, yak"):
        data.load_dataset("image_folder", data_dir=str(tmp_path))


def test_skip_bad_images_is_for_image_folders_only():
    with pytest.raises(ValueError, match="skip_bad_images"):
        data.load_dataset("digits", skip_bad_images=True)


def test_pad_crop_flip_shapes_ranges_and_seeds():
    image = tf.random.stateless_uniform((32, 32, 3), (1, 2), 0, 255)
    first = preprocessing.pad_crop_flip(image, tf.constant([3, 4]))
    again = preprocessing.pad_crop_flip(image, tf.constant([3, 4]))
    others = [preprocessing.pad_crop_flip(image, tf.constant([3, s]))
              for s in range(5, 10)]
    assert first.shape == (32, 32, 3)
    assert 0.0 <= float(tf.reduce_min(first)) <= float(
        tf.reduce_max(first)) <= 255.0
    np.testing.assert_array_equal(first, again)
    assert any(not np.array_equal(first, o) for o in others)


def test_imagenet_crops_any_size_to_the_input_size():
    image = tf.random.stateless_uniform((300, 180, 3), (1, 2), 0, 255)
    train = preprocessing.random_resized_crop_flip(image, [1, 2], size=32)
    test = preprocessing.resize_center_crop(image, size=32)
    assert train.shape == (32, 32, 3) and test.shape == (32, 32, 3)
    assert float(tf.reduce_max(train)) <= 255.0


def test_cifar_normalisation_matches_the_paper():
    raw = tf.fill((1, 1, 3), 255.0 * 0.4914)
    normalised = data.normalize(raw, preprocessing.CIFAR_NORMALIZATION)
    assert abs(float(normalised[0, 0, 0])) < 1e-5


def _images(pipeline):
    return np.concatenate([x for x, _ in pipeline.as_numpy_iterator()])


def test_train_pipeline_is_deterministic_and_resumable():
    """Epoch e is the same from a fresh start and from a resume at e."""
    images = np.random.default_rng(0).integers(0, 256, (12, 8, 8, 3))
    source = tf.data.Dataset.from_tensor_slices(
        (images.astype("uint8"), np.arange(12, dtype="int32")))
    dataset = data.Dataset(
        name="toy", train_source=source, test_source=source, num_classes=12,
        input_shape=(8, 8, 3), normalization=preprocessing.SVHN_NORMALIZATION,
        num_train=12, num_test=12, augment=preprocessing.pad_crop_flip)
    full = _images(data.train_pipeline(dataset, 4, seed=1, epochs=3,
                                       deterministic=True))
    again = _images(data.train_pipeline(dataset, 4, seed=1, epochs=3,
                                        deterministic=True))
    resumed = _images(data.train_pipeline(dataset, 4, seed=1, epochs=3,
                                          start_epoch=2, deterministic=True))
    other_seed = _images(data.train_pipeline(dataset, 4, seed=2, epochs=3,
                                             deterministic=True))
    assert full.shape == (36, 8, 8, 3)
    np.testing.assert_array_equal(full, again)
    np.testing.assert_array_equal(full[24:], resumed)
    assert not np.array_equal(full[:12], full[12:24])  # epochs differ
    assert not np.array_equal(full, other_seed)


def test_image_folder_decodes_jpeg_exactly_as_pil(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        for name in ("cat", "dog"):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / "0.jpg", quality=75)
    dataset = data.load_dataset("image_folder", data_dir=str(tmp_path),
                                image_size=32)
    for image, label in dataset.test_source:
        name = ("cat", "dog")[int(label)]
        expected = np.asarray(Image.open(tmp_path / "test" / name / "0.jpg"))
        np.testing.assert_array_equal(image.numpy(), expected)



@contextlib.contextmanager
def _unreadable_file(folder, kind):
    """A named pipe `pipe.jpg`, or a PNG named `caf\\xe9.jpg` (not UTF-8),
    in `folder`. Yields its name as `os.listdir` gives it and an event set
    when something opened the pipe: a reader gets end-of-file then, so code
    that reads it fails instead of hanging."""
    opened = threading.Event()
    if kind == "non_utf8":
        path = os.path.join(os.fsencode(folder), b"caf\xe9.jpg")
        with open(path, "wb") as handle:
            handle.write((folder / "0.png").read_bytes())
        yield os.fsdecode(path), opened
        return
    path = folder / "pipe.jpg"
    os.mkfifo(path)

    def write_nothing():
        descriptor = os.open(path, os.O_WRONLY)  # Waits for a reader.
        opened.set()
        os.close(descriptor)

    writer = threading.Thread(target=write_nothing, daemon=True)
    writer.start()
    try:
        yield str(path), opened
    finally:  # Lets the writer's open return if nothing read the pipe.
        for _ in range(200):
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
            writer.join(timeout=0.05)
            if not writer.is_alive():
                break


@pytest.mark.parametrize("kind, reason", [
    ("pipe", "not a regular file"), ("non_utf8", "not UTF-8 (rename it)")])
def test_image_folder_names_pipes_and_non_utf8_names(tmp_path, kind, reason):
    """A named pipe blocked loading forever; a name that is not UTF-8 failed
    with "Error converting unicode string", naming no file."""
    _write_folder(tmp_path, "train", {"cat": 3, "dog": 2})
    _write_folder(tmp_path, "test", {"cat": 1, "dog": 1})
    with _unreadable_file(tmp_path / "train" / "cat", kind) as (path, opened):
        with pytest.raises(ValueError) as error:
            data.load_dataset("image_folder", data_dir=str(tmp_path))
        assert not opened.is_set()  # Never read: it would block.
    message = str(error.value)
    assert "1 of 6 files" in message and "--skip_bad_images" in message
    assert "\n" not in message and reason in message
    assert image_folder.shown(path) in message


@pytest.mark.parametrize("kind", ["pipe", "non_utf8"])
def test_image_folder_skips_pipes_and_non_utf8_names(tmp_path, caplog, kind):
    _write_folder(tmp_path, "train", {"cat": 3, "dog": 2})
    _write_folder(tmp_path, "test", {"cat": 1, "dog": 1})
    with _unreadable_file(tmp_path / "train" / "cat", kind) as (path, opened):
        dataset = data.load_dataset("image_folder", data_dir=str(tmp_path),
                                    image_size=8, skip_bad_images=True)
        assert not opened.is_set()  # Never read: it would block.
    assert (dataset.num_train, dataset.num_test) == (5, 2)
    assert image_folder.shown(path) in caplog.text
    labels = [int(y) for _, y in dataset.train_source]
    assert sorted(labels) == [0, 0, 0, 1, 1]


def test_a_run_that_skipped_bad_images_is_reloaded_with_its_setting(
        tmp_path):
    """Evaluate and export load a run's image folder as it trained on it;
    `--skip_bad_images` also works for a folder of their own."""
    _write_folder(tmp_path, "train", {"cat": 3, "dog": 2})
    _write_folder(tmp_path, "test", {"cat": 1, "dog": 1})
    (tmp_path / "train" / "cat" / "1.png").write_bytes(b"\x89PNG broken")
    run = tmp_path / "run"
    run.mkdir()
    config = {"dataset": "image_folder", "data_dir": str(tmp_path),
              "image_size": 8, "seed": 0, "skip_bad_images": True}
    (run / "config.json").write_text(json.dumps(config))
    dataset = saved_run.load_run_dataset(str(run))
    assert dataset.num_train == 4
    config["skip_bad_images"] = False
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="--skip_bad_images"):
        saved_run.load_run_dataset(str(run))
    assert saved_run.load_run_dataset(str(run),
                                 skip_bad_images=True).num_train == 4


def test_a_run_reads_its_stored_data_location_and_classes(tmp_path,
                                                          monkeypatch):
    """Issue 37, finding 4: a relative `data_dir` in `config.json` resolved
    from the working directory ("cow"), and a renamed class folder
    silently changed what the labels mean."""
    project = tmp_path / "project"
    _write_folder(project / "photos", "train", {"cat": 2, "fish": 2})
    _write_folder(project / "photos", "test", {"cat": 1, "fish": 1})
    run = project / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(
        {"dataset": "image_folder", "data_dir": "photos", "image_size": 8,
         "seed": 0}))
    (run / "inputs.json").write_text(json.dumps(
        {"dataset": "image_folder", "data_dir": "photos",
         "data_location": str(project / "photos"), "num_classes": 2,
         "class_names": ["cat", "fish"]}))
    elsewhere = tmp_path / "elsewhere"
    _write_folder(elsewhere / "photos", "train", {"cow": 2, "dog": 2})
    monkeypatch.chdir(elsewhere)  # Its own photos/ of other classes.
    assert saved_run.run_data_settings(str(run))["data_dir"] == str(
        project / "photos")
    assert saved_run.load_run_dataset(str(run)).num_train == 4
    (project / "photos" / "train" / "fish").rename(
        project / "photos" / "train" / "aardvark")
    with pytest.raises(ValueError, match=r"classes of the image folder "
                       r"--data_dir=.*photos changed since the run .* "
                       r"\(2 classes now, 2 when trained; new: aardvark; "
                       r"gone: fish\)"):
        saved_run.load_run_dataset(str(run))

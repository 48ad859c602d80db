"""The NumPy input pipeline (JAX's and torch's): its decoder against
TensorFlow's, and its augmentations on every dataset it loads."""

import warnings

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from one_keras.data import image_folder
from one_keras.data import numpy_pipeline


def _write_images(folder):
    """Files of the modes Pillow decodes otherwise than RGB: 16-bit,
    palette (with transparency), grayscale(-alpha), CMYK, bilevel."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    gray16 = rng.integers(0, 65536, (6, 7), dtype=np.uint16)
    Image.fromarray(gray16).save(folder / "gray16.png")  # Pillow's I;16.
    # Pillow writes no 16-bit colour PNG; TensorFlow's encoder does.
    for name, channels in (("rgb16.png", 3), ("gray_alpha16.png", 2)):
        pixels = rng.integers(0, 65536, (6, 7, channels), dtype=np.uint16)
        (folder / name).write_bytes(tf.io.encode_png(pixels).numpy())
    palette = Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE,
                                           colors=16)
    palette.save(folder / "palette.png")
    palette.save(folder / "palette_transparent.png", transparency=3)
    Image.fromarray(rgb).save(folder / "palette.gif")
    Image.fromarray(rng.integers(0, 256, (6, 7, 2), dtype=np.uint8),
                    "LA").save(folder / "gray_alpha.png")
    Image.fromarray(rng.integers(0, 256, (6, 7, 4), dtype=np.uint8),
                    "RGBA").save(folder / "rgba.png")
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(rgb[..., 0]).save(folder / "gray.png")
    Image.fromarray(rgb).convert("1").save(folder / "bilevel.png")
    return sorted(folder.iterdir())


def test_decoder_gives_tensorflows_pixels(tmp_path):
    for path in _write_images(tmp_path):
        expected, _ = image_folder._decode(str(path), 0)
        decoded = numpy_pipeline.decode(str(path))
        assert decoded.dtype == np.uint8, path.name
        np.testing.assert_array_equal(decoded, expected.numpy(),
                                      err_msg=path.name)


def test_sixteen_bit_grayscale_is_not_saturated(tmp_path):
    # Pillow's convert("RGB") clips a 16-bit image to white (mean ~255).
    gray16 = np.full((4, 4), 0x4000, np.uint16)
    Image.fromarray(gray16).save(tmp_path / "dark.png")
    np.testing.assert_array_equal(
        numpy_pipeline.decode(str(tmp_path / "dark.png")),
        np.full((4, 4, 3), 0x40, np.uint8))


def test_32_bit_tiffs_are_not_black(tmp_path):
    """Mode I and F TIFFs decoded as all black (`>> 8`), and predict gave
    them a confident class (issue 37, #7)."""
    pixels = np.arange(16).reshape(4, 4) * 17  # 0 to 255.
    for mode, dtype in (("I", np.int32), ("F", np.float32)):
        path = tmp_path / f"{mode}.tif"
        Image.fromarray(pixels.astype(dtype)).save(path)
        assert Image.open(path).mode == mode
        np.testing.assert_array_equal(
            numpy_pipeline.decode(str(path), channels=1)[..., 0], pixels)
        assert numpy_pipeline.decode(str(path)).shape == (4, 4, 3)
    # Values of no known 0-255 scale: refused in one line.
    for name, values in (("wide.tif", pixels.astype(np.int32) * 1000),
                         ("unit.tif", pixels.astype(np.float32) / 255)):
        Image.fromarray(values).save(tmp_path / name)
        with pytest.raises(ValueError, match="its 0-255 scale is unknown"):
            numpy_pipeline.decode(str(tmp_path / name))


def test_an_image_over_pillows_limit_is_refused_in_one_line(tmp_path,
                                                             monkeypatch):
    """A 10000x10000 PNG took 1.5 GB, with Pillow's raw warning."""
    Image.new("L", (12, 10)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 120 pixels: 1.2x.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"^an image of 12x10 pixels, "
                           r"over the 100 .*: downscale it$"):
            numpy_pipeline.decode(str(tmp_path / "big.png"))
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # 2.4x: Pillow's
        with pytest.raises(ValueError, match="downscale it"):  # own error.
            numpy_pipeline.decode(str(tmp_path / "big.png"))


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
@pytest.mark.parametrize("channels", [1, 3])
def test_resize_keeps_channels_and_dtype(dtype, channels):
    image = np.random.default_rng(0).uniform(
        0, 255, (9, 5, channels)).astype(dtype)
    resized = numpy_pipeline.resize_to(image, 4)
    assert resized.shape == (4, 4, channels) and resized.dtype == dtype
    if channels == 3 and dtype == "uint8":  # Pillow's own RGB resize.
        np.testing.assert_array_equal(resized, np.asarray(
            Image.fromarray(image).resize((4, 4), Image.BILINEAR)))


def test_digits_take_the_random_resized_crop():
    # The digits are float32 and one channel: Pillow refused (1, 1, 1) u1.
    dataset = numpy_pipeline.load_numpy_dataset(
        "digits", augment="random_resized_crop_flip")
    plain = numpy_pipeline.load_numpy_dataset("digits", augment="none")
    batches = numpy_pipeline.train_batches(dataset, 16, seed=1)
    images, labels = batches[0]
    unaugmented, same_labels = numpy_pipeline.train_batches(
        plain, 16, seed=1)[0]
    assert images.shape == (16, 8, 8, 1) and np.isfinite(images).all()
    np.testing.assert_array_equal(labels, same_labels)
    assert not np.allclose(images, unaugmented)

import keras
import numpy as np
import pytest

from sharedformer_tf.data.image_files import load_image


def test_png_round_trip_and_resize(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (28, 28, 1)).astype("uint8")
    keras.utils.save_img(tmp_path / "a.png", image, scale=False)
    np.testing.assert_array_equal(load_image(tmp_path / "a.png", 28, 1), image)
    rgb = load_image(tmp_path / "a.png", 14, 3)
    assert rgb.shape == (14, 14, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])  # gray -> RGB copies the channel


def test_color_jpeg_to_grayscale(tmp_path):
    image = np.zeros((40, 30, 3), "uint8")
    image[..., 0] = 200
    keras.utils.save_img(tmp_path / "b.jpg", image, scale=False)
    gray = load_image(tmp_path / "b.jpg", 28, 1)
    assert gray.shape == (28, 28, 1) and 40 < gray.mean() < 80  # red weighs ~0.3


def test_unreadable_and_missing_files_are_named(tmp_path):
    (tmp_path / "notes.png").write_text("these are not pixels")
    with pytest.raises(ValueError, match=r"notes\.png: not a readable"):
        load_image(tmp_path / "notes.png", 28, 1)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.jpg"):
        load_image(tmp_path / "empty.jpg", 28, 1)
    with pytest.raises(FileNotFoundError, match=r"gone\.png: no such file"):
        load_image(tmp_path / "gone.png", 28, 1)

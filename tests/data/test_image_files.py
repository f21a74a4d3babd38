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


def save(image, path, **kwargs):
    image.save(path, **kwargs)
    return path


@pytest.mark.parametrize(
    "name, make",
    [
        ("still.gif", lambda Image: Image.new("P", (20, 10), 3)),
        ("palette.png", lambda Image: Image.new("P", (20, 10), 3)),
        ("cmyk.jpg", lambda Image: Image.new("CMYK", (20, 10), (0, 255, 255, 0))),
        ("deep.png", lambda Image: Image.new("I;16", (20, 10), 40000)),
        ("alpha.png", lambda Image: Image.new("RGBA", (20, 10), (255, 0, 0, 128))),
        ("gray_alpha.png", lambda Image: Image.new("LA", (20, 10), (0, 0))),
    ],
)
@pytest.mark.parametrize("channels", [1, 3])
def test_any_image_mode_becomes_the_models_channels(tmp_path, name, make, channels):
    from PIL import Image

    path = save(make(Image), tmp_path / name)
    image = load_image(path, 8, channels)
    assert image.shape == (8, 8, channels) and image.dtype == np.uint8
    if name == "deep.png":  # 40000 of 65535 is 156 of 255
        assert abs(int(image.mean()) - 156) <= 1
    if name == "gray_alpha.png":  # fully transparent black on white is white
        assert image.min() == 255
    if name == "cmyk.jpg" and channels == 3:  # cyan-free red: 0 cyan, full magenta and yellow
        assert image[..., 0].mean() > 200 and image[..., 1].mean() < 60


def test_animated_gif_reads_its_first_frame(tmp_path):
    from PIL import Image

    frames = [Image.new("L", (8, 8), value) for value in (10, 200)]
    path = tmp_path / "animated.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert abs(int(load_image(path, 8, 1).mean()) - 10) <= 2

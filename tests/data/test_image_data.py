import gzip
import struct

import numpy as np
import pytest
import tensorflow_datasets as tfds

from sharedformer_tf.data import image_data


def write_idx(path, array):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.tobytes()))


@pytest.fixture
def fashion_dir(tmp_path):
    rng = np.random.default_rng(0)
    for split, (images_name, labels_name) in image_data.FASHION_MNIST_FILES.items():
        n = 12 if split == "train" else 5
        write_idx(tmp_path / images_name, rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(tmp_path / labels_name, rng.integers(0, 10, n, dtype=np.uint8))
    return tmp_path


def test_fashion_mnist_idx_files(fashion_dir):
    train = image_data.read_images(f"fashion_mnist:{fashion_dir}", "train")
    test = image_data.read_images(f"fashion_mnist:{fashion_dir}", "test")
    assert train.images.shape == (12, 28, 28, 1) and train.images.dtype == np.uint8
    assert test.labels.shape == (5,) and test.labels.dtype == np.int32
    assert len(train.class_names) == 10 and train.class_names[9] == "Ankle boot"


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist") as error:
        image_data.read_images(f"fashion_mnist:{tmp_path}", "train")
    assert "tfds:fashion_mnist" in str(error.value) and "folder:DIR" in str(error.value)


@pytest.mark.parametrize("name, shape", [("fashion_mnist", (28, 28, 1)), ("cifar10", (32, 32, 3))])
def test_tfds_with_mock_data(name, shape):
    with tfds.testing.mock_data(num_examples=7, policy=tfds.testing.MockPolicy.USE_CODE):
        data = image_data.read_images(f"tfds:{name}", "test")
    assert data.images.shape == (7, *shape) and data.images.dtype == np.uint8
    assert len(data.class_names) == 10 and data.labels.max() < 10


def test_folder_of_class_subfolders_splits_by_path(tmp_path):
    import keras

    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for i in range(30):
            pixels = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
            keras.utils.save_img(tmp_path / label / f"{i}.png", pixels)
    train = image_data.read_images(f"folder:{tmp_path}", "train", image_size=8, channels=1)
    test = image_data.read_images(f"folder:{tmp_path}", "test", image_size=8, channels=1)
    assert train.class_names == test.class_names == ("cat", "dog")
    assert len(train.labels) + len(test.labels) == 60 and 0 < len(test.labels) < 20
    assert train.images.shape[1:] == (8, 8, 1) and train.images.dtype == np.uint8
    assert set(train.labels.tolist()) == {0, 1}


@pytest.mark.parametrize("spec", ["mnist", "tfds:", "folder:", "csv:x"])
def test_unknown_specs_name_what_they_received(spec):
    with pytest.raises(ValueError, match="Unknown image data SPEC"):
        image_data.read_images(spec, "train")


def test_unknown_split():
    with pytest.raises(ValueError, match="Received: split=.valid."):
        image_data.read_images("fashion_mnist", "valid")


def test_folder_names_and_skips_unreadable_files_and_reads_any_mode(tmp_path, caplog):
    from PIL import Image

    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(12):
            Image.new("RGB", (9, 7), (40 * i, 0, 0)).save(tmp_path / label / f"{i}.png")
    Image.new("CMYK", (9, 7), (0, 0, 0, 0)).save(tmp_path / "a" / "cmyk.jpg")
    Image.new("P", (9, 7), 1).save(tmp_path / "b" / "palette.gif")
    (tmp_path / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (tmp_path / "b" / ".DS_Store").write_bytes(b"ignored: hidden")
    whole = image_data.read_images(f"folder:{tmp_path}", "all", image_size=8, channels=3)
    assert len(whole.labels) == 26 and whole.images.shape[1:] == (8, 8, 3)
    assert "broken.png: not a readable" in caplog.text
    assert "Skipped 1 unreadable files" in caplog.text
    parts = [image_data.read_images(f"folder:{tmp_path}", s, 8, 3) for s in ("train", "test")]
    assert sum(len(p.labels) for p in parts) == 26


def test_all_is_train_and_test(fashion_dir):
    whole = image_data.read_images(f"fashion_mnist:{fashion_dir}", "all")
    assert whole.images.shape == (17, 28, 28, 1)

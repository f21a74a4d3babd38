import gzip
import struct

import numpy as np
import pytest

from sharedformer_tf.data.idx_files import read_idx


def idx_bytes(array, type_code):
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("compress", [False, True])
def test_images_and_labels_round_trip(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 4, 5), dtype=np.uint8)
    labels = np.array([9, 0, 3], np.uint8)
    for name, array in (("images", images), ("labels", labels)):
        data = idx_bytes(array, 0x08)
        (tmp_path / name).write_bytes(gzip.compress(data) if compress else data)
    np.testing.assert_array_equal(read_idx(tmp_path / "images"), images)
    got = read_idx(tmp_path / "labels")
    assert got.dtype == np.uint8 and got.tolist() == [9, 0, 3]


def test_big_endian_wider_types_come_back_native(tmp_path):
    values = np.array([[1.5, -2.0], [3.25, 1e6]], np.float32)
    (tmp_path / "f").write_bytes(idx_bytes(values, 0x0D))
    got = read_idx(tmp_path / "f")
    assert got.dtype == np.float32 and got.dtype.isnative
    np.testing.assert_array_equal(got, values)
    ints = np.array([70000, -5], np.int32)
    (tmp_path / "i").write_bytes(idx_bytes(ints, 0x0C))
    assert read_idx(tmp_path / "i").tolist() == [70000, -5]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x89PNG\r\n", "bad magic number"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "unknown IDX data type"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated IDX header"),
        (idx_bytes(np.zeros((2, 3), np.uint8), 0x08)[:-1], "does not match its header"),
        (b"\x1f\x8b\x08\x00garbage", "not a readable gzip file"),
    ],
)
def test_malformed_files_are_named(tmp_path, content, message):
    path = tmp_path / "bad-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        read_idx("/nonexistent/train-images-idx3-ubyte.gz")

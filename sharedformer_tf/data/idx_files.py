"""Reading IDX files, the format of MNIST and Fashion-MNIST (as Debian's
`dataset-fashion-mnist` installs them under /usr/share/datasets)."""

import gzip
import os

import numpy as np

# Type byte -> big-endian NumPy dtype.
IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path):
    """Reads an IDX file (plain or gzip-compressed, by content) into a NumPy
    array with the file's shape, in native byte order.

    Args:
        path: path of the file.

    Returns:
        `np.ndarray`, e.g. uint8 `[60000, 28, 28]` for image files and uint8
        `[60000]` for label files.

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: naming the file, if it is not a well-formed IDX file
            (bad magic number, unknown type, or a size that does not match
            its header).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise ValueError(f"{path}: not a readable gzip file ({error})") from error
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise ValueError(f"{path}: not an IDX file (bad magic number). Received: {data[:4]!r}")
    type_code, ndim = data[2], data[3]
    if type_code not in IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX data type. Received: type byte 0x{type_code:02x}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header. Received: {len(data)} bytes")
    shape = tuple(int(n) for n in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[type_code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(
            f"{path}: IDX size does not match its header shape {shape}. "
            f"Received: {len(data)} bytes, expected {expected}"
        )
    array = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))

"""Labelled image sets for the image classification app, offline first.

SPEC is one of:

- `fashion_mnist[:DIR]`: the IDX files of Debian's `dataset-fashion-mnist`
  (default DIR `/usr/share/datasets/fashion-mnist`);
- `tfds:NAME` (e.g. `fashion_mnist`, `cifar10`): a TensorFlow Datasets set
  already prepared in the user's data_dir (nothing is downloaded);
- `folder:DIR`: one sub-folder of image files per class; a stable hash of
  each file's path puts 10% of them in the `test` split.
"""

import dataclasses
import os
import zlib

import numpy as np

from sharedformer_tf.data.idx_files import read_idx

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")  # fmt: skip
KINDS = ("fashion_mnist", "tfds", "folder")
SPLITS = ("train", "test")
FOLDER_TEST_PERCENT = 10


@dataclasses.dataclass(frozen=True)
class ImageData:
    """Images `uint8 [n, height, width, channels]`, labels `int32 [n]` and
    the class names (label `i` is `class_names[i]`)."""

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple


def read_images(spec, split="train", image_size=None, channels=None, data_dir=None):
    """Reads split `split` (`"train"` or `"test"`) of the image set `spec`.

    Args:
        spec: see the module docstring.
        split: `"train"` or `"test"`.
        image_size: int, resize `folder:` images to this square size (other
            sources keep their size).
        channels: 1 or 3, color mode for `folder:` images.
        data_dir: TensorFlow Datasets data_dir for `tfds:` specs.

    Returns:
        `ImageData`.
    """
    if split not in SPLITS:
        raise ValueError(f"Expected a split in {SPLITS}. Received: split={split!r}")
    kind, _, argument = spec.partition(":")
    if kind == "fashion_mnist":
        return _read_fashion_mnist(argument or FASHION_MNIST_DIR, split)
    if kind == "tfds" and argument:
        return _read_tfds(argument, split, data_dir)
    if kind == "folder" and argument:
        return _read_folder(argument, split, image_size, channels)
    raise ValueError(
        "Unknown image data SPEC. Expected fashion_mnist[:DIR], tfds:NAME or folder:DIR. "
        f"Received: {spec!r}"
    )


def _read_fashion_mnist(directory, split):
    paths = [os.path.join(directory, name) for name in FASHION_MNIST_FILES[split]]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST is not in {directory} (missing {missing[0]}). Install it with "
            "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or pass "
            "--data fashion_mnist:DIR (a folder with the four *-ubyte.gz files), "
            "--data tfds:fashion_mnist (a prepared TensorFlow Datasets data_dir) or "
            "--data folder:DIR (one sub-folder of images per class)."
        )
    images, labels = (read_idx(p) for p in paths)
    if images.ndim != 3 or labels.shape != images.shape[:1]:
        raise ValueError(
            f"{paths[0]} and {paths[1]} do not match. Received: images {images.shape}, "
            f"labels {labels.shape}"
        )
    return ImageData(images[..., None], labels.astype("int32"), FASHION_MNIST_CLASSES)


def _read_tfds(name, split, data_dir):
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    dataset = builder.as_dataset(split=split, as_supervised=True)
    images, labels = [], []
    for image, label in dataset.as_numpy_iterator():
        images.append(image)
        labels.append(label)
    names = builder.info.features["label"].names
    return ImageData(np.stack(images).astype("uint8"), np.asarray(labels, "int32"), tuple(names))


def _read_folder(directory, split, image_size, channels):
    import keras

    if not os.path.isdir(directory):
        raise FileNotFoundError(f"folder:{directory} is not a directory")
    if image_size is None or channels not in (1, 3):
        raise ValueError(
            "folder: data needs the model's image size and channels (1 or 3). "
            f"Received: image_size={image_size}, channels={channels}"
        )
    dataset = keras.utils.image_dataset_from_directory(
        directory,
        labels="inferred",
        color_mode="grayscale" if channels == 1 else "rgb",
        image_size=(image_size, image_size),
        batch_size=None,
        shuffle=False,
        verbose=False,
    )
    keep = [
        (zlib.crc32(os.path.relpath(path, directory).encode()) % 100 < FOLDER_TEST_PERCENT)
        == (split == "test")
        for path in dataset.file_paths
    ]
    images, labels = [], []
    for (image, label), wanted in zip(dataset.as_numpy_iterator(), keep, strict=True):
        if wanted:
            images.append(np.clip(np.round(image), 0, 255).astype("uint8"))
            labels.append(label)
    if not images:
        raise ValueError(f"folder:{directory} has no images in its {split!r} split")
    return ImageData(np.stack(images), np.asarray(labels, "int32"), tuple(dataset.class_names))

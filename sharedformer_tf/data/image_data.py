"""Labelled image sets for the image classification app, offline first.

SPEC is one of:

- `fashion_mnist[:DIR]`: the IDX files of Debian's `dataset-fashion-mnist`
  (default DIR `/usr/share/datasets/fashion-mnist`);
- `tfds:NAME` (e.g. `fashion_mnist`, `cifar10`): a TensorFlow Datasets set
  already prepared in the user's data_dir (nothing is downloaded);
- `folder:DIR`: one sub-folder of image files per class; a stable hash of
  each file's path puts 10% of them in the `test` split. Files are read with
  Pillow (any mode: palette, CMYK, 16-bit, alpha) and resized to the
  model's input size and channels; a file that cannot be read is named in
  a warning and skipped.

Split `"all"` is the whole set (train and test).
"""

import dataclasses
import logging
import os

import numpy as np

from sharedformer_tf.data.class_folders import folder_classes, path_bucket
from sharedformer_tf.data.idx_files import read_idx
from sharedformer_tf.data.image_files import load_image
from sharedformer_tf.data.tfds_reader import load_prepared

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")  # fmt: skip
KINDS = ("fashion_mnist", "tfds", "folder")
SPLITS = ("train", "test", "all")
FOLDER_TEST_PERCENT = 10
logger = logging.getLogger("sharedformer_tf")


@dataclasses.dataclass(frozen=True)
class ImageData:
    """Images `uint8 [n, height, width, channels]`, labels `int32 [n]` and
    the class names (label `i` is `class_names[i]`)."""

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple


def read_images(spec, split="train", image_size=None, channels=None, data_dir=None):
    """Reads split `split` of the image set `spec`.

    Args:
        spec: see the module docstring.
        split: `"train"`, `"test"` or `"all"` (both).
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
    if kind == "folder" and argument:
        return _read_folder(argument, split, image_size, channels)
    if kind not in ("fashion_mnist", "tfds") or (kind == "tfds" and not argument):
        raise ValueError(
            "Unknown image data SPEC. Expected fashion_mnist[:DIR], tfds:NAME or folder:DIR. "
            f"Received: {spec!r}"
        )
    if split == "all":
        parts = [read_images(spec, part, image_size, channels, data_dir) for part in SPLITS[:2]]
        images, labels = (
            np.concatenate([getattr(p, k) for p in parts]) for k in ("images", "labels")
        )
        return ImageData(images, labels, parts[0].class_names)
    if kind == "fashion_mnist":
        return _read_fashion_mnist(argument or FASHION_MNIST_DIR, split)
    return _read_tfds(argument, split, data_dir)


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
    dataset, info = load_prepared(name, split, data_dir, as_supervised=True)
    images, labels = [], []
    for image, label in dataset.as_numpy_iterator():
        images.append(image)
        labels.append(label)
    names = info.features["label"].names
    return ImageData(np.stack(images).astype("uint8"), np.asarray(labels, "int32"), tuple(names))


def _read_folder(directory, split, image_size, channels):
    if image_size is None or channels not in (1, 3):
        raise ValueError(
            "folder: data needs the model's image size and channels (1 or 3). "
            f"Received: image_size={image_size}, channels={channels}"
        )
    names = folder_classes(directory)
    images, labels, skipped = [], [], []
    for label, name in enumerate(names):
        for file in sorted(os.listdir(os.path.join(directory, name))):
            relative = f"{name}/{file}"
            path = os.path.join(directory, relative)
            if file.startswith(".") or not os.path.isfile(path):
                continue
            if split != "all" and folder_split(relative) != split:
                continue
            try:
                images.append(load_image(path, image_size, channels))
                labels.append(label)
            except ValueError as error:
                logger.warning("Skipped %s", error)
                skipped.append(relative)
    if skipped:
        logger.warning("Skipped %d unreadable files in folder:%s", len(skipped), directory)
    if not images:
        raise ValueError(f"folder:{directory} has no readable images in its {split!r} split")
    logger.info("folder:%s (%s): %d images, each resized to %dx%d with %d channel(s), the "
                "model's input", directory, split, len(images), image_size, image_size,
                channels)  # fmt: skip
    return ImageData(np.stack(images), np.asarray(labels, "int32"), names)


def folder_split(relative_path):
    """`"train"` or `"test"` for a file of a `folder:` set: a stable hash of
    its path relative to the folder puts `FOLDER_TEST_PERCENT`% in test."""
    bucket = path_bucket(relative_path)
    return "test" if bucket < FOLDER_TEST_PERCENT else "train"

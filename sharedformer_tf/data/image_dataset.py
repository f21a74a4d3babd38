"""tf.data pipelines of labelled images, with Keras core augmentation."""

import keras
import numpy as np
import tensorflow as tf

from sharedformer_tf.data.array_dataset import make_array_dataset

AUGMENTATIONS = ("flip", "translate", "contrast")
# Sets whose classes keep their meaning when mirrored left to right (clothes,
# animals, vehicles); digits, letters and text do not.
MIRROR_SAFE = ("fashion_mnist", "tfds:fashion_mnist", "tfds:cifar10", "tfds:cifar100")


def default_augmentation(spec):
    """The augmentation a SPEC gets unless one is asked for: a horizontal
    flip for the sets in `MIRROR_SAFE` (a `fashion_mnist:DIR` included),
    none for any other, whose images may not survive a mirror.

    Example:

    >>> default_augmentation("fashion_mnist"), default_augmentation("folder:digits")
    (('flip',), ())
    """
    kind = spec.split(":")[0]
    return ("flip",) if spec in MIRROR_SAFE or kind == "fashion_mnist" else ()


def image_augmentation(names, seed=None):
    """A `keras.Sequential` of Keras core random layers.

    Args:
        names: iterable of `"flip"` (horizontal `RandomFlip`), `"translate"`
            (`RandomTranslation` by up to 10% with zero fill) and
            `"contrast"` (`RandomContrast` by up to 20%).
        seed: optional int seed of the layers.

    Returns:
        `keras.Sequential` (an identity when `names` is empty) that maps
        float images `[batch, height, width, channels]` in `0..255` to
        augmented float images in `0..255`.
    """
    names = tuple(names)
    unknown = sorted(set(names) - set(AUGMENTATIONS))
    if unknown:
        raise ValueError(f"Unknown augmentations. Expected some of {AUGMENTATIONS}. "
                         f"Received: {unknown}")  # fmt: skip
    layers = {
        "flip": lambda: keras.layers.RandomFlip("horizontal", seed=seed),
        "translate": lambda: keras.layers.RandomTranslation(
            0.1, 0.1, fill_mode="constant", seed=seed
        ),
        "contrast": lambda: keras.layers.RandomContrast(0.2, value_range=(0, 255), seed=seed),
    }
    return keras.Sequential([layers[name]() for name in names], name="augmentation")


def make_image_dataset(images, labels, batch_size, shuffle=False, seed=0, augment=(),
                       drop_remainder=False):  # fmt: skip
    """Batches `(images, labels)` for `model.fit`/`evaluate`.

    Args:
        images: uint8 array `[n, height, width, channels]`.
        labels: int array `[n]`.
        batch_size: int, global batch size.
        shuffle: reshuffle every epoch (seeded by `seed`).
        seed: int.
        augment: names for `image_augmentation` (training only).
        drop_remainder: drop a last partial batch (fixed shapes for XLA).

    Returns:
        `tf.data.Dataset` of `(images, labels)`: images float32 in `0..255`
        `[batch, height, width, channels]`, labels int32 `[batch]`, sharded
        by data under multi-worker strategies.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            "Expected images [n, height, width, channels] and n labels, n > 0. "
            f"Received: images {images.shape}, labels {np.shape(labels)}"
        )
    augmentation = image_augmentation(augment, seed=seed) if augment else None

    def prepare(x, y):
        x = tf.cast(x, tf.float32)
        if augmentation is not None:
            x = augmentation(x, training=True)
        return x, y

    return make_array_dataset(images, labels, batch_size, shuffle, seed, drop_remainder, prepare)

"""Reading single image files for prediction."""

import numpy as np
import tensorflow as tf


def load_image(path, image_size, channels):
    """Reads a BMP, GIF, JPEG or PNG file as a model input.

    Args:
        path: file path.
        image_size: int, side of the square the image is resized to.
        channels: 1 (grayscale) or 3 (RGB).

    Returns:
        uint8 array `[image_size, image_size, channels]`.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the file is not a decodable image (the message names it).
    """
    path = str(path)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    try:
        data = tf.io.read_file(path)
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as error:
        reason = error.message.strip().splitlines()[0] if error.message else type(error).__name__
        raise ValueError(f"{path}: not a readable BMP/GIF/JPEG/PNG image ({reason})") from None
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{path}: the image is empty. Received: shape {tuple(image.shape)}")
    resized = tf.image.resize(image, (image_size, image_size), antialias=True)
    return np.clip(np.round(resized.numpy()), 0, 255).astype("uint8")

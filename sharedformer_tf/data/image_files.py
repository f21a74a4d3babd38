"""Reading single image files as model inputs (Pillow), whatever their mode:
grayscale, RGB, palette, CMYK, 16-bit, with or without alpha, still or
animated (the first frame)."""

import os

import numpy as np

FORMATS = "BMP/GIF/JPEG/PNG/TIFF/WebP"


def load_image(path, image_size, channels):
    """Reads an image file as a model input.

    Transparent pixels are composited onto white; 16-bit images are scaled
    to 8 bits; the image is resized (antialiased) to a square of
    `image_size`, ignoring its aspect ratio.

    Args:
        path: file path.
        image_size: int, side of the square the image is resized to.
        channels: 1 (grayscale) or 3 (RGB).

    Returns:
        uint8 array `[image_size, image_size, channels]`.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the file is not a readable image (the message names it).
    """
    from PIL import Image, UnidentifiedImageError

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with Image.open(path) as image:
            image.seek(0)  # the first frame of an animation
            image.load()
            if image.width == 0 or image.height == 0:
                raise ValueError(f"{path}: the image is empty. Received: size {image.size}")
            image = _to_mode(image, "L" if channels == 1 else "RGB")
            if image.size != (image_size, image_size):
                image = image.resize((image_size, image_size), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError) as error:
        reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        raise ValueError(f"{path}: not a readable {FORMATS} image ({reason})") from None
    except Image.DecompressionBombError as error:
        raise ValueError(f"{path}: image too large to read safely ({error})") from None
    return pixels.reshape(image_size, image_size, channels)


def _to_mode(image, mode):
    """`image` as Pillow mode `"L"` or `"RGB"`: 16/32-bit and float images
    scaled to 8 bits, alpha (also a palette's transparency) composited
    onto white."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        if image.mode == "F" and values.max() <= 1.0:
            top = 1.0
        image = Image.fromarray(np.clip(values * (255.0 / top), 0, 255).round().astype(np.uint8))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert(mode)

"""`folder:DIR` data sets: one sub-folder of files per class."""

import os
import zlib


def folder_classes(directory):
    """The class names of a `folder:` set: its sub-folders (hidden ones
    aside), sorted.

    Raises:
        FileNotFoundError: `directory` is not a directory.
        ValueError: it has no sub-folders.
    """
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"folder:{directory} is not a directory")
    names = sorted(
        d for d in os.listdir(directory)
        if not d.startswith(".") and os.path.isdir(os.path.join(directory, d))
    )  # fmt: skip
    if not names:
        raise ValueError(f"folder:{directory} has no class sub-folders (one per class)")
    return tuple(names)


def path_bucket(relative_path):
    """A stable number in `0..99` for a file of a `folder:` set (a CRC of
    its path relative to the folder): the splits are ranges of it, so a file
    stays in its split when files are added or removed."""
    return zlib.crc32(relative_path.encode()) % 100

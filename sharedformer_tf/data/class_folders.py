"""`folder:DIR` data sets: one sub-folder of files per class."""

import os


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

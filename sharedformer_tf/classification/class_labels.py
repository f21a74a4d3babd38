"""Class labels where a model meets data: matched by name, never by position."""

import logging

import numpy as np

logger = logging.getLogger("sharedformer_tf")


def align_labels(labels, data_class_names, model_class_names, source="the data"):
    """Renumbers `labels` (ids into `data_class_names`) as ids into
    `model_class_names`, matching classes by name. Classes the data lacks
    are fine; a class with examples that the model does not know is an error.

    Args:
        labels: int array `[n]`.
        data_class_names: the data's class names.
        model_class_names: the model's class names.
        source: how to name the data in errors (e.g. `"folder:DIR"`).

    Returns:
        int32 array `[n]` of model class ids.

    Raises:
        ValueError: the data has examples of a class the model lacks.

    Example:

    >>> align_labels([0, 1, 1], ["dog", "cat"], ["cat", "dog", "fox"]).tolist()
    [1, 0, 0]
    """
    labels = np.asarray(labels, "int64")
    index = {name: i for i, name in enumerate(model_class_names)}
    present = sorted(set(labels.tolist()))
    unknown = [data_class_names[i] for i in present if data_class_names[i] not in index]
    if unknown:
        raise ValueError(
            f"{source} has classes the model was not trained on: "
            f"{', '.join(map(repr, unknown))}. The model's classes: "
            f"{', '.join(map(repr, model_class_names))}"
        )
    mapping = np.array([index.get(name, -1) for name in data_class_names], "int32")
    return mapping[labels]


def check_training_classes(labels, class_names, source="the data"):
    """Checks that training data can train a classifier: at least two classes
    have examples. A class without examples is named in a warning (the model
    would have it as an output that is never right).

    Returns:
        int array `[num_classes]`: examples per class.

    Raises:
        ValueError: fewer than two classes have examples.
    """
    counts = np.bincount(np.asarray(labels, "int64"), minlength=len(class_names))
    seen = [name for name, count in zip(class_names, counts, strict=True) if count]
    if len(seen) < 2:
        raise ValueError(
            f"{source} has training examples of {len(seen)} class(es) "
            f"({', '.join(map(repr, seen)) or 'none'}); a classifier needs at least two"
        )
    empty = [name for name, count in zip(class_names, counts, strict=True) if not count]
    if empty:
        logger.warning(
            "%d of %d classes in %s have no training examples and cannot be learned: %s",
            len(empty), len(class_names), source, ", ".join(empty),
        )  # fmt: skip
    return counts

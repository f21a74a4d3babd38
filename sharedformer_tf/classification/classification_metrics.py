"""Accuracy, per-class accuracy and the confusion matrix."""

import numpy as np


def classification_metrics(labels, predictions, class_names):
    """Scores predicted class ids against true ones.

    Args:
        labels: int array `[n]`, true class ids.
        predictions: int array `[n]`, predicted class ids.
        class_names: sequence of names; class id `i` is `class_names[i]`.

    Returns:
        dict with `accuracy` (float), `per_class_accuracy` (name -> recall of
        that class, `None` for a class with no examples), `num_examples` and
        `confusion_matrix` (list of rows: true class; columns: predicted) and
        `per_class_count` (name -> number of examples of that class).

    Example:

    >>> classification_metrics([0, 1, 1], [0, 1, 0], ["a", "b"])["accuracy"]
    0.6666666666666666
    """
    labels = np.asarray(labels, "int64").reshape(-1)
    predictions = np.asarray(predictions, "int64").reshape(-1)
    num_classes = len(class_names)
    if labels.shape != predictions.shape or not len(labels):
        raise ValueError(
            "Expected as many predictions as labels, at least one. Received: "
            f"labels {labels.shape}, predictions {predictions.shape}"
        )
    for name, ids in (("labels", labels), ("predictions", predictions)):
        if ids.min() < 0 or ids.max() >= num_classes:
            raise ValueError(
                f"{name} must be class ids in [0, {num_classes}). "
                f"Received: min {ids.min()}, max {ids.max()}"
            )
    matrix = np.zeros((num_classes, num_classes), "int64")
    np.add.at(matrix, (labels, predictions), 1)
    support = matrix.sum(axis=1)
    per_class = {
        str(name): (float(matrix[i, i] / support[i]) if support[i] else None)
        for i, name in enumerate(class_names)
    }
    return {
        "accuracy": float(np.trace(matrix) / len(labels)),
        "per_class_accuracy": per_class,
        "num_examples": int(len(labels)),
        "confusion_matrix": matrix.tolist(),
        "per_class_count": {
            str(name): int(n) for name, n in zip(class_names, support, strict=True)
        },
    }

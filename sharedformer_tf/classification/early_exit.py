"""Early exit by confidence: each example leaves at the first depth whose
class probability reaches a threshold."""

import numpy as np


def confidence_exit(probabilities, depths, labels, thresholds):
    """Scores the confidence exit rule over `thresholds`.

    An example exits at the first depth of `depths` whose highest class
    probability is above the threshold (the deepest depth otherwise) and
    takes that depth's class. The probabilities of every exit come from one
    pass, so the rule is measured exactly; a device stops computing there
    (the rule of `PatchClassifier.adaptive_probabilities` and the elastic
    exports). A threshold of `1.0` never exits early.

    Args:
        probabilities: list (one per depth, ascending) of arrays `[n,
            classes]`.
        depths: the depths, ascending.
        labels: int array `[n]`.
        thresholds: iterable of floats in `(0, 1]`.

    Returns:
        list of dicts (one per threshold): `threshold`, `accuracy`,
        `mean_depth` and `exits` (the fraction of examples leaving at each
        depth).

    Example:

    >>> shallow = np.array([[0.9, 0.1], [0.6, 0.4]])
    >>> deep = np.array([[0.8, 0.2], [0.1, 0.9]])
    >>> row = confidence_exit([shallow, deep], [2, 4], np.array([0, 1]), [0.85])[0]
    >>> row["accuracy"], row["mean_depth"]
    (1.0, 3.0)
    """
    if len(probabilities) != len(depths) or list(depths) != sorted(depths):
        raise ValueError(
            "Expected one probability array per depth, depths ascending. "
            f"Received: {len(probabilities)} arrays, depths={list(depths)}"
        )
    stacked = np.stack([np.asarray(p) for p in probabilities])  # [exits, n, classes]
    confidence = stacked.max(-1)
    labels = np.asarray(labels)
    rows = []
    for threshold in thresholds:
        if not 0 < threshold <= 1:
            raise ValueError(f"Thresholds must be in (0, 1]. Received: {threshold}")
        confident = confidence > threshold
        confident[-1] = True  # the last depth takes whoever is left
        exit_index = confident.argmax(0)
        chosen = stacked[exit_index, np.arange(stacked.shape[1])].argmax(-1)
        used = np.asarray(depths)[exit_index]
        rows.append({
            "threshold": float(threshold),
            "accuracy": float(np.mean(chosen == labels)),
            "mean_depth": float(used.mean()),
            "exits": {int(d): float(np.mean(exit_index == i)) for i, d in enumerate(depths)},
        })  # fmt: skip
    return rows

"""Early exit rules scored from every exit's outputs: by confidence (each
example leaves at the first depth whose class probability is above a
threshold) or by learned halting (whose cumulative halting probability
is)."""

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
    stacked = _check_exits(probabilities, depths)
    return _exit_rows(stacked, stacked.max(-1), depths, labels, thresholds)


def halting_exit(probabilities, halting, depths, labels, thresholds):
    """Scores learned halting (`PatchClassifier` with `halting_prior`) over
    `thresholds`: an example leaves at the first depth where its cumulative
    halting probability `1 - prod_{j<=n} (1 - halting_j)` is above the
    threshold (the deepest depth otherwise), the rule of
    `PatchClassifier.adaptive_probabilities` and the elastic exports of
    such a model. A threshold of `1.0` never exits early.

    Args:
        probabilities: list (one per depth, ascending) of arrays `[n,
            classes]`.
        halting: list (one per depth) of arrays `[n]`, the halting
            probability at each depth (`PatchClassifier.exit_halting`).
        depths: the depths, ascending.
        labels: int array `[n]`.
        thresholds: iterable of floats in `(0, 1]`.

    Returns:
        list of dicts as `confidence_exit`.

    Example:

    >>> probabilities = [np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([[0.8, 0.2], [0.1, 0.9]])]
    >>> halting = [np.array([0.7, 0.2]), np.array([1.0, 1.0])]
    >>> row = halting_exit(probabilities, halting, [2, 4], np.array([0, 1]), [0.5])[0]
    >>> row["accuracy"], row["mean_depth"]
    (1.0, 3.0)
    """
    stacked = _check_exits(probabilities, depths)
    halting = np.stack([np.asarray(h, "float64") for h in halting])
    if halting.shape != stacked.shape[:2]:
        raise ValueError(f"Expected one halting probability per example and depth "
                         f"{stacked.shape[:2]}. Received: shape {halting.shape}")  # fmt: skip
    cumulative = 1.0 - np.cumprod(1.0 - halting, axis=0)
    return _exit_rows(stacked, cumulative, depths, labels, thresholds)


def _check_exits(probabilities, depths):
    if len(probabilities) != len(depths) or list(depths) != sorted(depths):
        raise ValueError(
            "Expected one probability array per depth, depths ascending. "
            f"Received: {len(probabilities)} arrays, depths={list(depths)}"
        )
    return np.stack([np.asarray(p) for p in probabilities])  # [exits, n, classes]


def _exit_rows(stacked, scores, depths, labels, thresholds):
    """Rows of `confidence_exit` for exits scored by `scores` `[exits, n]`:
    an example leaves where its score is first above the threshold."""
    labels = np.asarray(labels)
    rows = []
    for threshold in thresholds:
        if not 0 < threshold <= 1:
            raise ValueError(f"Thresholds must be in (0, 1]. Received: {threshold}")
        leaving = scores > threshold
        leaving[-1] = True  # the last depth takes whoever is left
        exit_index = leaving.argmax(0)
        chosen = stacked[exit_index, np.arange(stacked.shape[1])].argmax(-1)
        used = np.asarray(depths)[exit_index]
        rows.append({
            "threshold": float(threshold),
            "accuracy": float(np.mean(chosen == labels)),
            "mean_depth": float(used.mean()),
            "exits": {int(d): float(np.mean(exit_index == i)) for i, d in enumerate(depths)},
        })  # fmt: skip
    return rows

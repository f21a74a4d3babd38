"""PNG plots of training and evaluation (matplotlib, no display needed)."""

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; works without a display
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(history, path):
    """Writes loss and accuracy per epoch (training and validation) to `path`.

    Args:
        history: dict of lists as from `training.read_history` or
            `History.history`, with `loss` and optionally `accuracy`,
            `val_loss`, `val_accuracy`.
        path: output PNG path.
    """
    if not history.get("loss"):
        raise ValueError(f"No epochs to plot. Received: history keys {sorted(history)}")
    plt = _pyplot()
    epochs = np.arange(1, len(history["loss"]) + 1)
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for axis, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for prefix, label in (("", "training"), ("val_", "validation")):
            values = history.get(prefix + metric)
            if values:
                axis.plot(epochs[: len(values)], values, marker="o", label=label)
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_confusion_matrix(matrix, class_names, path, title="Confusion matrix"):
    """Writes a confusion matrix (rows: true class, columns: predicted) with
    its counts to `path` as a PNG."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    n = len(class_names)
    if matrix.shape != (n, n):
        raise ValueError(f"Expected a {n}x{n} matrix. Received: shape {matrix.shape}")
    size = max(4.0, 0.6 * n + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(n), class_names, rotation=45, ha="right")
    axis.set_yticks(range(n), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            color = "white" if matrix[i, j] > threshold else "black"
            axis.text(j, i, str(matrix[i, j]), ha="center", va="center", color=color, fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)

import pytest

from sharedformer_tf.classification import plot_confusion_matrix, plot_learning_curves

PNG = b"\x89PNG\r\n\x1a\n"


def test_learning_curves_png(tmp_path):
    history = {"loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.6, 0.5],
               "accuracy": [0.5, 0.8, 0.9], "val_accuracy": [0.4, 0.7, 0.85]}  # fmt: skip
    plot_learning_curves(history, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes()[:8] == PNG


def test_learning_curves_need_epochs(tmp_path):
    with pytest.raises(ValueError, match="No epochs"):
        plot_learning_curves({"loss": []}, tmp_path / "curve.png")


def test_confusion_matrix_png(tmp_path):
    plot_confusion_matrix([[3, 1], [0, 4]], ["cat", "dog"], tmp_path / "cm.png")
    assert (tmp_path / "cm.png").read_bytes()[:8] == PNG
    with pytest.raises(ValueError, match="Expected a 3x3 matrix"):
        plot_confusion_matrix([[3, 1], [0, 4]], ["a", "b", "c"], tmp_path / "bad.png")

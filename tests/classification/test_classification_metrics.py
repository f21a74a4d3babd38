import numpy as np
import pytest

from sharedformer_tf.classification import classification_metrics


def test_accuracy_per_class_and_confusion_matrix():
    labels = [0, 0, 1, 1, 1, 2]
    predictions = [0, 1, 1, 1, 0, 2]
    metrics = classification_metrics(labels, predictions, ["a", "b", "c", "d"])
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["per_class_accuracy"] == {"a": 0.5, "b": pytest.approx(2 / 3), "c": 1.0,
                                             "d": None}  # fmt: skip
    assert metrics["num_examples"] == 6
    assert metrics["confusion_matrix"] == [[1, 1, 0, 0], [1, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]


def test_matches_a_direct_count_on_random_ids():
    rng = np.random.default_rng(0)
    labels, predictions = rng.integers(0, 7, 500), rng.integers(0, 7, 500)
    metrics = classification_metrics(labels, predictions, list("abcdefg"))
    assert metrics["accuracy"] == np.mean(labels == predictions)
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix[3, 5] == np.sum((labels == 3) & (predictions == 5))
    assert matrix.sum(axis=1).tolist() == np.bincount(labels, minlength=7).tolist()


@pytest.mark.parametrize(
    "labels, predictions, message",
    [([0, 1], [0], "as many predictions"), ([], [], "at least one"),
     ([0, 3], [0, 1], "labels must be class ids"), ([0, 1], [0, -1], "predictions must be")],
)  # fmt: skip
def test_bad_ids_are_refused(labels, predictions, message):
    with pytest.raises(ValueError, match=message):
        classification_metrics(labels, predictions, ["a", "b"])

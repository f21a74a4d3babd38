import numpy as np
import pytest

from sharedformer_tf.classification import align_labels, check_training_classes


def test_labels_are_matched_by_name_not_position():
    model = ("down", "go", "yes", "_silence_", "_unknown_")
    folder = ("_silence_", "_unknown_", "down", "yes")  # sorted folder order
    labels = np.array([0, 1, 2, 3, 3])
    assert align_labels(labels, folder, model).tolist() == [3, 4, 0, 2, 2]


def test_a_class_the_model_lacks_is_named():
    with pytest.raises(
        ValueError, match=r"folder:x has classes the model was not trained on: 'bark'"
    ):
        align_labels([0, 1], ("bark", "yes"), ("yes", "no"), "folder:x")
    # A class without examples in the data is no problem.
    assert align_labels([1], ("bark", "yes"), ("yes", "no")).tolist() == [0]


def test_training_needs_two_classes_and_names_empty_ones(caplog):
    with pytest.raises(ValueError, match=r"training examples of 1 class\(es\) \('cat'\)"):
        check_training_classes([0, 0, 0], ("cat",), "folder:pets")
    with pytest.raises(ValueError, match="at least two"):
        check_training_classes([1, 1], ("cat", "dog"))
    counts = check_training_classes([0, 2, 2], ("cat", "dog", "fox"), "folder:pets")
    assert counts.tolist() == [1, 0, 2]
    assert "1 of 3 classes in folder:pets have no training examples" in caplog.text
    assert "dog" in caplog.text

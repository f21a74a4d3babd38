import numpy as np
import pytest

from sharedformer_tf.classification import confidence_exit


def test_each_example_leaves_at_its_first_confident_depth():
    shallow = np.array([[0.95, 0.05], [0.55, 0.45], [0.6, 0.4]])
    middle = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    deep = np.array([[0.1, 0.9], [0.1, 0.9], [0.3, 0.7]])
    labels = np.array([0, 1, 1])
    rows = confidence_exit([shallow, middle, deep], [2, 4, 8], labels, [0.5, 0.75, 0.99])
    lenient, middling, strict = rows
    # p >= 0.5: everyone leaves at depth 2 and takes its class there.
    assert lenient["mean_depth"] == 2 and lenient["accuracy"] == pytest.approx(1 / 3)
    # p >= 0.75: example 0 at 2, example 1 at 4, example 2 runs to the end.
    assert middling["exits"] == {2: pytest.approx(1 / 3), 4: pytest.approx(1 / 3),
                                 8: pytest.approx(1 / 3)}  # fmt: skip
    assert middling["mean_depth"] == pytest.approx(14 / 3) and middling["accuracy"] == 1.0
    # Nobody is that sure: the deepest depth decides for all.
    assert strict["mean_depth"] == 8 and strict["accuracy"] == pytest.approx(2 / 3)


def test_bad_arguments():
    p = [np.ones((1, 2)) / 2]
    with pytest.raises(ValueError, match="one probability array per depth"):
        confidence_exit(p, [2, 4], [0], [0.5])
    with pytest.raises(ValueError, match="Received: 1.5"):
        confidence_exit(p, [2], [0], [1.5])

import keras
import numpy as np
import pytest

from sharedformer_tf.training import LabelSmoothedCrossentropy, MaskedAccuracy


def _data():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 6)).astype("float32")
    labels = np.array([[3, 4, 2, 0], [5, 2, 0, 0]])
    return labels, logits


def test_without_smoothing_equals_keras_sparse_crossentropy_with_ignore_class():
    labels, logits = _data()
    ours = LabelSmoothedCrossentropy(label_smoothing=0.0, ignore_class=0)(labels, logits)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    np.testing.assert_allclose(ours, keras_loss(labels, logits), rtol=1e-5)


def test_smoothing_matches_the_formula():
    labels, logits = _data()
    eps = 0.1
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]
    per_token = (1 - eps) * nll - eps * log_probs.mean(-1)
    mask = labels != 0
    expected = per_token[mask].mean()
    ours = LabelSmoothedCrossentropy(label_smoothing=eps, ignore_class=0)(labels, logits)
    np.testing.assert_allclose(ours, expected, rtol=1e-5)


def test_padding_positions_add_nothing():
    labels, logits = _data()
    changed = logits.copy()
    changed[labels == 0] = 50.0
    loss = LabelSmoothedCrossentropy(0.1)
    np.testing.assert_allclose(loss(labels, logits), loss(labels, changed), rtol=1e-6)


def test_config_and_errors():
    loss = LabelSmoothedCrossentropy(0.2, ignore_class=1)
    assert LabelSmoothedCrossentropy.from_config(loss.get_config()).label_smoothing == 0.2
    with pytest.raises(ValueError, match="label_smoothing=1.0"):
        LabelSmoothedCrossentropy(1.0)


def test_masked_accuracy_skips_padding():
    labels = np.array([[1, 2, 0], [3, 0, 0]])
    logits = np.zeros((2, 3, 4), "float32")
    logits[0, 0, 1] = logits[0, 1, 3] = logits[1, 0, 3] = 1.0
    metric = MaskedAccuracy(ignore_class=0)
    metric.update_state(labels, logits)
    assert float(metric.result()) == pytest.approx(2 / 3)

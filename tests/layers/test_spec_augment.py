import keras
import numpy as np
import pytest

from sharedformer_tf.layers import SpecAugment
from tests.layer_test_case import run_layer_test


def features(batch=4, frames=20, bands=8, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, frames, bands)).astype("float32") + 5


def test_layer_contract(tmp_path):
    # run_layer_test calls the layer without `training`: the identity.
    run_layer_test(SpecAugment, dict(num_time_masks=1, max_time_width=3, seed=1), features(),
                   (4, 20, 8), tmp_path, mixed_output_dtype=None)  # fmt: skip


def test_masks_whole_frames_and_bands_within_the_limits():
    x = features(batch=64)
    layer = SpecAugment(num_time_masks=1, max_time_width=4, num_frequency_masks=1,
                        max_frequency_width=3, seed=0)  # fmt: skip
    y = np.asarray(layer(x, training=True))
    masked = y == 0
    assert np.all(y[~masked] == x[~masked])  # everything else untouched
    for example in masked:
        frames = example.all(axis=1)  # a masked frame has every band zero
        bands = example.all(axis=0)
        assert np.array_equal(example, frames[:, None] | bands[None, :])
        assert frames.sum() <= 4 and bands.sum() <= 3
        for mask in (frames, bands):  # each mask is one consecutive run
            runs = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
            assert len(runs) <= 2
    # Over 64 examples masks of several widths and places occur.
    widths = {int(m.all(axis=1).sum()) for m in masked}
    assert len(widths) >= 3 and max(widths) == 4


def test_inference_is_the_identity_and_training_is_seeded():
    x = features()
    layer = SpecAugment(seed=3)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    a = np.asarray(SpecAugment(seed=3)(x, training=True))
    b = np.asarray(SpecAugment(seed=3)(x, training=True))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, x)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="Received: num_time_masks=-1"):
        SpecAugment(num_time_masks=-1)
    with pytest.raises(ValueError, match="max_frequency_width=0"):
        SpecAugment(max_frequency_width=0)


def test_inside_a_model_it_masks_only_in_fit():
    inputs = keras.Input((20, 8))
    model = keras.Model(inputs, SpecAugment(seed=0, max_time_width=20)(inputs))
    x = features()
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    assert not np.array_equal(np.asarray(model(x, training=True)), x)

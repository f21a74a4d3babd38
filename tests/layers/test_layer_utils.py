import numpy as np

from sharedformer_tf.layers import layer_utils


def test_causal_mask():
    np.testing.assert_array_equal(layer_utils.causal_mask(3, 3)[0], np.tril(np.ones((3, 3), bool)))
    # Query at absolute position 2 of a 4-slot cache sees slots 0..2.
    np.testing.assert_array_equal(
        layer_utils.causal_mask(1, 4, start_index=2)[0], [[True, True, True, False]]
    )


def test_padding_and_merge():
    padding = np.array([[True, True, False]])
    mask = layer_utils.padding_mask_to_attention_mask(padding, 2)
    np.testing.assert_array_equal(mask, [[[True, True, False]] * 2])
    merged = layer_utils.merge_masks(None, mask, layer_utils.causal_mask(2, 3))
    np.testing.assert_array_equal(merged, [[[True, False, False], [True, True, False]]])
    assert layer_utils.merge_masks(None, None) is None

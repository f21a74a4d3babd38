import keras
import numpy as np
import pytest
from keras import ops

from sharedformer_tf.layers import CachedMultiHeadAttention, layer_utils
from tests.layer_test_case import run_layer_test


def _layer(**kwargs):
    layer = CachedMultiHeadAttention(num_heads=2, key_dim=4, **kwargs)
    layer.build((None, None, 8))
    return layer


def test_output_shape_and_weights():
    layer = _layer()
    out = layer(np.random.rand(3, 5, 8).astype("float32"))
    assert out.shape == (3, 5, 8)
    # q, k, v, o kernels and biases: 4 * (8 * 8 + 8)
    assert layer.count_params() == 4 * (8 * 8 + 8)


def test_cross_attention_with_other_value_width():
    layer = CachedMultiHeadAttention(num_heads=2, key_dim=3)
    out = layer(np.ones((2, 4, 8), "float32"), np.ones((2, 7, 5), "float32"))
    assert out.shape == (2, 4, 8)
    assert layer.key_dense.kernel.shape == (5, 6)


def test_incremental_cache_equals_full_causal_attention():
    layer = _layer()
    x = np.random.rand(2, 6, 8).astype("float32")
    full = layer(x, attention_mask=layer_utils.causal_mask(6, 6))
    cache = ops.zeros((2, 2, 6, 2, 4))
    steps = []
    for i in range(6):
        mask = layer_utils.causal_mask(1, 6, start_index=i)
        out, cache = layer(x[:, i : i + 1], attention_mask=mask, cache=cache, cache_update_index=i)
        steps.append(out)
    np.testing.assert_allclose(ops.concatenate(steps, axis=1), full, rtol=1e-5, atol=1e-5)
    # The same with a heads-first (keys, values) cache, written in place.
    pair, steps = (ops.zeros((2, 2, 6, 4)), ops.zeros((2, 2, 6, 4))), []
    for i in range(6):
        mask = layer_utils.causal_mask(1, 6, start_index=i)
        out, pair = layer(x[:, i : i + 1], attention_mask=mask, cache=pair, cache_update_index=i)
        steps.append(out)
    np.testing.assert_allclose(ops.concatenate(steps, axis=1), full, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(pair[0], ops.transpose(cache[:, 0], (0, 2, 1, 3)), atol=1e-6)
    np.testing.assert_allclose(pair[1], ops.transpose(cache[:, 1], (0, 2, 1, 3)), atol=1e-6)


def test_precomputed_cache_equals_direct_call():
    layer = _layer()
    q = np.random.rand(2, 3, 8).astype("float32")
    memory = np.random.rand(2, 5, 8).astype("float32")
    cache = layer.compute_key_value_cache(memory)
    assert cache.shape == (2, 2, 5, 2, 4)
    out, returned = layer(q, attention_mask=None, cache=cache)
    np.testing.assert_allclose(out, layer(q, memory), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(returned, cache)


def test_heads_first_cache_equals_direct_call():
    layer = _layer()
    q = np.random.rand(2, 3, 8).astype("float32")
    memory = np.random.rand(2, 5, 8).astype("float32")
    keys, values = layer.compute_key_value_heads(memory)
    assert keys.shape == values.shape == (2, 2, 5, 4)  # batch, heads, length, head_dim
    stacked = layer.compute_key_value_cache(memory)
    np.testing.assert_allclose(values, np.transpose(stacked[:, 1], (0, 2, 1, 3)))
    mask = np.array([[[True, True, True, False, False]] * 3] * 2)
    out, returned = layer(q, attention_mask=mask, cache=(keys, values))
    np.testing.assert_allclose(out, layer(q, memory, attention_mask=mask), rtol=1e-5, atol=1e-6)
    assert returned[0] is keys and returned[1] is values
    with pytest.raises(ValueError, match="one slot.*Received: cache_slot=0"):
        layer(q, cache=(keys, values), cache_slot=0)


def test_masked_keys_do_not_change_the_output():
    layer = _layer()
    q = np.random.rand(1, 2, 8).astype("float32")
    memory = np.random.rand(1, 4, 8).astype("float32")
    mask = np.array([[[True, True, False, False]] * 2])
    changed = memory.copy()
    changed[:, 2:] = 100.0
    np.testing.assert_allclose(
        layer(q, memory, attention_mask=mask),
        layer(q, changed, attention_mask=mask),
        rtol=1e-5,
        atol=1e-6,
    )
    assert not np.allclose(layer(q, memory), layer(q, changed))


def test_layer_contract(tmp_path):
    x = np.random.rand(2, 3, 8).astype("float32")
    run_layer_test(CachedMultiHeadAttention, {"num_heads": 2, "key_dim": 4, "use_bias": False},
                   x, (2, 3, 8), tmp_path)  # fmt: skip


@pytest.mark.parametrize("arg", ["num_heads", "key_dim"])
def test_invalid_sizes(arg):
    kwargs = {"num_heads": 2, "key_dim": 4, arg: 0}
    with pytest.raises(ValueError, match=f"{arg}=0"):
        CachedMultiHeadAttention(**kwargs)


def test_projections_get_independent_initial_weights():
    layer = CachedMultiHeadAttention(
        num_heads=2, key_dim=4, kernel_initializer=keras.initializers.GlorotUniform(seed=1)
    )
    layer.build((None, None, 8))
    assert not np.allclose(layer.query_dense.kernel, layer.key_dense.kernel)

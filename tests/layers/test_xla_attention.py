import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from sharedformer_tf.layers import layer_utils, xla_attention


def inputs(batch=2, query_length=3, key_length=5, heads=2, head_dim=4, dtype="float32"):
    rng = np.random.default_rng(0)
    q, k, v = (
        rng.normal(size=(batch, n, heads, head_dim)).astype(dtype)
        for n in (query_length, key_length, key_length)
    )
    mask = layer_utils.causal_mask(query_length, key_length, start_index=key_length - query_length)
    return q, k, v, ops.expand_dims(mask, 1)


def test_compiled_core_matches_plain_kernels():
    q, k, v, mask = inputs()
    compiled = xla_attention.attention_core(q, k, v, mask)
    with xla_attention.xla_attention("off"):
        plain = xla_attention.attention_core(q, k, v, mask)
    np.testing.assert_allclose(compiled, plain, atol=1e-5)
    # Masked keys have no weight: the last query sees every key, the first only 3.
    changed = np.array(v)
    changed[:, 4] += 10.0
    moved = xla_attention.attention_core(q, k, changed, mask)
    np.testing.assert_allclose(moved[:, 0], compiled[:, 0], atol=1e-5)
    assert not np.allclose(moved[:, 2], compiled[:, 2])


def test_core_lowers_to_xla_hlo():
    q, k, v, mask = inputs()
    hlo = xla_attention._compiled_attention.experimental_get_compiler_ir(q, k, v, mask)("hlo")
    assert "HloModule" in hlo
    assert "dot(" in hlo or "dot." in hlo


def test_switch_is_scoped_and_restored():
    assert xla_attention.xla_attention_enabled()
    with xla_attention.xla_attention("off"):
        assert not xla_attention.xla_attention_enabled()
        with pytest.raises(RuntimeError):
            with xla_attention.xla_attention(True):
                assert xla_attention.xla_attention_enabled()
                raise RuntimeError
        assert not xla_attention.xla_attention_enabled()
    assert xla_attention.xla_attention_enabled()


def test_unknown_mode_names_what_it_received():
    with pytest.raises(ValueError, match="Received: mode='fast'"):
        xla_attention.set_xla_attention("fast")


def test_gradients_flow_through_the_compiled_core():
    q, k, v, mask = (tf.constant(x) for x in inputs())
    with tf.GradientTape() as tape:
        tape.watch([q, k, v])
        loss = tf.reduce_sum(xla_attention.attention_core(q, k, v, mask) ** 2)
    grads = tape.gradient(loss, [q, k, v])
    with xla_attention.xla_attention("off"), tf.GradientTape() as tape:
        tape.watch([q, k, v])
        loss = tf.reduce_sum(xla_attention.attention_core(q, k, v, mask) ** 2)
    for got, want in zip(grads, tape.gradient(loss, [q, k, v]), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_bfloat16_inputs_keep_their_dtype():
    q, k, v, mask = inputs(dtype="float32")
    q, k, v = (ops.cast(x, "bfloat16") for x in (q, k, v))
    out = xla_attention.attention_core(q, k, v, mask)
    assert out.dtype == "bfloat16"

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


@pytest.mark.parametrize("heads_first", [False, True])
def test_core_lowers_to_xla_hlo(heads_first):
    q, k, v, mask = inputs()
    if heads_first:
        k, v = (np.transpose(t, (0, 2, 1, 3)) for t in (k, v))
    compiled = xla_attention._compiled[heads_first]
    hlo = compiled.experimental_get_compiler_ir(q, k, v, mask)("hlo")
    assert "HloModule" in hlo
    assert "dot(" in hlo or "dot." in hlo


@pytest.mark.parametrize("compiled", ["on", "off"])
def test_heads_first_core_equals_keras_attention(compiled):
    q, k, v, _ = inputs(query_length=1, key_length=6)
    mask = np.arange(6)[None, None, None, :] < 5  # the last key is masked
    heads = [np.transpose(t, (0, 2, 1, 3)) for t in (k, v)]
    expected = ops.dot_product_attention(q, k, v, mask=mask)
    with xla_attention.xla_attention(compiled):
        # Twice with other lengths: traces relaxed to unknown shapes still run.
        for length in (6, 4, 5):
            mask_l = mask[..., :length]
            got = xla_attention.attention_core(q, *(t[:, :, :length] for t in heads), mask_l,
                                               heads_first=True)  # fmt: skip
            want = ops.dot_product_attention(q, k[:, :length], v[:, :length], mask=mask_l)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    got = xla_attention.attention_core(q, *heads, mask, heads_first=True)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # A masked key has no weight.
    changed = np.array(heads[1])
    changed[:, :, 5] += 10.0
    np.testing.assert_allclose(xla_attention.attention_core(q, heads[0], changed, mask,
                                                            heads_first=True), expected,
                               rtol=1e-5, atol=1e-6)  # fmt: skip


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

import keras
import numpy as np
import pytest
from keras import ops

from sharedformer_tf.layers import TransformerBlock, layer_utils
from tests.layer_test_case import run_layer_test


def _x(*shape):
    return np.random.rand(*shape).astype("float32")


def _block(**kwargs):
    kwargs.setdefault("num_heads", 2)
    kwargs.setdefault("intermediate_dim", 16)
    return TransformerBlock(**kwargs)


def _count(h=8, f=16, cross=False):
    attention = 4 * (h * h + h)
    ffn = h * f + f + f * h + h
    norms = (3 if cross else 2) * 2 * h
    return attention * (2 if cross else 1) + ffn + norms


@pytest.mark.parametrize("cross", [False, True])
def test_parameter_count(cross):
    block = _block(use_cross_attention=cross)
    block.build((None, None, 8), (None, None, 8) if cross else None)
    assert block.count_params() == _count(cross=cross)


@pytest.mark.parametrize("norm_first", [True, False])
def test_pre_and_post_layer_norm(norm_first):
    block = _block(norm_first=norm_first)
    x = _x(2, 4, 8)
    y = block(x)
    assert y.shape == (2, 4, 8)
    per_position_std = ops.std(y, axis=-1)
    # Post-LN ends with a layer norm: unit variance per position.
    assert np.allclose(per_position_std, 1.0, atol=1e-2) == (not norm_first)


def test_shared_sublayers_are_the_same_instances():
    owner = _block(use_cross_attention=True)
    owner.build((None, None, 8), (None, None, 8))
    user = _block(
        use_cross_attention=True,
        shared_sublayers={
            "self_attention": owner.self_attention,
            "feed_forward": owner.feed_forward,
        },
    )
    user.build((None, None, 8), (None, None, 8))
    assert user.self_attention is owner.self_attention
    assert user.feed_forward is owner.feed_forward
    assert user.cross_attention is not owner.cross_attention
    assert user.self_attention_norm is not owner.self_attention_norm

    inputs = keras.Input((None, 8))
    memory = keras.Input((None, 8))
    model = keras.Model(
        [inputs, memory], user(owner(inputs, encoder_outputs=memory), encoder_outputs=memory)
    )
    own = _count(cross=True)
    reused = 4 * (8 * 8 + 8) + (8 * 16 + 16 + 16 * 8 + 8)
    assert model.count_params() == 2 * own - reused


@pytest.mark.parametrize("adapter_dim", [None, 4])
def test_self_attention_cache_matches_full_call(adapter_dim):
    block = _block(use_cross_attention=True, adapter_dim=adapter_dim)
    x, memory = _x(2, 5, 8), _x(2, 3, 8)
    if adapter_dim:
        block.build((None, None, 8), (None, None, 8))
        block.adapter.output_dense.kernel.assign(_x(4, 8))  # starts at zero
    full = block(x, self_attention_mask=layer_utils.causal_mask(5, 5), encoder_outputs=memory)
    cache = ops.zeros((2, 2, 5, 2, 4))
    cross_cache = block.cross_attention.compute_key_value_cache(memory)
    outs = []
    for i in range(5):
        out, cache = block(
            x[:, i : i + 1],
            self_attention_mask=layer_utils.causal_mask(1, 5, i),
            self_attention_cache=cache,
            cache_update_index=i,
            cross_attention_cache=cross_cache,
        )
        outs.append(out)
    np.testing.assert_allclose(ops.concatenate(outs, axis=1), full, rtol=1e-5, atol=1e-5)


def test_config_round_trip_drops_sharing():
    owner = _block()
    owner.build((None, None, 8))
    user = _block(shared_sublayers={"self_attention": owner.self_attention}, norm_first=False)
    config = user.get_config()
    assert "shared_sublayers" not in config
    restored = TransformerBlock.from_config(config)
    restored.build((None, None, 8))
    assert restored.count_params() == _count()
    assert restored.get_config() == config


def test_errors_name_received_values():
    with pytest.raises(ValueError, match="Unknown keys.*'ffn'"):
        _block(shared_sublayers={"ffn": keras.layers.Dense(2)})
    with pytest.raises(ValueError, match="use_cross_attention=False"):
        _block(shared_sublayers={"cross_attention": keras.layers.Dense(2)})
    with pytest.raises(ValueError, match="hidden_dim=9, num_heads=2"):
        _block().build((None, None, 9))
    block = _block(use_cross_attention=True)
    with pytest.raises(ValueError, match="needs `encoder_outputs`"):
        block(_x(1, 2, 8))


def _adapter_count(h=8, r=4):
    return h * r + r + r * h + h


def test_adapter_is_private_and_starts_as_the_plain_block():
    plain = _block(use_cross_attention=True)
    plain.build((None, None, 8), (None, None, 8))
    owner = _block(use_cross_attention=True, adapter_dim=4)
    owner.build((None, None, 8), (None, None, 8))
    assert owner.count_params() == _count(cross=True) + _adapter_count()
    user = _block(
        use_cross_attention=True,
        adapter_dim=4,
        shared_sublayers={"feed_forward": owner.feed_forward},
    )
    user.build((None, None, 8), (None, None, 8))
    assert user.feed_forward is owner.feed_forward
    assert user.adapter is not owner.adapter

    x, memory = _x(2, 4, 8), _x(2, 3, 8)
    owned = {id(v) for v in owner.adapter.weights}
    plain.set_weights(
        [w for v, w in zip(owner.weights, owner.get_weights(), strict=True) if id(v) not in owned]
    )
    np.testing.assert_allclose(owner(x, encoder_outputs=memory), plain(x, encoder_outputs=memory))
    owner.adapter.output_dense.kernel.assign(np.random.rand(4, 8).astype("float32"))
    assert not np.allclose(owner(x, encoder_outputs=memory), plain(x, encoder_outputs=memory))


@pytest.mark.parametrize("kwargs", [{}, {"adapter_dim": 4, "norm_first": False}])
def test_layer_contract(tmp_path, kwargs):
    kwargs = {"num_heads": 2, "intermediate_dim": 16, **kwargs}
    run_layer_test(TransformerBlock, kwargs, _x(2, 5, 8), (2, 5, 8), tmp_path)


def test_adapter_config_round_trips_with_cross_attention():
    block = _block(use_cross_attention=True, adapter_dim=4, norm_first=False)
    x, memory = _x(2, 5, 8), _x(2, 3, 8)
    block.build((None, None, 8), (None, None, 8))
    block.adapter.output_dense.kernel.assign(_x(4, 8))
    restored = TransformerBlock.from_config(block.get_config())
    assert restored.adapter_dim == 4
    restored.build((None, None, 8), (None, None, 8))
    restored.set_weights(block.get_weights())
    np.testing.assert_array_equal(
        restored(x, encoder_outputs=memory), block(x, encoder_outputs=memory)
    )


def test_invalid_adapter_dim():
    for value in (0, 2.5, True):
        with pytest.raises(ValueError, match=f"adapter_dim={value!r}"):
            _block(adapter_dim=value)


def test_blocks_sharing_a_sublayer_differ_by_their_lora_deltas():
    owner = _block(use_cross_attention=True, lora_rank=2)
    owner.build((None, None, 8), (None, None, 8))
    names = ("self_attention", "cross_attention", "feed_forward")
    shared = {name: getattr(owner, name) for name in names}
    shared.update({f"{name}_norm": getattr(owner, f"{name}_norm") for name in names})
    user = _block(use_cross_attention=True, lora_rank=2, shared_sublayers=shared)
    user.build((None, None, 8), (None, None, 8))
    # The user stores only its own deltas: rank 2 over four (8, 8) kernels
    # per attention, and the (8, 16) and (16, 8) feed-forward kernels.
    deltas = 2 * 4 * (2 * 16 + 8) + (2 * 24 + 16) + (2 * 24 + 8)
    owned = {id(v) for v in owner.weights}
    assert sum(int(np.prod(v.shape)) for v in user.weights if id(v) not in owned) == deltas
    assert all(user.lora(name) is not owner.lora(name) for name in names)
    x, memory = _x(2, 5, 8), _x(2, 3, 8)
    # Fresh deltas are zero: the two blocks compute the same.
    np.testing.assert_allclose(user(x, encoder_outputs=memory), owner(x, encoder_outputs=memory))
    user.cross_attention_lora.factors["value_dense"][1].assign(_x(2, 8))
    assert not np.allclose(user(x, encoder_outputs=memory), owner(x, encoder_outputs=memory))
    lora = user.lora("cross_attention")
    cache = user.cross_attention.compute_key_value_cache(memory, lora=lora)
    cached, _ = user.cross_attention(x, cache=cache, lora=lora)
    np.testing.assert_allclose(cached, user.cross_attention(x, memory, lora=lora), rtol=1e-5,
                               atol=1e-5)  # fmt: skip


def test_lora_block_contract(tmp_path):
    kwargs = {"num_heads": 2, "intermediate_dim": 16, "lora_rank": 2}
    run_layer_test(TransformerBlock, kwargs, _x(2, 5, 8), (2, 5, 8), tmp_path)
    with pytest.raises(ValueError, match="lora_rank=0"):
        _block(lora_rank=0)

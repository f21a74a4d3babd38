import keras
import numpy as np
import pytest
from keras import ops

from sharedformer_tf import SharedDecoder, SharedEncoder, SharingPlan, parameter_report

H, HEADS, F = 8, 2, 16
ATTENTION = 4 * (H * H + H)
FFN = H * F + F + F * H + H
NORM = 2 * H


def _x(*shape):
    return np.random.rand(*shape).astype("float32")


def _decoder(plan, **kwargs):
    decoder = SharedDecoder(plan, num_heads=HEADS, intermediate_dim=F, **kwargs)
    decoder.build((None, None, H), (None, None, H))
    return decoder


def _encoder(plan, **kwargs):
    encoder = SharedEncoder(plan, num_heads=HEADS, intermediate_dim=F, **kwargs)
    encoder.build((None, None, H))
    return encoder


def _stepwise(decoder, y, memory, memory_mask, per_slot=False):
    batch, length, _ = y.shape
    cache = decoder.init_cache(batch, length, per_slot=per_slot)
    cross = decoder.compute_cross_attention_cache(memory)
    outputs = []
    for i in range(length):
        out, cache = decoder(
            y[:, i : i + 1],
            encoder_padding_mask=memory_mask,
            self_attention_cache=cache,
            cache_update_index=i,
            cross_attention_cache=cross,
        )
        outputs.append(out)
    return ops.concatenate(outputs, axis=1), cache


@pytest.mark.parametrize(
    "plan",
    [
        SharingPlan(4, strategy="none"),
        SharingPlan(4, strategy="all"),
        SharingPlan(4, 2, strategy="cycle_rev"),
        SharingPlan(4, 2, strategy="sequence", scope="attention"),
        SharingPlan(4, 2, strategy="cycle", scope="ffn"),
        SharingPlan(4, strategy="sandwich"),
    ],
    ids=str,
)
@pytest.mark.parametrize("norm_first", [True, False])
def test_cached_decoding_equals_full_forward(plan, norm_first):
    decoder = _decoder(plan, norm_first=norm_first, use_depth_embedding=True)
    y, memory = _x(2, 6, H), _x(2, 5, H)
    memory_mask = np.array([[True] * 5, [True, True, True, False, False]])
    full = decoder(y, memory, encoder_padding_mask=memory_mask)
    steps, cache = _stepwise(decoder, y, memory, memory_mask)
    np.testing.assert_allclose(steps, full, rtol=1e-5, atol=1e-5)
    assert cache.shape == (2, plan.num_layers, 2, 6, HEADS, H // HEADS)
    # Per-slot heads-first pairs: the same outputs, and each slot holds the
    # stacked cache's entry in its own layout.
    steps, pairs = _stepwise(decoder, y, memory, memory_mask, per_slot=True)
    np.testing.assert_allclose(steps, full, rtol=1e-5, atol=1e-5)
    assert len(pairs) == plan.num_layers
    for slot, (keys, values) in enumerate(pairs):
        assert tuple(keys.shape) == (2, HEADS, 6, H // HEADS)
        np.testing.assert_allclose(keys, ops.transpose(cache[:, slot, 0], (0, 2, 1, 3)),
                                   atol=1e-6)  # fmt: skip
        np.testing.assert_allclose(values, ops.transpose(cache[:, slot, 1], (0, 2, 1, 3)),
                                   atol=1e-6)  # fmt: skip


def test_cache_is_keyed_by_depth_not_by_instance():
    decoder = _decoder(SharingPlan(3, strategy="all"))
    y, memory = _x(1, 3, H), _x(1, 2, H)
    _, cache = _stepwise(decoder, y, memory, None)
    # One attention instance serves all depths, but each depth sees
    # different inputs, so each slot holds different keys.
    assert decoder.blocks[0].self_attention is decoder.blocks[2].self_attention
    assert not np.allclose(cache[:, 0], cache[:, 1])
    assert not np.allclose(cache[:, 1], cache[:, 2])


def test_cross_attention_cache_shared_groups_compute_once():
    plan = SharingPlan(4, 2, strategy="cycle_rev")
    decoder = _decoder(plan)
    memory = _x(2, 5, H)
    cross = decoder.compute_cross_attention_cache(memory)
    assert len(cross) == 4
    assert all(t.shape == (2, HEADS, 5, H // HEADS) for pair in cross for t in pair)
    assert cross[0] is cross[3]  # one computation for the depths of a group
    assert not np.allclose(cross[0][0], cross[1][0])
    # Heads first: the keys of the layer's own [batch, 2, length, heads, dim] cache.
    stacked = decoder.blocks[0].cross_attention.compute_key_value_cache(memory)
    np.testing.assert_allclose(cross[0][0], np.transpose(stacked[:, 0], (0, 2, 1, 3)))
    np.testing.assert_allclose(cross[0][1], np.transpose(stacked[:, 1], (0, 2, 1, 3)))


@pytest.mark.parametrize("explicit", [False, True])
def test_one_cross_attention_for_all_depths(explicit):
    plan = SharingPlan(4, 2, strategy="cycle_rev")
    if explicit:  # the per-kind assignment, or its shorthand
        decoder = _decoder(plan.with_assignments(cross_attention="AAAA"))
    else:
        decoder = _decoder(plan, cross_attention_plan=SharingPlan(4, strategy="all"))
    assert decoder.plan == plan.with_assignments(cross_attention=[0, 0, 0, 0])
    assert len(decoder.cross_attention_layers) == 1
    for block in decoder.blocks:
        assert block.cross_attention is decoder.cross_attention_layers[0]
    assert decoder.blocks[0].self_attention is not decoder.blocks[1].self_attention
    # 2 self-attention + 2 FFN groups, 1 cross-attention, 3 norms a depth.
    assert decoder.count_params() == 2 * (ATTENTION + FFN) + ATTENTION + 4 * 3 * NORM + NORM
    memory = _x(2, 5, H)
    cross = decoder.compute_cross_attention_cache(memory)
    for depth in range(1, 4):
        assert cross[depth] is cross[0]
    y, memory_mask = _x(2, 6, H), np.array([[True] * 5, [True, True, False, False, False]])
    full = decoder(y, memory, encoder_padding_mask=memory_mask)
    steps, _ = _stepwise(decoder, y, memory, memory_mask)
    np.testing.assert_allclose(steps, full, rtol=1e-5, atol=1e-5)
    rows = [r for r in parameter_report(decoder)["groups"] if r["sublayer"] == "cross_attention"]
    assert [r["depths"] for r in rows] == [[0, 1, 2, 3]]


def test_cross_attention_plan_can_share_less_than_the_plan():
    decoder = _decoder(
        SharingPlan(4, strategy="all"),
        cross_attention_plan=SharingPlan(4, 2, strategy="sequence"),
        per_depth_norms=False,
    )
    groups = [decoder.cross_attention_layers.index(b.cross_attention) for b in decoder.blocks]
    assert groups == [0, 0, 1, 1]
    assert decoder.blocks[1].cross_attention_norm is decoder.blocks[0].cross_attention_norm
    assert decoder.blocks[2].cross_attention_norm is not decoder.blocks[0].cross_attention_norm
    assert decoder.count_params() == 3 * ATTENTION + FFN + 4 * NORM + NORM


def test_cross_attention_plan_must_match_the_depths():
    with pytest.raises(ValueError, match="as many depths.*num_layers=3.*num_layers=4"):
        _decoder(SharingPlan(4, 2), cross_attention_plan=SharingPlan(3, strategy="all"))


def test_future_tokens_do_not_change_past_outputs():
    decoder = _decoder(SharingPlan(2, strategy="all"))
    y, memory = _x(1, 4, H), _x(1, 3, H)
    changed = y.copy()
    changed[:, 2:] = 9.0
    np.testing.assert_allclose(
        decoder(y, memory)[:, :2], decoder(changed, memory)[:, :2], rtol=1e-5, atol=1e-6
    )


def test_unique_params_closed_form():
    plan = SharingPlan(6, 3, strategy="cycle_rev")
    decoder = _decoder(plan)
    expected = 3 * (2 * ATTENTION + FFN) + 6 * 3 * NORM + NORM
    assert decoder.count_params() == expected


def test_tied_encoder_reuses_self_attention_and_ffn_instances():
    encoder = _encoder(SharingPlan(6, 3, strategy="cycle_rev"))
    decoder = SharedDecoder(
        SharingPlan(6, 3, strategy="cycle_rev"),
        num_heads=HEADS,
        intermediate_dim=F,
        tied_encoder=encoder,
    )
    inputs, memory = keras.Input((None, H)), keras.Input((None, H))
    model = keras.Model([inputs, memory], decoder(inputs, encoder(memory)))
    for depth in range(6):
        group = decoder.plan.assignments[depth]
        assert decoder.blocks[depth].self_attention is encoder.self_attention_layers[group]
        assert decoder.blocks[depth].feed_forward is encoder.feed_forward_layers[group]
        assert decoder.blocks[depth].cross_attention is decoder.cross_attention_layers[group]
        assert (
            decoder.blocks[depth].self_attention_norm
            is not encoder.blocks[depth].self_attention_norm
        )
    encoder_params = 3 * (ATTENTION + FFN) + 6 * 2 * NORM + NORM
    decoder_own = 3 * ATTENTION + 6 * 3 * NORM + NORM
    assert model.count_params() == encoder_params + decoder_own
    report = parameter_report(model)
    untied_effective = (6 * (ATTENTION + FFN + 2 * NORM) + NORM) + (
        6 * (2 * ATTENTION + FFN + 3 * NORM) + NORM
    )
    assert report["effective_params"] == untied_effective
    owners = {(r["stack"], r["sublayer"]): r["owner"] for r in report["groups"]}
    assert owners[(decoder.name, "self_attention")] == encoder.name
    assert owners[(decoder.name, "cross_attention")] == decoder.name


@pytest.mark.parametrize("num_groups_ffn", [None, 1])
def test_tied_encoder_cached_decoding_equals_full_forward(num_groups_ffn):
    encoder = _encoder(SharingPlan(4, 2, strategy="cycle", num_groups_ffn=num_groups_ffn))
    decoder = SharedDecoder(
        SharingPlan(4, 2, strategy="cycle", num_groups_ffn=num_groups_ffn),
        num_heads=HEADS,
        intermediate_dim=F,
        tied_encoder=encoder,
    )
    y, memory = _x(2, 5, H), encoder(_x(2, 3, H))
    full = decoder(y, memory)
    for block in decoder.blocks:
        assert block.feed_forward in encoder.feed_forward_layers
    assert len(encoder.feed_forward_layers) == (num_groups_ffn or 2)
    steps, _ = _stepwise(decoder, y, memory, None)
    np.testing.assert_allclose(steps, full, rtol=1e-5, atol=1e-5)


def test_tied_encoder_errors():
    encoder = _encoder(SharingPlan(4, 2, strategy="cycle"))
    with pytest.raises(ValueError, match="at least as many self_attention groups"):
        SharedDecoder(
            SharingPlan(4, strategy="none"),
            num_heads=HEADS,
            intermediate_dim=F,
            tied_encoder=encoder,
        )
    with pytest.raises(ValueError, match="intermediate_dim=16.*intermediate_dim=32"):
        SharedDecoder(SharingPlan(4, 2), num_heads=HEADS, intermediate_dim=32, tied_encoder=encoder)
    with pytest.raises(TypeError, match="Dense"):
        SharedDecoder(
            SharingPlan(4, 2),
            num_heads=HEADS,
            intermediate_dim=F,
            tied_encoder=keras.layers.Dense(2),
        )


def test_cache_without_index_is_an_error():
    decoder = _decoder(SharingPlan(2, strategy="all"))
    with pytest.raises(ValueError, match="cache_update_index=None"):
        decoder(_x(1, 1, H), _x(1, 2, H), self_attention_cache=decoder.init_cache(1, 3))


def test_config_round_trip():
    decoder = _decoder(
        SharingPlan(4, 2, strategy="sequence"),
        dropout=0.2,
        activation="gelu",
        cross_attention_plan=SharingPlan(4, strategy="all"),
    )
    config = decoder.get_config()
    assert "cross_attention_plan" not in config  # folded into the plan
    restored = SharedDecoder.from_config(config)
    assert restored.plan.assignments_of("cross_attention") == (0, 0, 0, 0)
    restored.build((None, None, H), (None, None, H))
    restored.set_weights(decoder.get_weights())
    y, memory = _x(1, 3, H), _x(1, 2, H)
    np.testing.assert_array_equal(restored(y, memory), decoder(y, memory))


def test_tied_encoder_with_adapters_keeps_them_per_stack_and_decodes_with_cache():
    encoder = _encoder(SharingPlan(4, 2, strategy="cycle_rev"), adapter_dim=4)
    decoder = SharedDecoder(
        SharingPlan(4, 2, strategy="cycle_rev"),
        num_heads=HEADS,
        intermediate_dim=F,
        adapter_dim=4,
        tied_encoder=encoder,
    )
    y, memory = _x(2, 5, H), encoder(_x(2, 3, H))
    decoder.build((None, None, H), (None, None, H))
    for block in decoder.blocks:
        assert block.feed_forward in encoder.feed_forward_layers
        assert all(block.adapter is not b.adapter for b in encoder.blocks)
        kernel = block.adapter.output_dense.kernel
        kernel.assign(np.random.rand(*kernel.shape).astype("float32"))
    full = decoder(y, memory)
    steps, _ = _stepwise(decoder, y, memory, None)
    np.testing.assert_allclose(steps, full, rtol=1e-5, atol=1e-5)
    assert SharedDecoder.from_config(decoder.get_config()).adapter_dim == 4


@pytest.mark.parametrize(
    "plan",
    [SharingPlan(4, 2, strategy="cycle"), SharingPlan(4, strategy="sandwich"),
     SharingPlan(4, 2, strategy="sequence", scope="ffn")],
    ids=str,
)  # fmt: skip
def test_decoder_only_stack_is_causal_and_its_cache_equals_the_full_forward(plan):
    decoder = SharedDecoder(plan, num_heads=HEADS, intermediate_dim=F, use_cross_attention=False,
                            use_depth_embedding=True)  # fmt: skip
    y = _x(2, 6, H)
    full = decoder(y)
    cache, steps = decoder.init_cache(2, 6), []
    for i in range(6):
        out, cache = decoder(y[:, i : i + 1], self_attention_cache=cache, cache_update_index=i)
        steps.append(out)
    np.testing.assert_allclose(ops.concatenate(steps, axis=1), full, rtol=1e-5, atol=1e-5)
    changed = y.copy()
    changed[:, 3:] = 9.0
    np.testing.assert_allclose(decoder(changed)[:, :3], full[:, :3], rtol=1e-5, atol=1e-6)
    # Self-attention and feed-forward only: stored scalars in closed form.
    groups = [plan.groups_of(kind) for kind in ("self_attention", "feed_forward")]
    norms = 4 * 2 * NORM + NORM + 4 * H  # per-depth norms, final norm, depth embeddings
    assert decoder.count_params() == groups[0] * ATTENTION + groups[1] * FFN + norms
    assert decoder.cross_attention_layers == []


def test_decoder_only_stack_refuses_encoder_inputs_and_round_trips():
    decoder = SharedDecoder(SharingPlan(2, strategy="all"), num_heads=HEADS, intermediate_dim=F,
                            use_cross_attention=False)  # fmt: skip
    y = _x(1, 3, H)
    with pytest.raises(ValueError, match="use_cross_attention=False"):
        decoder(y, _x(1, 2, H))
    with pytest.raises(ValueError, match="use_cross_attention=False"):
        decoder.compute_cross_attention_cache(_x(1, 2, H))
    with pytest.raises(ValueError, match="takes no `cross_attention_plan`"):
        plan = SharingPlan(2, strategy="all")
        SharedDecoder(plan, num_heads=HEADS, intermediate_dim=F, use_cross_attention=False,
                      cross_attention_plan=plan)  # fmt: skip
    config = decoder.get_config()
    assert config["use_cross_attention"] is False
    restored = SharedDecoder.from_config(config)
    restored.build((None, None, H))
    restored.set_weights(decoder.get_weights())
    np.testing.assert_array_equal(restored(y), decoder(y))
    assert SharedDecoder.from_config(
        _decoder(SharingPlan(2, strategy="all")).get_config()
    ).use_cross_attention


@pytest.mark.parametrize("per_slot", [False, True], ids=["stacked", "per_slot"])
@pytest.mark.parametrize("use_cross_attention", [False, True])
def test_kv_sharing_is_causal_and_its_cache_of_group_slots_equals_the_full_forward(
    use_cross_attention, per_slot
):
    plan = SharingPlan(6, 3, strategy="cycle_rev")  # A B C C B A: owners 0, 1, 2
    decoder = SharedDecoder(plan, num_heads=HEADS, intermediate_dim=F, kv_sharing="group",
                            use_cross_attention=use_cross_attention)  # fmt: skip
    assert decoder.num_cache_slots == 3
    assert [decoder.cache_slot(d) for d in range(6)] == [0, 1, 2, 2, 1, 0]
    y, memory = _x(2, 6, H), (_x(2, 4, H) if use_cross_attention else None)
    full = decoder(y, memory)
    cross = decoder.compute_cross_attention_cache(memory) if use_cross_attention else None
    cache, steps = decoder.init_cache(2, 6, per_slot=per_slot), []
    if per_slot:
        assert [tuple(k.shape) for k, _ in cache] == [(2, HEADS, 6, H // HEADS)] * 3
    else:
        assert tuple(cache.shape) == (2, 3, 2, 6, HEADS, H // HEADS)
    for i in range(6):
        out, cache = decoder(y[:, i : i + 1], self_attention_cache=cache, cache_update_index=i,
                             cross_attention_cache=cross)  # fmt: skip
        steps.append(out)
    np.testing.assert_allclose(ops.concatenate(steps, axis=1), full, rtol=1e-5, atol=1e-5)
    changed = y.copy()
    changed[:, 4:] = 9.0
    np.testing.assert_allclose(decoder(changed, memory)[:, :4], full[:, :4], atol=1e-5)
    config = decoder.get_config()
    assert config["kv_sharing"] == "group"
    assert SharedDecoder.from_config(config).num_cache_slots == 3
    with pytest.raises(ValueError, match="kv_sharing='layer'"):
        SharedDecoder(plan, num_heads=HEADS, intermediate_dim=F, kv_sharing="layer")


def _exit_steps(decoder, y, threshold, depth, per_slot=False):
    cache, steps, used = decoder.init_cache(y.shape[0], y.shape[1], per_slot=per_slot), [], []
    for i in range(y.shape[1]):
        out, cache, exits = decoder(y[:, i : i + 1], self_attention_cache=cache,
                                    cache_update_index=i, depth=depth,
                                    exit_threshold=threshold, return_exit_depths=True)  # fmt: skip
        steps.append(out)
        used.append(exits)
    return ops.concatenate(steps, axis=1), ops.concatenate(used, axis=1)


@pytest.mark.parametrize("kv_sharing", ["none", "group"])
def test_per_token_early_exit_cached_equals_the_full_pass_with_the_same_exits(kv_sharing):
    """Tokens leave where their state stops changing; the depths they skip
    still get keys and values (from the copied state) that later tokens
    read, so step-by-step decoding (one token a step: a step whose token
    exited only writes keys and values) equals the full pass."""
    keras.utils.set_random_seed(7)
    decoder = SharedDecoder(SharingPlan(4, 2, strategy="cycle"), num_heads=HEADS,
                            intermediate_dim=F, use_cross_attention=False, depths=(2, 6),
                            use_depth_embedding=True, kv_sharing=kv_sharing)  # fmt: skip
    y = _x(1, 10, H)
    plain = decoder(y, depth=6)
    never, used = decoder(y, depth=6, exit_threshold=0.0, return_exit_depths=True)
    np.testing.assert_array_equal(never, plain)
    assert np.all(np.asarray(used) == 6)
    # A threshold between the tokens' changes: several exit depths occur.
    mixed = None
    for threshold in np.geomspace(0.01, 3.0, 40):
        _, used = decoder(y, depth=6, exit_threshold=threshold, return_exit_depths=True)
        if len(set(np.asarray(used).ravel())) >= 2 and 6 in np.asarray(used):
            mixed = float(threshold)
            break
    assert mixed is not None
    full, used = decoder(y, depth=6, exit_threshold=mixed, return_exit_depths=True)
    assert np.abs(np.asarray(full) - np.asarray(plain)).max() > 1e-4
    for per_slot in (False, True):
        steps, step_used = _exit_steps(decoder, y, mixed, 6, per_slot)
        np.testing.assert_array_equal(step_used, used)
        np.testing.assert_allclose(steps, full, rtol=1e-5, atol=1e-5)
    # Two sequences at once: a step skips only once both tokens exited.
    y2 = np.concatenate([y, _x(1, 10, H)])
    full2, used2 = decoder(y2, depth=6, exit_threshold=mixed, return_exit_depths=True)
    steps2, step_used2 = _exit_steps(decoder, y2, mixed, 6)
    np.testing.assert_array_equal(step_used2, used2)
    np.testing.assert_allclose(steps2, full2, rtol=1e-5, atol=1e-5)


def test_per_token_early_exit_reads_the_change_made_by_the_depth_before_each_exit_point():
    """The rule compares a token's state with its state one depth earlier,
    so the shallowest exit point can fire too (comparing with the decoder's
    input, as this rule once did, never let a token leave there)."""
    keras.utils.set_random_seed(3)
    decoder = SharedDecoder(SharingPlan(4, 2, strategy="cycle"), num_heads=HEADS,
                            intermediate_dim=F, use_cross_attention=False,
                            depths=(2,))  # fmt: skip
    y = _x(2, 5, H)
    decoder(y)
    # Block B (depths 1 and 3) adds nothing: the depth before exit point 2
    # leaves every state as it was, so with any positive threshold every
    # token leaves at depth 2 and the output is the 2-depth model's.
    second = decoder.blocks_at(4)[1]
    for dense in (second.self_attention.output_dense, second.feed_forward.output_dense):
        for weight in dense.weights:
            weight.assign(np.zeros(weight.shape))
    out, used = decoder(y, depth=4, exit_threshold=1e-6, return_exit_depths=True)
    np.testing.assert_array_equal(used, np.full((2, 5), 2))
    np.testing.assert_allclose(out, decoder(y, depth=2), atol=1e-6)
    # Depth 0 (block A) does change the state, so a rule comparing depth 2
    # with the input would see a large change here and keep every token.
    moved = np.asarray(decoder.blocks_at(4)[0](y, self_attention_mask=None)) - y
    assert np.linalg.norm(moved, axis=-1).min() > 0.1
    # With nothing leaving (threshold 0) all 4 depths run.
    out, used = decoder(y, depth=4, exit_threshold=0.0, return_exit_depths=True)
    np.testing.assert_array_equal(used, np.full((2, 5), 4))


def test_per_token_early_exit_needs_depths_that_start_the_deeper_runs():
    decoder = SharedDecoder(SharingPlan(4, 2, strategy="sequence"), num_heads=HEADS,
                            intermediate_dim=F, use_cross_attention=False,
                            depths=(2,))  # fmt: skip
    with pytest.raises(ValueError, match="not the start"):
        decoder(_x(1, 3, H), exit_threshold=0.1)

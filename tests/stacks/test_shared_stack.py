"""Elastic depth: a stack run at a depth other than its plan's."""

import keras
import numpy as np
import pytest

from sharedformer_tf import SharedDecoder, SharedEncoder, SharingPlan

H, HEADS, F = 8, 2, 16
ELASTIC = [
    (SharingPlan(4, 2, strategy="cycle"), (2, 6, 8)),
    (SharingPlan(4, 2, strategy="sequence"), (2, 8)),
    (SharingPlan(4, 2, strategy="cycle_rev"), (2, 6)),
    (SharingPlan(4, 3, strategy="sandwich"), (2, 6)),
    (SharingPlan(4, strategy="all"), (1, 6)),
]
KINDS = ("self_attention", "feed_forward")


def _x(*shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype("float32")


def _stack(cls, plan, **kwargs):
    stack = cls(plan, num_heads=HEADS, intermediate_dim=F, **kwargs)
    stack.build((None, None, H), (None, None, H)) if cls is SharedDecoder else stack.build(
        (None, None, H)
    )
    return stack


def _plain_plan(plan, depth):
    """`plan`'s strategy built at `depth` depths."""
    implied = plan.strategy in ("sandwich", "all")
    return SharingPlan(depth, None if implied else plan.num_groups, plan.strategy)


def _randomize(stack):
    """Random values everywhere (adapters start at zero otherwise)."""
    rng = np.random.default_rng(1)
    for variable in stack.weights:
        variable.assign(rng.normal(0, 0.3, variable.shape).astype("float32"))


def _copy_into_plain(elastic, plain, depth, names):
    """Gives `plain` (built at `depth`) the weights `elastic` uses there."""
    for source, target in zip(elastic.blocks_at(depth), plain.blocks, strict=True):
        for name in names:
            getattr(target, name).set_weights(getattr(source, name).get_weights())
    plain.output_norm.set_weights(elastic.output_norm.get_weights())
    if elastic.use_depth_embedding:
        plain.depth_embeddings.assign(elastic.depth_embeddings[:depth])


@pytest.mark.parametrize("per_depth_norms", [True, False])
@pytest.mark.parametrize("plan, depths", ELASTIC, ids=lambda p: str(p))
def test_elastic_depth_equals_the_plan_built_at_that_depth(plan, depths, per_depth_norms):
    options = dict(adapter_dim=4, use_depth_embedding=True, per_depth_norms=per_depth_norms,
                   lora_rank=2)  # fmt: skip
    elastic = _stack(SharedEncoder, plan, depths=depths, **options)
    _randomize(elastic)
    x = _x(2, 5, H)
    names = KINDS + ("self_attention_norm", "feed_forward_norm", "adapter",
                     "self_attention_lora", "feed_forward_lora")  # fmt: skip
    for depth in elastic.depths:
        groups = plan.at_depth(depth)
        blocks = elastic.blocks_at(depth)
        assert len(blocks) == depth
        for kind in KINDS:  # each position calls its group's one instance
            instances = elastic._sublayer_groups(kind)
            assert [instances.index(getattr(b, kind)) for b in blocks] == list(groups[kind])
        plain = _stack(SharedEncoder, _plain_plan(plan, depth), **options)
        _copy_into_plain(elastic, plain, depth, names)
        np.testing.assert_allclose(elastic(x, depth=depth), plain(x), rtol=1e-5, atol=1e-5)
    # Running fewer depths changes the output: the depth argument is used.
    shallow, deep = (np.asarray(elastic(x, depth=d)) for d in (min(depths), max(depths)))
    assert np.abs(shallow - deep).max() > 1e-3


def test_elastic_depth_stores_only_the_state_of_the_extra_positions():
    plan = SharingPlan(4, 2, strategy="sequence")
    plain = _stack(SharedEncoder, plan, adapter_dim=4, use_depth_embedding=True)
    elastic = _stack(SharedEncoder, plan, depths=(2, 6), adapter_dim=4, use_depth_embedding=True)
    size = lambda layer: sum(int(np.prod(v.shape)) for v in layer.weights)  # noqa: E731
    per_position = 2 * (2 * H) + (H * 4 + 4 + 4 * H + H) + H  # two norms, adapter, embedding row
    assert size(elastic) == size(plain) + 2 * per_position
    assert len(elastic.extra_blocks) == 2 and elastic.depth_views
    owned = {id(v) for b in [*elastic.blocks, *elastic.extra_blocks] for v in b.weights}
    for view in elastic.depth_views:  # views call other blocks' variables only
        assert view.weights and all(id(v) in owned for v in view.weights)
    assert elastic.blocks_at(4) == list(elastic.blocks)  # the plan's depth: the plan's blocks


def test_bad_depths_name_what_they_received():
    with pytest.raises(ValueError, match="depth=3"):
        SharedEncoder(SharingPlan(4, 2, strategy="sequence"), HEADS, F, depths=[2, 3])
    with pytest.raises(ValueError, match="depths=4"):
        SharedEncoder(SharingPlan(4, 2), HEADS, F, depths=4)
    with pytest.raises(ValueError, match="depth=5"):  # unshared layers exist for 4 depths
        SharedEncoder(SharingPlan(4, strategy="none"), HEADS, F, depths=[5])
    encoder = _stack(SharedEncoder, SharingPlan(4, 2), depths=[2])
    assert encoder.depths == (2, 4)
    with pytest.raises(ValueError, match=r"depths \[2, 4\].*depth=3"):
        encoder(_x(1, 3, H), depth=3)


def test_elastic_stack_round_trips_through_keras_files(tmp_path):
    plan = SharingPlan(4, 2, strategy="cycle_rev")
    inputs = keras.Input((None, H))
    encoder = SharedEncoder(plan, HEADS, F, depths=[2, 6], adapter_dim=4, name="encoder")
    model = keras.Model(inputs, encoder(inputs))
    _randomize(encoder)
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras").get_layer("encoder")
    assert restored.depths == (2, 4, 6)
    x = _x(2, 3, H)
    for depth in (2, 4, 6):
        np.testing.assert_array_equal(restored(x, depth=depth), encoder(x, depth=depth))
    assert SharedEncoder.from_config(encoder.get_config()).depths == (2, 4, 6)


@pytest.mark.parametrize("kv_sharing", ["none", "group"])
@pytest.mark.parametrize("plan, depths", ELASTIC[:3], ids=lambda p: str(p))
def test_elastic_decoder_caches_equal_its_full_pass(plan, depths, kv_sharing):
    decoder = _stack(SharedDecoder, plan, depths=depths, kv_sharing=kv_sharing, adapter_dim=4,
                     lora_rank=2)  # fmt: skip
    _randomize(decoder)
    y, memory = _x(2, 4, H), _x(2, 3, H, seed=2)
    for depth in decoder.depths:
        full = np.asarray(decoder(y, memory, depth=depth))
        cache = decoder.init_cache(2, 4)
        cross = decoder.compute_cross_attention_cache(memory, depth=depth)
        assert len(cross) == depth
        for index in range(4):
            step, cache = decoder(y[:, index : index + 1], self_attention_cache=cache,
                                  cache_update_index=index, cross_attention_cache=cross,
                                  depth=depth)  # fmt: skip
            np.testing.assert_allclose(step[:, 0], full[:, index], rtol=1e-4, atol=1e-4)
        plain = _stack(SharedDecoder, _plain_plan(plan, depth), kv_sharing=kv_sharing,
                       adapter_dim=4, lora_rank=2)  # fmt: skip
        names = KINDS + ("cross_attention", "self_attention_norm", "cross_attention_norm",
                         "feed_forward_norm", "adapter", "self_attention_lora",
                         "cross_attention_lora", "feed_forward_lora")  # fmt: skip
        _copy_into_plain(decoder, plain, depth, names)
        np.testing.assert_allclose(full, plain(y, memory), rtol=1e-5, atol=1e-5)


def test_one_pass_exits_at_each_depth_of_a_cycle_plan():
    encoder = _stack(SharedEncoder, SharingPlan(4, 2, strategy="cycle"), depths=(2, 3, 6))
    _randomize(encoder)
    x = _x(2, 5, H)
    exits = encoder(x, exit_depths=[2, 3, 6])
    assert len(exits) == 3
    for depth, output in zip((2, 3, 6), exits, strict=True):
        np.testing.assert_allclose(output, encoder(x, depth=depth), rtol=1e-5, atol=1e-5)
    sequence = _stack(SharedEncoder, SharingPlan(4, 2, strategy="sequence"), depths=(2,))
    with pytest.raises(ValueError, match=r"Running 2 depths is not the start.*\[2, 4\]"):
        sequence(x, exit_depths=[2, 4])

import keras
import numpy as np
import pytest
import tensorflow as tf

from sharedformer_tf import SharedEncoder, SharingPlan, parameter_report
from sharedformer_tf.sharing import SCOPES

H, HEADS, F = 8, 2, 16
ATTENTION = 4 * (H * H + H)
FFN = H * F + F + F * H + H
NORM = 2 * H

PLANS = [
    SharingPlan(6, strategy="none"),
    SharingPlan(6, strategy="all"),
    SharingPlan(6, 3, strategy="sequence"),
    SharingPlan(6, 2, strategy="cycle"),
    SharingPlan(6, 3, strategy="cycle_rev"),
    SharingPlan(6, strategy="sandwich"),
]


def _encoder(plan, **kwargs):
    encoder = SharedEncoder(plan, num_heads=HEADS, intermediate_dim=F, **kwargs)
    encoder.build((None, None, H))
    return encoder


def _model(encoder):
    inputs = keras.Input((None, H))
    return keras.Model(inputs, encoder(inputs))


def _x(*shape):
    return np.random.rand(*shape).astype("float32")


def closed_form(plan, per_depth_norms=True, norm_first=True, depth_embedding=False):
    m_attention = len(set(plan.attention_assignments))
    m_ffn = len(set(plan.feed_forward_assignments))
    if per_depth_norms:
        norms = 2 * plan.num_layers
    else:
        norms = m_attention + m_ffn
    count = m_attention * ATTENTION + m_ffn * FFN + norms * NORM
    count += NORM if norm_first else 0
    count += plan.num_layers * H if depth_embedding else 0
    return count


@pytest.mark.parametrize("plan", PLANS, ids=str)
@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("per_depth_norms", [True, False])
def test_unique_params_match_closed_form(plan, scope, per_depth_norms):
    plan = SharingPlan(plan.num_layers, plan.num_groups, plan.strategy, scope)
    encoder = _encoder(plan, per_depth_norms=per_depth_norms)
    model = _model(encoder)
    expected = closed_form(plan, per_depth_norms)
    assert model.count_params() == expected
    assert parameter_report(model)["unique_params"] == expected


@pytest.mark.parametrize("plan", PLANS, ids=str)
def test_the_depths_of_a_group_call_one_instance(plan):
    """(Stored scalars against the closed form: `test_unique_params_match_closed_form`.)"""
    encoder = _encoder(plan)
    _model(encoder)
    groups = encoder.self_attention_layers
    assert len(groups) == plan.num_groups
    for group, layer in enumerate(groups):
        depths = plan.depths_of(group)
        assert all(encoder.blocks[d].self_attention is layer for d in depths)
    # Different groups are different instances with different weights.
    kernels = [layer.query_dense.kernel.numpy() for layer in groups]
    for i in range(len(kernels)):
        for j in range(i + 1, len(kernels)):
            assert not np.allclose(kernels[i], kernels[j])


@pytest.mark.parametrize("per_depth_norms", [True, False])
def test_feed_forward_groups_apart_from_attention_groups(per_depth_norms):
    plan = SharingPlan(6, 3, "cycle_rev", num_groups_ffn=2)
    encoder = _encoder(plan, per_depth_norms=per_depth_norms)
    assert len(encoder.self_attention_layers) == 3 and len(encoder.feed_forward_layers) == 2
    for depth, group in enumerate((0, 1, 0, 1, 1, 0)):
        assert encoder.blocks[depth].feed_forward is encoder.feed_forward_layers[group]
    assert encoder.blocks[2].self_attention is not encoder.blocks[0].self_attention
    expected = closed_form(plan, per_depth_norms)
    assert (
        _model(encoder).count_params()
        == expected
        == 3 * ATTENTION + 2 * FFN + (12 if per_depth_norms else 5) * NORM + NORM
    )
    rows = [r for r in parameter_report(encoder)["groups"] if r["sublayer"] == "feed_forward"]
    assert [r["depths"] for r in rows] == [[0, 2, 5], [1, 3, 4]]


@pytest.mark.parametrize("depth_embedding", [False, True])
def test_all_shared_stays_constant_as_depth_grows(depth_embedding):
    counts = []
    for n in range(1, 7):
        encoder = _encoder(SharingPlan(n, strategy="all"), use_depth_embedding=depth_embedding)
        per_depth = n * (2 * NORM + (H if depth_embedding else 0))
        counts.append(_model(encoder).count_params() - per_depth)
    assert len(set(counts)) == 1, counts
    assert counts[0] == ATTENTION + FFN + NORM


@pytest.mark.parametrize("plan", PLANS, ids=str)
@pytest.mark.parametrize("scope", SCOPES)
def test_effective_params_equal_the_unshared_model(plan, scope):
    plan = SharingPlan(plan.num_layers, plan.num_groups, plan.strategy, scope)
    shared = parameter_report(_model(_encoder(plan)))
    unshared = parameter_report(_model(_encoder(SharingPlan(6, strategy="none"))))
    assert shared["effective_params"] == unshared["unique_params"]
    assert shared["unique_params"] <= shared["effective_params"]


def test_gradient_of_shared_layer_sums_every_depth():
    """The gradient of a weight shared by all depths equals the sum of the
    gradients the same weights get at each depth of an unshared copy."""
    shared = _encoder(SharingPlan(3, strategy="all"))
    unshared = _encoder(SharingPlan(3, strategy="none"))
    for depth in range(3):
        source, target = shared.blocks[depth], unshared.blocks[depth]
        for name in ("self_attention", "feed_forward", "self_attention_norm", "feed_forward_norm"):
            getattr(target, name).set_weights(getattr(source, name).get_weights())
    unshared.output_norm.set_weights(shared.output_norm.get_weights())
    x = tf.constant(_x(2, 4, H))
    np.testing.assert_allclose(shared(x), unshared(x), rtol=1e-5, atol=1e-5)

    def gradients(encoder, variables):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(encoder(x) ** 2)
        return tape.gradient(loss, variables)

    shared_kernel = shared.blocks[0].self_attention.value_dense.kernel
    (shared_grad,) = gradients(shared, [shared_kernel])
    per_depth = gradients(
        unshared, [unshared.blocks[d].self_attention.value_dense.kernel for d in range(3)]
    )
    for grad in per_depth:
        assert float(tf.reduce_max(tf.abs(grad))) > 1e-6
    np.testing.assert_allclose(shared_grad, tf.add_n(per_depth), rtol=1e-4, atol=1e-6)


def test_training_step_updates_shared_layers():
    encoder = _encoder(SharingPlan(4, 2, strategy="cycle"))
    model = _model(encoder)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.fit(_x(8, 5, H), _x(8, 5, H), epochs=1, batch_size=8, verbose=0)
    for old, new in zip(before, model.trainable_weights, strict=True):
        if new.path.endswith("key/bias"):
            # Softmax is invariant to a key bias: its gradient is zero.
            continue
        assert not np.allclose(old, new.numpy()), new.path


def test_padding_mask_hides_padded_tokens():
    encoder = _encoder(SharingPlan(2, strategy="all"))
    x = _x(1, 4, H)
    changed = x.copy()
    changed[:, 3] = 5.0
    mask = np.array([[True, True, True, False]])
    a = encoder(x, padding_mask=mask)
    b = encoder(changed, padding_mask=mask)
    np.testing.assert_allclose(a[:, :3], b[:, :3], rtol=1e-5, atol=1e-6)


def test_depth_embedding_changes_each_depth():
    encoder = _encoder(SharingPlan(3, strategy="all"), use_depth_embedding=True)
    assert encoder.depth_embeddings.shape == (3, H)
    x = _x(1, 2, H)
    before = encoder(x)
    encoder.depth_embeddings.assign(encoder.depth_embeddings + 1.0)
    assert not np.allclose(before, encoder(x))


def test_seeded_initializer_is_deterministic_and_distinct_per_group():
    def build():
        return _encoder(
            SharingPlan(2, strategy="none"),
            kernel_initializer=keras.initializers.GlorotUniform(seed=7),
        )

    a, b = build(), build()
    kernel = lambda e, d: e.blocks[d].self_attention.query_dense.kernel.numpy()  # noqa: E731
    np.testing.assert_array_equal(kernel(a, 0), kernel(b, 0))
    assert not np.allclose(kernel(a, 0), kernel(a, 1))


@pytest.mark.parametrize("norm_first", [True, False])
def test_config_round_trip_gives_identical_outputs(norm_first):
    encoder = _encoder(
        SharingPlan(4, 2, strategy="cycle_rev", scope="attention"),
        norm_first=norm_first,
        per_depth_norms=False,
        use_depth_embedding=True,
        dropout=0.1,
    )
    config = encoder.get_config()
    assert config["plan"] == {
        "num_layers": 4,
        "num_groups": 2,
        "strategy": "cycle_rev",
        "scope": "attention",
        "num_groups_ffn": None,
    }
    restored = SharedEncoder.from_config(config)
    restored.build((None, None, H))
    restored.set_weights(encoder.get_weights())
    x = _x(2, 3, H)
    np.testing.assert_array_equal(restored(x), encoder(x))


def test_invalid_arguments():
    with pytest.raises(ValueError, match="num_heads=0"):
        SharedEncoder(SharingPlan(2, strategy="all"), num_heads=0, intermediate_dim=4)
    with pytest.raises(TypeError, match="Received: plan='all'"):
        SharedEncoder("all", num_heads=2, intermediate_dim=4)
    with pytest.raises(ValueError, match="hidden_dim=9, num_heads=2"):
        _encoder(SharingPlan(2, strategy="all")).build((None, None, 9))


def test_adapters_give_every_depth_its_own_weights():
    plan = SharingPlan(6, strategy="all")
    encoder = _encoder(plan, adapter_dim=4)
    adapter = H * 4 + 4 + 4 * H + H
    assert _model(encoder).count_params() == closed_form(plan) + 6 * adapter
    adapters = [block.adapter for block in encoder.blocks]
    assert len({id(a) for a in adapters}) == 6
    assert len({id(block.feed_forward) for block in encoder.blocks}) == 1
    report = parameter_report(encoder)
    assert report["unique_params"] == closed_form(plan) + 6 * adapter
    assert report["effective_params"] == closed_form(SharingPlan(6, strategy="none")) + 6 * adapter

    # Only the adapters differ between depths; they start at zero, so the
    # stack starts as the fully shared one and learns per-depth corrections.
    plain = _encoder(plan)
    owned = {id(v) for a in adapters for v in a.weights}
    plain.set_weights(
        [
            w
            for v, w in zip(encoder.weights, encoder.get_weights(), strict=True)
            if id(v) not in owned
        ]
    )
    x = _x(2, 3, H)
    np.testing.assert_allclose(encoder(x), plain(x), rtol=1e-6)
    restored = SharedEncoder.from_config(encoder.get_config())
    assert restored.adapter_dim == 4
    with pytest.raises(ValueError, match="adapter_dim=0"):
        SharedEncoder(plan, num_heads=HEADS, intermediate_dim=F, adapter_dim=0)

import keras
import numpy as np
import pytest

from sharedformer_tf import SharingPlan, parameter_report
from sharedformer_tf.convert import to_shared
from sharedformer_tf.models import (
    AudioClassifier,
    Seq2SeqTransformer,
    SharedCausalLM,
    ViTClassifier,
    audio_config,
    causal_lm_config,
    seq2seq_config,
    vit_config,
)

SIZE = dict(hidden_dim=8, num_heads=2, intermediate_dim=16)
NONE = SharingPlan(4, strategy="none")


def _randomize(model, seed=0):
    """Weights far from their initial values (norms and adapters too)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.weights])
    return model


def _families():
    rng = np.random.default_rng(1)
    ids = rng.integers(3, 20, (2, 6)).astype("int32")
    return {
        "seq2seq": (
            Seq2SeqTransformer(seq2seq_config.tiny(vocabulary_size=20, encoder_plan=NONE,
                                                   decoder_plan=NONE, dropout=0.0, **SIZE)),
            {"encoder_token_ids": ids, "decoder_token_ids": ids},
        ),
        "causal_lm": (
            SharedCausalLM(causal_lm_config.tiny(vocabulary_size=20, plan=NONE, **SIZE)), ids),
        "vit": (
            ViTClassifier(vit_config.tiny(plan=NONE, stem_filters=0, patch_size=7, **SIZE)),
            rng.integers(0, 255, (2, 28, 28, 1)).astype("uint8"),
        ),
        "audio": (
            AudioClassifier(audio_config.tiny(plan=NONE, num_classes=3, **SIZE)),
            rng.normal(0, 0.1, (2, 16000)).astype("float32"),
        ),
    }  # fmt: skip


FAMILIES = _families()


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("init", ["stepwise", "average", "lower"])
def test_an_unshared_plan_reproduces_the_source_exactly(family, init):
    model, x = FAMILIES[family]
    _randomize(model)
    converted = to_shared(model, NONE, init=init)
    assert type(converted) is type(model) and converted is not model
    np.testing.assert_allclose(converted(x), model(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "init, attention, feed_forward",
    [
        # cycle over 2 groups: attention ABAB; feed-forward (3 groups) ABCA
        ("stepwise", [[0], [2]], [[0], [1], [2]]),
        ("lower", [[0], [1]], [[0], [1], [2]]),
        ("average", [[0, 2], [1, 3]], [[0, 3], [1], [2]]),
    ],
)
def test_each_init_takes_the_documented_source_layers(init, attention, feed_forward):
    model, x = FAMILIES["causal_lm"]
    _randomize(model, seed=2)
    plan = SharingPlan(4, 2, strategy="cycle", num_groups_ffn=3)
    converted = to_shared(model, plan, init=init)
    source, target = model.decoder.blocks, converted.decoder
    for name, groups, layers in (
        ("self_attention", attention, target.self_attention_layers),
        ("feed_forward", feed_forward, target.feed_forward_layers),
    ):
        assert len(layers) == len(groups)
        for layer, depths in zip(layers, groups, strict=True):
            want = [np.mean([getattr(source[d], name).get_weights()[i] for d in depths], axis=0)
                    for i in range(len(layer.get_weights()))]  # fmt: skip
            for got, expected in zip(layer.get_weights(), want, strict=True):
                np.testing.assert_allclose(got, expected, rtol=1e-6)
    # A depth's own norms come from the same depth of the source.
    for d in range(4):
        np.testing.assert_array_equal(target.blocks[d].feed_forward_norm.get_weights()[0],
                                      source[d].feed_forward_norm.get_weights()[0])  # fmt: skip
    np.testing.assert_array_equal(converted.token_embedding.get_weights()[0],
                                  model.token_embedding.get_weights()[0])  # fmt: skip
    assert converted(x).shape == model(x).shape
    stored = parameter_report(converted)["unique_params"]
    assert stored < parameter_report(model)["unique_params"]


@pytest.mark.parametrize("init, depths", [("stepwise", [0]), ("average", [0, 1, 2, 3])])
def test_one_cross_attention_and_group_norms_take_the_documented_source_layers(init, depths):
    model, x = FAMILIES["seq2seq"]
    _randomize(model, seed=3)
    plan = SharingPlan(4, 2, strategy="cycle_rev")  # ABBA
    decoder_plan = plan.with_assignments(cross_attention=(0, 0, 0, 0))
    converted = to_shared(model, plan, init=init, decoder_plan=decoder_plan,
                          per_depth_norms=False)  # fmt: skip
    source, target = model.decoder.blocks, converted.decoder.blocks
    assert len({id(block.cross_attention) for block in target}) == 1
    for name in ("cross_attention", "cross_attention_norm"):
        want = [np.mean([getattr(source[d], name).get_weights()[i] for d in depths], axis=0)
                for i in range(len(getattr(source[0], name).get_weights()))]  # fmt: skip
        for got, expected in zip(getattr(target[3], name).get_weights(), want, strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-6)
    # Group B (depths 1 and 2): its norms are shared and taken like its attention.
    assert target[1].self_attention_norm is target[2].self_attention_norm
    assert target[0].self_attention_norm is not target[1].self_attention_norm
    picked = [2] if init == "stepwise" else [1, 2]
    np.testing.assert_allclose(
        target[1].self_attention_norm.get_weights()[0],
        np.mean([source[d].self_attention_norm.get_weights()[0] for d in picked], axis=0),
        rtol=1e-6,
    )
    assert not converted.config.per_depth_norms
    kept = to_shared(model, plan, init=init)
    saved = parameter_report(kept)["unique_params"] - parameter_report(converted)["unique_params"]
    # One of the plan's 2 cross-attentions (H=8: 4 kernels 8x8 and biases);
    # 11 of the 20 per-depth norms (gamma and beta): 2 depths' of each stack
    # (2 norms per encoder block, 3 per decoder block) and 3 cross-attention norms.
    assert saved == 4 * (8 * 8 + 8) + (2 * 2 + 2 * 3 + 1) * 2 * 8
    assert converted(x).shape == model(x).shape


def test_adapters_start_at_the_plain_shared_model_and_round_trip(tmp_path):
    model, x = FAMILIES["seq2seq"]
    _randomize(model, seed=3)
    plan = SharingPlan(4, 2, strategy="cycle_rev")
    plain = to_shared(model, plan)
    relaxed = to_shared(model, plan, relax="adapter", rank=4)
    assert relaxed.config.adapter_dim == 4 and relaxed.count_params() > plain.count_params()
    np.testing.assert_allclose(relaxed(x), plain(x), rtol=1e-5, atol=1e-5)
    relaxed.save(tmp_path / "converted.keras")
    restored = keras.saving.load_model(tmp_path / "converted.keras", safe_mode=True)
    np.testing.assert_array_equal(restored(x), relaxed(x))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_full_rank_lora_reproduces_the_source(family):
    model, x = FAMILIES[family]
    _randomize(model, seed=5)
    plan = SharingPlan(4, 1, strategy="cycle")  # one group: every depth differs from it
    plain = to_shared(model, plan, init="average")
    converted = to_shared(model, plan, init="average", relax="lora", rank=SIZE["hidden_dim"])
    assert converted.config.lora_rank == SIZE["hidden_dim"]
    np.testing.assert_allclose(converted(x), model(x), rtol=1e-4, atol=1e-4)
    assert np.max(np.abs(np.asarray(plain(x)) - np.asarray(model(x)))) > 1e-2


def test_lora_at_rank_0_is_the_plain_shared_model():
    model, x = FAMILIES["causal_lm"]
    _randomize(model, seed=6)
    plan = SharingPlan(4, 2, strategy="cycle")
    plain = to_shared(model, plan, relax=None)
    zero = to_shared(model, plan, relax="lora", rank=0)
    assert zero.config.lora_rank is None and zero.count_params() == plain.count_params()
    np.testing.assert_array_equal(zero(x), plain(x))


def test_low_rank_deltas_are_the_truncated_svd_of_the_difference():
    model, _ = FAMILIES["causal_lm"]
    _randomize(model, seed=6)
    converted = to_shared(model, SharingPlan(4, 2, strategy="cycle"), relax="lora", rank=3)
    block, source = converted.decoder.blocks[3], model.decoder.blocks[3]  # group B, not its owner
    a, b, bias = (np.asarray(w) for w in block.feed_forward_lora.factors["output_dense"])
    shared, original = block.feed_forward.output_dense, source.feed_forward.output_dense
    difference = np.asarray(original.kernel) - np.asarray(shared.kernel)
    singular = np.linalg.svd(difference, compute_uv=False)
    error = np.linalg.norm(np.asarray(shared.kernel) + a @ b - np.asarray(original.kernel))
    np.testing.assert_allclose(error, np.sqrt(np.sum(singular[3:] ** 2)), rtol=1e-4)
    np.testing.assert_allclose(bias, np.asarray(original.bias) - np.asarray(shared.bias),
                               atol=1e-6)  # fmt: skip


def test_lora_parameters_are_counted_and_the_model_round_trips(tmp_path):
    model, x = FAMILIES["seq2seq"]
    _randomize(model, seed=7)
    plan, rank, hidden, ffn = SharingPlan(4, 2, strategy="cycle_rev"), 2, 8, 16
    plain = to_shared(model, plan)
    converted = to_shared(model, plan, relax="lora", rank=rank)
    # Per depth: 4 attention kernels of (8, 8) per attention, 2 feed-forward kernels.
    attention = 4 * (rank * (hidden + hidden) + hidden)
    feed_forward = rank * (hidden + ffn) + ffn + rank * (ffn + hidden) + hidden
    per_depth = {"encoder": attention + feed_forward, "decoder": 2 * attention + feed_forward}
    expected = 4 * (per_depth["encoder"] + per_depth["decoder"])
    report = parameter_report(converted)
    assert report["unique_params"] - parameter_report(plain)["unique_params"] == expected
    assert report["relaxation_params"] == expected and "LoRA deltas: " in str(report)
    assert parameter_report(plain)["relaxation_params"] == 0
    converted.save(tmp_path / "lora.keras")
    restored = keras.saving.load_model(tmp_path / "lora.keras", safe_mode=True)
    np.testing.assert_array_equal(restored(x), converted(x))


def test_elastic_sources_keep_their_extra_positions():
    model = SharedCausalLM(causal_lm_config.tiny(vocabulary_size=20, plan=NONE, depths=(2,),
                                                 **SIZE))  # fmt: skip
    _randomize(model, seed=4)
    converted = to_shared(model, SharingPlan(4, 2, strategy="cycle"), init="average")
    assert converted.depths == (2, 4)
    ids = FAMILIES["causal_lm"][1]
    assert converted.at_depth(2)(ids).shape == (2, 6, 20)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: to_shared(keras.Sequential([keras.layers.Dense(2)]), NONE), "Sequential"),
        (lambda m: to_shared(m, SharingPlan(6, 2)), "keeps the source's 4 depths"),
        (lambda m: to_shared(m, NONE, init="middle"), "init='middle'"),
        (lambda m: to_shared(m, NONE, relax="lowrank", rank=4), "relax='lowrank'"),
        (lambda m: to_shared(m, NONE, rank=4), "rank=4"),
        (lambda m: to_shared(m, NONE, relax="lora", rank=-1), "rank=-1"),
        (lambda m: to_shared(m, NONE, relax="adapter", rank=0), "rank=0"),
        (lambda m: to_shared(m, NONE, per_depth_norms=1), "per_depth_norms=1"),
        (
            lambda m: to_shared(m, NONE, relax="lora", rank=2, per_depth_norms=False),
            "per_depth_norms=False",
        ),
        (lambda m: to_shared(to_shared(m, NONE, relax="lora", rank=2), NONE), "lora_rank=2"),
    ],
)
def test_conversion_errors_name_what_was_received(call, message):
    model, _ = FAMILIES["causal_lm"]
    with pytest.raises(ValueError, match=message):
        call(model)


def test_classifiers_are_relaxed_by_lora_not_adapters():
    model, _ = FAMILIES["vit"]
    with pytest.raises(ValueError, match="ViTClassifier has no adapters"):
        to_shared(model, SharingPlan(4, 2), relax="adapter", rank=4)


def test_a_tied_encoder_decoder_is_refused():
    model = Seq2SeqTransformer(seq2seq_config.tiny(vocabulary_size=20, share_encoder_decoder=True,
                                                   **SIZE))  # fmt: skip
    with pytest.raises(ValueError, match="share_encoder_decoder=True"):
        to_shared(model, SharingPlan(4, 2))

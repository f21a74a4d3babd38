import os

import keras
import keras_hub
import numpy as np
import pytest
from keras import ops

from sharedformer_tf import SharingPlan, parameter_report
from sharedformer_tf.models import Seq2SeqConfig, Seq2SeqTransformer, seq2seq_config
from tests.numpy_reference import kl_divergence, log_softmax

PAD, BOS, EOS = 0, 1, 2


def _config(**changes):
    base = dict(
        vocabulary_size=10,
        hidden_dim=8,
        num_heads=2,
        intermediate_dim=16,
        encoder_plan=SharingPlan(4, 2, strategy="cycle_rev"),
        decoder_plan=SharingPlan(4, 2, strategy="cycle_rev"),
        dropout=0.0,
        max_length=16,
    )
    base.update(changes)
    return seq2seq_config.tiny(**base)


VARIANTS = {
    "shared": {},
    "tied_encoder_decoder": dict(share_encoder_decoder=True),
    "factorized_untied_learned": dict(
        embedding_dim=4,
        tie_embeddings=False,
        tie_output=False,
        position_encoding="learned",
        use_depth_embedding=True,
        per_depth_norms=False,
    ),
    "one_cross_attention": dict(
        share_encoder_decoder=True, cross_attention_plan=SharingPlan(4, strategy="all")
    ),
    "relaxed_by_adapters": dict(share_encoder_decoder=True, adapter_dim=4),
    "relaxed_by_lora": dict(lora_rank=2, cross_attention_plan=SharingPlan(4, strategy="all")),
    "kv_shared_by_group": dict(kv_sharing="group", share_encoder_decoder=True),
    "post_ln_attention_scope": dict(
        norm_first=False,
        encoder_plan=SharingPlan(4, 2, strategy="cycle", scope="attention"),
        decoder_plan=SharingPlan(3, strategy="all", scope="ffn"),
    ),
}


def _ids():
    source = np.array([[5, 6, 7, 8, EOS], [9, 4, EOS, PAD, PAD]], "int32")
    target = np.array([[BOS, 3, 4, 5], [BOS, 6, 7, PAD]], "int32")
    return source, target


def _inputs(source, target):
    return {"encoder_token_ids": source, "decoder_token_ids": target}


def _randomize_adapters(model):
    """Adapters and LoRA deltas start at zero; give them weights so tests see them."""
    rng = np.random.default_rng(0)
    for stack in (model.encoder, model.decoder):
        for block in stack.blocks:
            if block.adapter_dim is not None:
                kernel = block.adapter.output_dense.kernel
                kernel.assign(rng.normal(0, 0.5, kernel.shape).astype("float32"))
            if block.lora_rank is not None:
                for variable in block.weights:
                    if "_lora/" in variable.path:
                        variable.assign(rng.normal(0, 0.3, variable.shape).astype("float32"))


@pytest.fixture(params=sorted(VARIANTS))
def model(request):
    model = Seq2SeqTransformer(_config(**VARIANTS[request.param]))
    _randomize_adapters(model)
    return model


def test_forward_shape_and_dtype(model):
    logits = model(_inputs(*_ids()))
    assert logits.shape == (2, 4, 10)
    assert logits.dtype == "float32"


def test_cached_decoding_equals_full_forward(model):
    source, target = _ids()
    full = model(_inputs(source, target))
    for per_slot in (False, True):  # the stacked cache and XLA loops' per-slot pairs
        cache = model.init_cache(source, max_length=target.shape[1], per_slot=per_slot)
        steps = []
        for i in range(target.shape[1]):
            logits, hidden, cache = model.call_decoder_with_cache(target[:, i : i + 1], cache, i)
            assert hidden.shape == (2, 1, 8)
            steps.append(logits)
        steps = ops.concatenate(steps, axis=1)
        # Padded target positions attend differently in the full pass;
        # compare the real positions.
        real = target != PAD
        np.testing.assert_allclose(
            np.asarray(steps)[real], np.asarray(full)[real], rtol=1e-4, atol=1e-5
        )


def _greedy_without_cache(model, source, max_length):
    """Reference greedy decoding: a full forward pass per generated token."""
    target = np.full((source.shape[0], 1), BOS, "int32")
    for _ in range(max_length):
        logits = model(_inputs(source, target))
        next_ids = np.argmax(logits[:, -1], axis=-1).astype("int32")
        target = np.concatenate([target, next_ids[:, None]], axis=1)
    tokens = target[:, 1:]
    for row in tokens:
        hits = np.flatnonzero(row == EOS)
        if hits.size:
            row[hits[0] + 1 :] = PAD
    return tokens


def test_generate_equals_greedy_without_cache(model):
    source, _ = _ids()
    expected = _greedy_without_cache(model, source, 6)
    np.testing.assert_array_equal(model.generate(source, max_length=6), expected)
    np.testing.assert_array_equal(model.generate_step(source, 6), expected)


def test_kv_sharing_keeps_a_cache_slot_per_group_and_attends_to_the_owners_keys():
    plain = Seq2SeqTransformer(_config())
    shared = Seq2SeqTransformer(_config(kv_sharing="group"))
    source, target = _ids()
    plain(_inputs(source, target))
    shared(_inputs(source, target))
    # No weights of its own: the same variables, a different model.
    assert parameter_report(shared)["unique_params"] == parameter_report(plain)["unique_params"]
    shared.set_weights(plain.get_weights())
    self_plain = plain.init_cache(source, max_length=4)[0]
    self_shared = shared.init_cache(source, max_length=4)[0]
    assert self_plain.shape[1] == 4 and self_shared.shape[1] == 2  # cycle_rev ABBA: 2 groups
    # Depths 2 and 3 read the keys of depths 1 and 0, so later positions change.
    assert not np.allclose(shared(_inputs(source, target)), plain(_inputs(source, target)))


def test_beam_search_with_one_beam_equals_greedy():
    model = Seq2SeqTransformer(_config())
    source, _ = _ids()
    greedy = model.generate(source, max_length=6)
    beam = model.generate(source, max_length=6, sampler=keras_hub.samplers.BeamSampler(num_beams=1))
    np.testing.assert_array_equal(beam, greedy)
    wide = model.generate(source, max_length=6, sampler=keras_hub.samplers.BeamSampler(num_beams=3))
    assert wide.shape == (2, 6)


def test_generate_rejects_bad_arguments():
    model = Seq2SeqTransformer(_config())
    with pytest.raises(ValueError, match="max_length=0"):
        model.generate(np.ones((1, 3), "int32"), max_length=0)
    with pytest.raises(ValueError, match=r"shape=\(3,\)"):
        model.generate(np.ones((3,), "int32"), max_length=2)


def test_empty_source_generates_without_nan():
    model = Seq2SeqTransformer(_config())
    empty = np.zeros((2, 4), "int32")
    logits = model(_inputs(empty, np.full((2, 1), BOS, "int32")))
    assert np.all(np.isfinite(logits))
    assert model.generate(empty, max_length=3).shape == (2, 3)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_keras_file_round_trip_in_safe_mode(tmp_path, variant):
    model = Seq2SeqTransformer(_config(**VARIANTS[variant]))
    _randomize_adapters(model)
    source, target = _ids()
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    restored = keras.models.load_model(path, safe_mode=True)
    assert isinstance(restored, Seq2SeqTransformer)
    assert restored.config == model.config
    assert restored.count_params() == model.count_params()
    np.testing.assert_array_equal(restored(_inputs(source, target)), model(_inputs(source, target)))
    np.testing.assert_array_equal(restored.generate(source, 5), model.generate(source, 5))
    if model.config.share_encoder_decoder:
        assert (
            restored.decoder.blocks[0].self_attention is restored.encoder.blocks[0].self_attention
        )


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_get_config_from_config_round_trip(variant):
    model = Seq2SeqTransformer(_config(**VARIANTS[variant]))
    _randomize_adapters(model)
    config = model.get_config()
    restored = Seq2SeqTransformer.from_config(config)
    assert restored.get_config() == config
    restored.set_weights(model.get_weights())
    source, target = _ids()
    np.testing.assert_array_equal(restored(_inputs(source, target)), model(_inputs(source, target)))


def _copy_task(n, length=5, vocabulary=10, seed=0):
    rng = np.random.default_rng(seed)
    source = np.zeros((n, length), "int32")
    decoder_in = np.zeros((n, length + 1), "int32")
    labels = np.zeros((n, length + 1), "int32")
    for i, size in enumerate(rng.integers(2, length + 1, n)):
        tokens = rng.integers(3, vocabulary, size)
        reverse = tokens[::-1]
        source[i, :size] = tokens
        decoder_in[i, 0], decoder_in[i, 1 : size + 1] = BOS, reverse
        labels[i, :size], labels[i, size] = reverse, EOS
    return _inputs(source, decoder_in), labels


def _compile(model, **kwargs):
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD),
        **kwargs,
    )


def test_fit_learns_to_reverse_sequences():
    """An all-shared 2+2 model learns to reverse token sequences: at least
    95% of held-out sequences decoded exactly (greedy, with the cache).
    Sequences end at different steps, so exact match also checks that
    positions after EOS are padded."""
    config = _config(
        vocabulary_size=12,
        hidden_dim=32,
        intermediate_dim=64,
        encoder_plan=SharingPlan(2, strategy="all"),
        decoder_plan=SharingPlan(2, strategy="all"),
    )
    model = Seq2SeqTransformer(config)
    _compile(model)
    x, y = _copy_task(4000, vocabulary=12)
    history = model.fit(x, y, epochs=8, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 10
    test_x, test_y = _copy_task(200, vocabulary=12, seed=1)
    predicted = model.generate(test_x["encoder_token_ids"], max_length=6).numpy()
    exact = np.mean(np.all(predicted == test_y, axis=1))
    assert exact >= 0.95, exact


def test_jit_compiled_training_runs_on_cpu():
    model = Seq2SeqTransformer(_config())
    _compile(model, jit_compile=True)
    x, y = _copy_task(64)
    history = model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    assert history.history["loss"][1] < history.history["loss"][0]


def test_mixed_bfloat16_trains_and_decodes():
    model = Seq2SeqTransformer(_config(), dtype="mixed_bfloat16")
    assert model.encoder.blocks[0].self_attention.compute_dtype == "bfloat16"
    assert all(w.dtype == "float32" for w in model.weights)
    _compile(model)
    x, y = _copy_task(64)
    history = model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model(x).dtype == "float32"
    assert model.generate(x["encoder_token_ids"], max_length=3).shape == (64, 3)


def test_global_mixed_precision_policy_is_followed():
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = Seq2SeqTransformer(_config())
    assert model.decoder.blocks[1].feed_forward.compute_dtype == "bfloat16"
    assert model(_inputs(*_ids())).dtype == "float32"


def test_shared_model_stores_fewer_parameters_than_unshared():
    shared = parameter_report(Seq2SeqTransformer(_config()))
    unshared_config = _config(
        encoder_plan=SharingPlan(4, strategy="none"), decoder_plan=SharingPlan(4, strategy="none")
    )
    unshared = parameter_report(Seq2SeqTransformer(unshared_config))
    assert shared["effective_params"] == unshared["unique_params"]
    assert shared["unique_params"] < unshared["unique_params"]


def test_config_accepts_dict_and_rejects_unknown_fields():
    config = _config()
    assert Seq2SeqConfig.coerce(config.to_dict()) == config
    with pytest.raises(ValueError, match="hiden_dim"):
        Seq2SeqConfig.from_dict({**config.to_dict(), "hiden_dim": 3})


@pytest.mark.parametrize("variant", ["shared", "relaxed_by_adapters", "factorized_untied_learned"])
def test_elastic_depths_decode_with_the_cache_as_their_full_pass(variant):
    """At each depth: cached decoding equals that depth's full pass, and
    graph-compiled greedy generation equals greedy decoding without the
    cache; the plan's depth is the plain model."""
    model = Seq2SeqTransformer(_config(**VARIANTS[variant], depths=(2, 6)))
    _randomize_adapters(model)
    assert model.depths == (2, 4, 6)
    source, target = _ids()
    real = target != PAD
    outputs = {}
    for depth in model.depths:
        full = np.asarray(model.at_depth(depth)(_inputs(source, target)))
        cache, steps = model.init_cache(source, target.shape[1], depth), []
        for i in range(target.shape[1]):
            logits, _, cache = model.call_decoder_with_cache(target[:, i : i + 1], cache, i,
                                                             depth)  # fmt: skip
            steps.append(np.asarray(logits))
        np.testing.assert_allclose(np.concatenate(steps, axis=1)[real], full[real], rtol=1e-4,
                                   atol=1e-5)  # fmt: skip
        expected = _greedy_without_cache(model.at_depth(depth), source, 5)
        np.testing.assert_array_equal(model.generate(source, 5, depth=depth), expected)
        outputs[depth] = full
    np.testing.assert_array_equal(outputs[4], np.asarray(model(_inputs(source, target))))
    assert np.abs(outputs[2] - outputs[6]).max() > 1e-3
    with pytest.raises(ValueError, match="depth=3"):
        model.generate(source, 5, depth=3)
    with pytest.raises(ValueError, match="depth=3"):
        model.at_depth(3)


def test_elastic_config_needs_plans_it_can_run():
    with pytest.raises(ValueError, match="plans of equal depth"):
        _config(decoder_plan=SharingPlan(2, strategy="all"), depths=(3,))
    with pytest.raises(ValueError, match="depth=6"):  # one cross-attention per depth of 4
        _config(cross_attention_plan=SharingPlan(4, strategy="none"), depths=(6,))
    assert _config(cross_attention_plan=SharingPlan(4, strategy="all"), depths=(2,)).depths == (2,)
    with pytest.raises(ValueError, match="deepest_share"):
        _config(depths=(2,), deepest_share=1.5)


def test_per_token_early_exit_decodes_as_its_full_pass():
    """Cached decoding with exits (one token a step, and graph-compiled
    greedy generation) equals `exit_logits`, the teacher-forced pass with
    the same exits; a threshold of 0 is the plain model."""
    keras.utils.set_random_seed(5)
    model = Seq2SeqTransformer(_config(encoder_plan=SharingPlan(6, 2, strategy="cycle"),
                                       decoder_plan=SharingPlan(6, 2, strategy="cycle"),
                                       depths=(2, 4), use_depth_embedding=True))  # fmt: skip
    rng = np.random.default_rng(3)
    source = rng.integers(3, 10, (2, 6)).astype("int32")
    target = np.concatenate([np.full((2, 1), BOS), rng.integers(3, 10, (2, 7))], 1).astype("int32")
    inputs = _inputs(source, target)
    plain = np.asarray(model(inputs))
    logits, used = model.exit_logits(inputs, 0.0)
    np.testing.assert_allclose(logits, plain, rtol=1e-5, atol=1e-5)
    assert np.all(np.asarray(used) == 6)
    threshold = None
    for candidate in np.geomspace(0.01, 3.0, 40):
        used = np.asarray(model.exit_logits(inputs, float(candidate))[1])
        if 6 in used and len(set(used.ravel())) >= 2:
            threshold = float(candidate)
            break
    assert threshold is not None
    full, used = model.exit_logits(inputs, threshold)
    cache, steps = model.init_cache(source, target.shape[1]), []
    for i in range(target.shape[1]):
        step, _, cache = model.call_decoder_with_cache(target[:, i : i + 1], cache, i,
                                                       exit_threshold=threshold)  # fmt: skip
        steps.append(np.asarray(step))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-4, atol=1e-4)
    assert np.abs(np.asarray(full) - plain).max() > 1e-3
    # Greedy generation with exits continues with the exit pass's argmax.
    generated = np.asarray(model.generate(source, 5, exit_threshold=threshold))
    for i in range(5):
        prefix = np.concatenate([np.full((2, 1), BOS), generated[:, :i]], 1).astype("int32")
        want = np.asarray(model.exit_logits(_inputs(source, prefix), threshold)[0])[:, -1]
        live = np.all(generated[:, :i] != EOS, axis=1)  # rows still decoding
        np.testing.assert_array_equal(generated[live, i], want.argmax(-1)[live])


def test_elastic_translator_trains_each_depth_with_distillation_and_round_trips(tmp_path):
    """A step drawing depth 2 reports cross-entropy + w * KL(depth 4 ||
    depth 2) over the real target positions, computed here by hand; the
    model saves and loads with its depths."""
    keras.utils.set_random_seed(2)
    model = Seq2SeqTransformer(_config(depths=(2,), depth_distillation=0.5))
    x, y = _copy_task(4, seed=3)
    model.compile(keras.optimizers.SGD(0.0), keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=PAD))  # fmt: skip
    assert model.depths[model.training_depth_index()] == 2
    student = np.asarray(model.at_depth(2)(x), "float64")
    teacher = np.asarray(model.at_depth(4)(x), "float64")

    picked = np.take_along_axis(log_softmax(student), y[..., None], -1)[..., 0]
    cross_entropy = -(picked * (y != PAD)).sum() / (y != PAD).sum()
    kl = kl_divergence(teacher, student)
    real = x["decoder_token_ids"] != PAD
    loss = model.train_on_batch(x, y)
    assert loss == pytest.approx(cross_entropy + 0.5 * (kl * real).sum() / real.sum(), rel=1e-4)
    model.save(tmp_path / "translator.keras")
    restored = keras.saving.load_model(tmp_path / "translator.keras")
    assert restored.depths == (2, 4)
    for depth in (2, 4):
        np.testing.assert_array_equal(restored.at_depth(depth)(x), model.at_depth(depth)(x))

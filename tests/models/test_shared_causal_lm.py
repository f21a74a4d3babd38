import keras
import numpy as np
import pytest
import tensorflow as tf

from sharedformer_tf import SharingPlan, parameter_report
from sharedformer_tf.models import CausalLMConfig, SharedCausalLM, causal_lm_config
from tests.numpy_reference import kl_divergence, log_softmax

PAD, BOS, EOS = 0, 1, 2


def _config(**changes):
    base = dict(vocabulary_size=16, hidden_dim=16, num_heads=2, intermediate_dim=32,
                plan=SharingPlan(4, 2, strategy="cycle"), max_length=12)  # fmt: skip
    return CausalLMConfig(**{**base, **changes})


def _ids(batch=2, length=7, seed=0):
    return np.random.default_rng(seed).integers(3, 16, (batch, length)).astype("int32")


@pytest.mark.parametrize(
    "changes",
    [{}, {"plan": SharingPlan(4, 2, strategy="sequence"), "use_depth_embedding": True},
     {"plan": SharingPlan(4, strategy="all"), "embedding_dim": 8, "adapter_dim": 4},
     {"plan": SharingPlan(4, 2, strategy="cycle", scope="ffn"), "norm_first": False,
      "position_encoding": "sine"},
     {"kv_sharing": "group"},
     {"plan": SharingPlan(6, 3, strategy="cycle_rev"), "kv_sharing": "group", "adapter_dim": 4},
     {"plan": SharingPlan(4, strategy="all"), "kv_sharing": "group", "norm_first": False},
     {"plan": SharingPlan(5, 3, strategy="sandwich"), "kv_sharing": "group"},
     {"plan": SharingPlan(4, 2, strategy="cycle", scope="attention"), "kv_sharing": "group"},
     {"plan": SharingPlan(3, strategy="none")},
     {"plan": SharingPlan(6, 3, strategy="cycle_rev"), "kv_sharing": "group", "lora_rank": 2}],
    ids=["cycle", "sequence_depth_embedding", "all_factorized_adapters", "ffn_post_ln_sine",
         "cycle_kv_group", "cycle_rev_kv_group_adapters", "all_kv_group_post_ln",
         "sandwich_kv_group", "attention_scope_kv_group", "none", "cycle_rev_kv_group_lora"],
)  # fmt: skip
def test_cached_decoding_equals_the_full_forward_pass(changes):
    model = SharedCausalLM(_config(**changes))
    rng = np.random.default_rng(1)
    for variable in model.weights:  # LoRA deltas start at zero: give them values
        if "_lora/" in variable.path:
            variable.assign(rng.normal(0, 0.3, variable.shape).astype("float32"))
    ids = _ids()
    full = np.asarray(model(ids))
    for per_slot in (False, True):  # the stacked cache and XLA loops' per-slot pairs
        cache, steps = model.init_cache(2, 7, per_slot=per_slot), []
        for i in range(7):
            logits, _, cache = model.call_with_cache(ids[:, i : i + 1], cache, i)
            steps.append(np.asarray(logits))
        np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-4, atol=1e-4)


def test_kv_sharing_keeps_one_cache_slot_per_group_and_changes_later_depths():
    plain = SharedCausalLM(_config(plan=SharingPlan(6, 2, strategy="sequence")))
    shared = SharedCausalLM(_config(plan=SharingPlan(6, 2, strategy="sequence"),
                                    kv_sharing="group"))  # fmt: skip
    shared.set_weights(plain.get_weights())  # the same weights: kv sharing adds none
    assert tuple(plain.init_cache(2, 12).shape)[:2] == (2, 6)
    assert tuple(shared.init_cache(2, 12).shape)[:2] == (2, 2)
    ids = _ids()
    # Depths 1-2 and 4-5 attend to the keys of depths 0 and 3: a different model.
    assert not np.allclose(plain(ids), shared(ids), atol=1e-3)
    # Where every group has one depth, sharing keys changes nothing.
    unique = [SharedCausalLM(_config(plan=SharingPlan(3, 3, strategy="sequence"), kv_sharing=k))
              for k in ("none", "group")]  # fmt: skip
    unique[1].set_weights(unique[0].get_weights())
    np.testing.assert_allclose(unique[0](ids), unique[1](ids), atol=1e-6)
    with pytest.raises(ValueError, match="kv_sharing='depth'"):
        _config(kv_sharing="depth")


@pytest.mark.parametrize("kv_sharing", ["none", "group"])
def test_gradients_reach_the_shared_layers_from_every_depth(kv_sharing):
    model = SharedCausalLM(_config(kv_sharing=kv_sharing))  # 4 depths cycling over 2 groups
    ids = _ids(batch=4, length=8)
    with tf.GradientTape() as tape:
        loss = keras.ops.mean(model(ids) ** 2)
    grads = tape.gradient(loss, model.trainable_weights)
    # Every weight, per-depth norms of the last depths included, gets a gradient.
    assert all(g is not None and np.any(np.asarray(g) != 0) for g in grads)
    # A shared kernel's gradient sums its depths: changing only the last
    # depth's input norm changes the gradient of the group's kernel.
    kernel = model.decoder.blocks[1].feed_forward.weights[0]  # group B: depths 1 and 3
    norm = model.decoder.blocks[3].feed_forward_norm.weights[0]
    with tf.GradientTape() as tape:
        loss = keras.ops.mean(model(ids) ** 2)
    before = np.asarray(tape.gradient(loss, kernel))
    norm.assign(norm * 2.0)
    with tf.GradientTape() as tape:
        loss = keras.ops.mean(model(ids) ** 2)
    assert not np.allclose(np.asarray(tape.gradient(loss, kernel)), before)


def test_kv_sharing_round_trips(tmp_path):
    model = SharedCausalLM(_config(kv_sharing="group"))
    ids = _ids(batch=4, length=8)
    path = str(tmp_path / "lm.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.config.kv_sharing == "group"
    np.testing.assert_array_equal(loaded(ids), model(ids))


def test_generate_equals_greedy_decoding_without_cache_and_keeps_prompts():
    model = SharedCausalLM(_config())
    prompts = np.array([[BOS, 5, 6, 7], [BOS, 8, 9, PAD]], "int32")  # different lengths
    out = np.asarray(model.generate(prompts, max_length=10))
    assert out.shape == (2, 10)
    for row, prompt in zip(out, prompts, strict=True):
        length = int(np.sum(prompt != PAD))
        np.testing.assert_array_equal(row[:length], prompt[:length])
        sequence = list(prompt[:length])
        while len(sequence) < 10 and EOS not in sequence[length:]:
            logits = np.asarray(model(np.array([sequence], "int32")))[0, -1]
            sequence.append(int(np.argmax(logits)))
        expected = sequence + [PAD] * (10 - len(sequence))
        np.testing.assert_array_equal(row, expected)


@pytest.mark.parametrize(
    "changes", [{}, {"embedding_dim": 8}, {"kv_sharing": "group"}],
    ids=["tied", "factorized", "kv_group"],
)  # fmt: skip
def test_xla_layouts_generate_what_plain_generation_does(changes):
    """The transposed output table and the per-slot heads-first cache."""
    from sharedformer_tf.models import graph_generation

    model = SharedCausalLM(_config(**changes))
    prompts = np.array([[BOS, 5, 6, 7], [BOS, 8, 9, PAD]], "int32")
    plain = np.asarray(model.generate_step(prompts, 10))
    once = np.asarray(model.generate_step(prompts, 10, xla_layouts=True))
    compiled = np.asarray(graph_generation.generate(model, prompts, 10, jit_compile=True))
    np.testing.assert_array_equal(once, plain)
    np.testing.assert_array_equal(compiled, plain)


def test_fit_learns_to_count_and_generate_continues_the_count():
    """Sequences count up by one (mod 13, ids 3..15) from a random start: the
    model must learn the successor rule and continue any prompt with it."""
    model = SharedCausalLM(_config(plan=SharingPlan(2, strategy="all"), max_length=10))
    rng = np.random.default_rng(0)
    starts = rng.integers(0, 13, 2000)
    ids = (3 + (starts[:, None] + np.arange(9)) % 13).astype("int32")
    ids = np.concatenate([np.full((2000, 1), BOS, "int32"), ids], axis=1)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD)
    model.compile(keras.optimizers.Adam(3e-3), loss)
    history = model.fit(ids[:, :-1], ids[:, 1:], epochs=4, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 5
    prompts = np.array([[BOS, 7, 8], [BOS, 14, 15]], "int32")
    out = np.asarray(model.generate(prompts, max_length=8))
    np.testing.assert_array_equal(out[0], [BOS, 7, 8, 9, 10, 11, 12, 13])
    np.testing.assert_array_equal(out[1], [BOS, 14, 15, 3, 4, 5, 6, 7])


def test_keras_file_round_trip_in_safe_mode_and_mixed_precision(tmp_path):
    model = SharedCausalLM(_config(adapter_dim=4, use_depth_embedding=True))
    ids = _ids()
    path = tmp_path / "lm.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(restored, SharedCausalLM) and restored.config == model.config
    np.testing.assert_array_equal(np.asarray(restored(ids)), np.asarray(model(ids)))
    mixed = SharedCausalLM(_config(), dtype="mixed_bfloat16")
    assert mixed.decoder.blocks[0].self_attention.compute_dtype == "bfloat16"
    assert mixed(ids).dtype == "float32" and all(w.dtype == "float32" for w in mixed.weights)


def test_shared_depths_store_their_groups_once():
    shared = parameter_report(SharedCausalLM(_config(plan=SharingPlan(4, 2, strategy="cycle"))))
    plain = parameter_report(SharedCausalLM(_config(plan=SharingPlan(4, strategy="none"))))
    assert shared["effective_params"] == plain["unique_params"]
    # Two of four attention + feed-forward groups: half of the block weights.
    h, f = 16, 32
    block = 4 * (h * h + h) + (h * f + f + f * h + h)
    assert plain["unique_params"] - shared["unique_params"] == 2 * block


def test_config_validation_and_presets():
    with pytest.raises(ValueError, match="Received: pad_id=16"):
        _config(pad_id=16)
    with pytest.raises(ValueError, match="Special token ids must differ"):
        _config(bos_id=0)
    with pytest.raises(ValueError, match="Unknown preset"):
        causal_lm_config.preset("huge")
    assert causal_lm_config.small().plan.assignments == (0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5)
    assert causal_lm_config.preset("tiny", hidden_dim=64).hidden_dim == 64
    # The preset sizes of docs/presets.md (stored, effective).
    for name, sizes in (("tiny", (544_256, 1_730_816)), ("small", (6_858_752, 11_591_168))):
        report = parameter_report(SharedCausalLM(causal_lm_config.preset(name)))
        assert (report["unique_params"], report["effective_params"]) == sizes
    model = SharedCausalLM(_config())
    with pytest.raises(ValueError, match="max_length=13"):
        model.generate(_ids(), max_length=13)
    with pytest.raises(ValueError, match=r"shape \(2, 7\), max_length=5"):
        model.generate(_ids(), max_length=5)
    with pytest.raises(ValueError, match="at least one token"):
        model.generate(np.array([[BOS, 5], [PAD, PAD]], "int32"), max_length=6)


@pytest.mark.parametrize("kv_sharing", ["none", "group"])
def test_elastic_depths_decode_with_the_cache_as_their_full_pass(kv_sharing):
    model = SharedCausalLM(_config(plan=SharingPlan(4, 2, strategy="sequence"),
                                   kv_sharing=kv_sharing, depths=(2, 8)))  # fmt: skip
    assert model.depths == (2, 4, 8)
    ids = _ids()
    outputs = {}
    for depth in model.depths:
        full = np.asarray(model.at_depth(depth)(ids))
        cache, steps = model.init_cache(2, 7), []
        for i in range(7):
            logits, _, cache = model.call_with_cache(ids[:, i : i + 1], cache, i, depth=depth)
            steps.append(np.asarray(logits))
        np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-4, atol=1e-4)
        outputs[depth] = full
        # Greedy generation at that depth continues with that depth's argmax.
        generated = np.asarray(model.generate(ids[:, :3], max_length=4, depth=depth))
        step = np.asarray(model.at_depth(depth)(generated[:, :3]))[:, -1]
        np.testing.assert_array_equal(generated[:, 3], step.argmax(-1))
    np.testing.assert_array_equal(outputs[4], np.asarray(model(ids)))
    assert np.abs(outputs[2] - outputs[8]).max() > 1e-3
    with pytest.raises(ValueError, match="depth=3"):
        model.generate(ids, max_length=8, depth=3)


def test_elastic_language_model_trains_each_depth_and_round_trips(tmp_path):
    model = SharedCausalLM(_config(depths=(2,)))
    ids = _ids(8, 8)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(ids[:, :-1], ids[:, 1:], batch_size=8, epochs=6, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "lm.keras")
    restored = keras.saving.load_model(tmp_path / "lm.keras")
    for depth in (2, 4):
        np.testing.assert_array_equal(restored.at_depth(depth)(ids), model.at_depth(depth)(ids))


def test_per_token_early_exit_decodes_as_its_full_pass_and_scores_its_mean_depth():
    """Cached decoding with exits (one token a step, graph-compiled greedy
    generation included) equals `exit_logits`, the full pass with the same
    exits; a threshold of 0 is the plain model."""
    from sharedformer_tf.generation import token_nll

    keras.utils.set_random_seed(5)
    model = SharedCausalLM(_config(depths=(2, 6), use_depth_embedding=True))
    ids = _ids(1, 10, seed=3)
    plain = np.asarray(model.at_depth(6)(ids))
    logits, used = model.exit_logits(ids, 0.0, depth=6)
    np.testing.assert_allclose(logits, plain, rtol=1e-5, atol=1e-5)
    assert np.all(np.asarray(used) == 6)
    threshold = None
    for candidate in np.geomspace(0.01, 3.0, 40):
        used = np.asarray(model.exit_logits(ids, float(candidate), depth=6)[1])
        if 6 in used and len(set(used.ravel())) >= 2:
            threshold = float(candidate)
            break
    assert threshold is not None
    full, used = model.exit_logits(ids, threshold, depth=6)
    cache, steps = model.init_cache(1, 10), []
    for i in range(10):
        step, _, cache = model.call_with_cache(ids[:, i : i + 1], cache, i, 6, threshold)
        steps.append(np.asarray(step))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-4, atol=1e-4)
    assert np.abs(np.asarray(full) - plain).max() > 1e-3
    # Greedy generation with exits continues with the exit pass's argmax.
    generated = np.asarray(model.generate(ids[:, :6], max_length=8, depth=6,
                                          exit_threshold=threshold))  # fmt: skip
    for i in (6, 7):
        want = np.asarray(model.exit_logits(generated[:, :i], threshold, depth=6)[0])[:, -1]
        assert generated[0, i] == want.argmax(-1)[0]
        if generated[0, i] == EOS:  # padding follows
            break
    windows = _ids(3, 9, seed=4)
    total, count, depth = token_nll(model, windows, depth=6)
    assert depth == 6
    same = token_nll(model, windows, depth=6, exit_threshold=0.0)
    assert same[1] == count and same[0] == pytest.approx(total, rel=1e-5) and same[2] == 6
    _, _, mean_depth = token_nll(model, windows, depth=6, exit_threshold=threshold)
    assert 2 <= mean_depth < 6
    sequence = SharedCausalLM(_config(plan=SharingPlan(4, 2, strategy="sequence"), depths=(2,)))
    with pytest.raises(ValueError, match="not the start"):
        sequence.exit_logits(ids, 0.1)


def _distillation_case(**config):
    """A 4-depth model that also runs at 2 (zero learning rate) and a padded
    batch: the model, x, y, depth 4's and depth 2's logits, a cross-entropy
    over the real targets, and KL(depth 4 || depth 2) over the real positions."""
    keras.utils.set_random_seed(2)
    model = SharedCausalLM(_config(depths=(2,), **config))
    ids = _ids(4, 9, seed=6)
    ids[1, 6:] = PAD
    x, y = ids[:, :-1], ids[:, 1:]
    model.compile(keras.optimizers.SGD(0.0), keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=PAD))  # fmt: skip
    assert model.depths[model.training_depth_index()] == 2
    student = np.asarray(model.at_depth(2)(x), "float64")
    teacher = np.asarray(model.at_depth(4)(x), "float64")

    def cross_entropy(logits):
        picked = np.take_along_axis(log_softmax(logits), y[..., None], -1)[..., 0]
        return -(picked * (y != PAD)).sum() / (y != PAD).sum()

    real = x != PAD
    kl = (kl_divergence(teacher, student) * real).sum() / real.sum()
    return model, x, y, teacher, student, cross_entropy, kl


def test_depth_distillation_adds_the_kl_to_the_deepest_depth_on_shallower_steps():
    """A step drawing depth 2 (step 0) reports cross-entropy + w * KL(depth 4
    || depth 2), computed here by hand on the same batch (padding excluded);
    a step drawing the deepest depth adds nothing."""
    model, x, y, teacher, student, cross_entropy, kl = _distillation_case(depth_distillation=0.5)
    want = cross_entropy(student) + 0.5 * kl
    loss = model.train_on_batch(x, y)
    assert loss == pytest.approx(want, rel=1e-4)
    while model.depths[model.training_depth_index()] != 4:  # to a step drawing depth 4
        model.train_on_batch(x, y)
    assert model.train_on_batch(x, y) == pytest.approx(cross_entropy(teacher), rel=1e-4)
    with pytest.raises(ValueError, match="depth_distillation=-1"):
        _config(depths=(2,), depth_distillation=-1)


def test_sandwich_steps_add_the_drawn_depths_loss_to_the_deepest_depths():
    """Under the sandwich rule a step reports the deepest depth's
    cross-entropy plus the drawn shallower depth's plus w * KL(deepest ||
    drawn), computed here by hand (padding excluded)."""
    model, x, y, teacher, student, cross_entropy, kl = _distillation_case(
        depth_sampling="sandwich", depth_distillation=0.5
    )
    want = cross_entropy(teacher) + cross_entropy(student) + 0.5 * kl
    for _ in range(3):  # every step draws depth 2, the only shallower depth
        assert model.train_on_batch(x, y) == pytest.approx(want, rel=1e-4)

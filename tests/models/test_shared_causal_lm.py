import keras
import numpy as np
import pytest

from sharedformer_tf import SharingPlan, parameter_report
from sharedformer_tf.models import CausalLMConfig, SharedCausalLM, causal_lm_config

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
      "position_encoding": "sine"}],
    ids=["cycle", "sequence_depth_embedding", "all_factorized_adapters", "ffn_post_ln_sine"],
)  # fmt: skip
def test_cached_decoding_equals_the_full_forward_pass(changes):
    model = SharedCausalLM(_config(**changes))
    ids = _ids()
    full = np.asarray(model(ids))
    cache, steps = model.init_cache(2, 7), []
    for i in range(7):
        logits, _, cache = model.call_with_cache(ids[:, i : i + 1], cache, i)
        steps.append(np.asarray(logits))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-4, atol=1e-4)


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
    model = SharedCausalLM(_config())
    with pytest.raises(ValueError, match="max_length=13"):
        model.generate(_ids(), max_length=13)
    with pytest.raises(ValueError, match=r"shape \(2, 7\), max_length=5"):
        model.generate(_ids(), max_length=5)
    with pytest.raises(ValueError, match="at least one token"):
        model.generate(np.array([[BOS, 5], [PAD, PAD]], "int32"), max_length=6)

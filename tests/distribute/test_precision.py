import keras
import numpy as np
import pytest

from sharedformer_tf import SharingPlan, distribute, training
from sharedformer_tf.models import Seq2SeqTransformer, seq2seq_config


def tiny_model():
    config = seq2seq_config.tiny(
        vocabulary_size=10, hidden_dim=8, num_heads=2, intermediate_dim=16,
        encoder_plan=SharingPlan(2, strategy="all"), decoder_plan=SharingPlan(2, strategy="all"),
        max_length=8,
    )  # fmt: skip
    return Seq2SeqTransformer(config)


def test_unknown_precision_names_what_it_received():
    with pytest.raises(ValueError, match="Received: precision='float8'"):
        distribute.set_precision("float8")


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_with_float32_variables_and_logits(precision):
    distribute.set_precision(precision)
    model = tiny_model()
    training.compile_seq2seq(model, total_steps=4, jit_compile=False)
    assert all(w.dtype == "float32" for w in model.weights)
    is_scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert is_scaled == (precision == "mixed_float16")
    rng = np.random.default_rng(0)
    inputs = {
        "encoder_token_ids": rng.integers(3, 10, (4, 8)).astype("int32"),
        "decoder_token_ids": rng.integers(3, 10, (4, 8)).astype("int32"),
    }
    labels = rng.integers(3, 10, (4, 8)).astype("int32")
    logits = model(inputs)
    assert logits.dtype == "float32"
    before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(inputs, labels, epochs=2, batch_size=4, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    after = [w.numpy() for w in model.trainable_weights]
    assert any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))

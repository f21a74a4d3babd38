"""The compile step shared by the translation app and benchmarks."""

from sharedformer_tf.training.label_smoothed_crossentropy import LabelSmoothedCrossentropy
from sharedformer_tf.training.masked_accuracy import MaskedAccuracy
from sharedformer_tf.training.optimizers import warmup_cosine_adamw


def compile_seq2seq(
    model,
    total_steps,
    learning_rate=1e-3,
    warmup_steps=None,
    label_smoothing=0.1,
    pad_id=0,
    jit_compile=True,
):
    """Compiles an encoder-decoder model that maps `{"encoder_token_ids",
    "decoder_token_ids"}` to logits: AdamW with warmup and cosine decay,
    label-smoothed cross-entropy and accuracy, both over non-padding tokens.
    Call it inside `strategy.scope()` when training under a strategy.

    Returns:
        `model`, compiled.
    """
    model.compile(
        optimizer=warmup_cosine_adamw(total_steps, learning_rate, warmup_steps),
        loss=LabelSmoothedCrossentropy(label_smoothing, ignore_class=pad_id),
        metrics=[MaskedAccuracy(ignore_class=pad_id)],
        jit_compile=jit_compile,
    )
    return model

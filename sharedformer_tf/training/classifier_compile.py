"""The compile step shared by the classification apps and benchmarks."""

import keras

from sharedformer_tf.training.optimizers import warmup_cosine_adamw


def compile_classifier(model, total_steps, learning_rate=2e-3, warmup_steps=None,
                       weight_decay=0.05, jit_compile=True):  # fmt: skip
    """Compiles a model that maps inputs to class logits: AdamW with warmup
    and cosine decay (`warmup_cosine_adamw`), sparse categorical
    cross-entropy on the logits and accuracy. Call it inside
    `strategy.scope()` when training under a strategy.

    Returns:
        `model`, compiled.
    """
    model.compile(
        optimizer=warmup_cosine_adamw(total_steps, learning_rate, warmup_steps, weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile,
    )
    return model

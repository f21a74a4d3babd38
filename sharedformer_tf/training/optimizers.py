"""Optimizer set-up for Transformer training."""

import keras

from sharedformer_tf.validation import check_positive_int


def warmup_cosine_adamw(total_steps, learning_rate=1e-3, warmup_steps=None, weight_decay=0.01):
    """AdamW (beta_2=0.98, global gradient clipping at 1.0) with a linear
    warmup to `learning_rate` and a cosine decay to 5% of it over the
    remaining steps (Keras' `CosineDecay` with `warmup_steps`).

    Args:
        total_steps: int, optimizer steps of the whole run.
        learning_rate: float, peak learning rate.
        warmup_steps: int, default 10% of `total_steps` (at most 4000).
        weight_decay: float, decoupled weight decay.

    Returns:
        `keras.optimizers.AdamW`.
    """
    check_positive_int(total_steps=total_steps)
    if warmup_steps is None:
        warmup_steps = min(4000, max(1, total_steps // 10))
    warmup_steps = min(warmup_steps, total_steps - 1) if total_steps > 1 else 0
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup_steps else learning_rate,
        decay_steps=max(1, total_steps - warmup_steps),
        alpha=0.05,
        warmup_target=learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )
    return keras.optimizers.AdamW(
        learning_rate=schedule,
        beta_2=0.98,
        epsilon=1e-9,
        weight_decay=weight_decay,
        global_clipnorm=1.0,
    )

"""Choosing the Keras dtype policy (`--precision`)."""

import keras

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def set_precision(name):
    """Sets the global Keras dtype policy to `name` (one of `PRECISIONS`).

    Call it before building the model. Under a mixed policy layers compute
    in bfloat16 or float16 and keep float32 variables; the models of this
    library keep their output projection and softmax in float32, and
    `model.compile` wraps the optimizer in a `LossScaleOptimizer` for
    `mixed_float16` (dynamic loss scaling), which `compile_seq2seq` checks.

    Returns:
        The new `keras.DTypePolicy`.
    """
    if name not in PRECISIONS:
        raise ValueError(f"Expected a precision in {PRECISIONS}. Received: precision={name!r}")
    keras.config.set_dtype_policy(name)
    return keras.config.dtype_policy()

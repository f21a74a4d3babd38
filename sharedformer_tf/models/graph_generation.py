"""Graph-compiled decoding for `Seq2SeqTransformer.generate` and
`SharedCausalLM.generate` (the TensorFlow backend's `tf.function`, as
keras-hub's `make_generate_function`)."""

import weakref

import tensorflow as tf

from sharedformer_tf.validation import check_positive_int

# model -> {(max_length, sampler, jit_compile, depth, exit_threshold): tf.function};
# entries go with their model.
_FUNCTIONS = weakref.WeakKeyDictionary()


def generate(model, token_ids, max_length, sampler="greedy", jit_compile=False, depth=None,
             exit_threshold=None):  # fmt: skip
    """Runs `model.generate_step` as a `tf.function`, traced once per
    `(max_length, sampler, jit_compile)` and reused for any batch size and
    input length.

    Args:
        model: a model with `generate_step(ids, max_length, sampler)`.
        token_ids: int array `[batch, length]` (source ids of a
            translator, prompts of a language model).
        max_length: int, passed to `generate_step`.
        sampler: sampler name or `keras_hub.samplers.Sampler` instance.
        jit_compile: bool. Compile the decoding loop with XLA, and pass
            `xla_layouts=True`: the loop multiplies by a transposed copy of
            the tied output table made once before it (see
            `TokenEmbedding.output_kernel`), not by the table's transpose at
            each step, and keeps the self-attention cache as separate
            heads-first `(keys, values)` pairs per slot (see
            `SharedDecoder.init_cache`), which XLA on a CPU updates and reads
            in place. Exports keep the other layouts: they would store the
            table's copy beside it.
        depth: int or `None`: passed to `generate_step` when given (a model
            run at one of its elastic depths).
        exit_threshold: float or `None`: passed to `generate_step` when
            given (per-token early exit).

    Returns:
        What `generate_step` returns: int32 `[batch, max_length]`.
    """
    check_positive_int(max_length=max_length)
    cache = _FUNCTIONS.setdefault(model, {})
    key = (max_length, sampler if isinstance(sampler, str) else id(sampler), jit_compile, depth,
           exit_threshold)  # fmt: skip
    if key not in cache:
        owner = weakref.ref(model)  # the cache must not keep the model alive
        extra = {"xla_layouts": True} if jit_compile else {}
        if depth is not None:
            extra["depth"] = depth
        if exit_threshold is not None:
            extra["exit_threshold"] = exit_threshold
        cache[key] = tf.function(
            lambda ids: owner().generate_step(ids, max_length, sampler, **extra),
            input_signature=[tf.TensorSpec([None, None], tf.int32)],
            jit_compile=jit_compile,
        )
    ids = tf.convert_to_tensor(token_ids)
    if ids.shape.rank != 2:
        raise ValueError(
            f"`token_ids` must have shape [batch, length]. Received: shape={ids.shape}"
        )
    return cache[key](tf.cast(ids, tf.int32))

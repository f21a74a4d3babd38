"""Graph-compiled decoding for `Seq2SeqTransformer.generate`."""

import tensorflow as tf

from sharedformer_tf.validation import check_positive_int


def generate(model, encoder_token_ids, max_length, sampler="greedy", jit_compile=False):
    """Runs `model.generate_step` as a `tf.function`, traced once per
    `(max_length, sampler, jit_compile)` and reused for any batch size and
    source length.

    Args:
        model: a model with `generate_step(ids, max_length, sampler)`.
        encoder_token_ids: int array `[batch, source_length]`.
        max_length: int. Tokens to generate.
        sampler: sampler name or `keras_hub.samplers.Sampler` instance.
        jit_compile: bool. Compile the decoding loop with XLA.

    Returns:
        int32 tensor `[batch, max_length]`.
    """
    check_positive_int(max_length=max_length)
    cache = model.__dict__.setdefault("_graph_generate_functions", {})
    key = (max_length, sampler if isinstance(sampler, str) else id(sampler), jit_compile)
    if key not in cache:
        cache[key] = tf.function(
            lambda ids: model.generate_step(ids, max_length, sampler),
            input_signature=[tf.TensorSpec([None, None], tf.int32)],
            jit_compile=jit_compile,
        )
    ids = tf.convert_to_tensor(encoder_token_ids)
    if ids.shape.rank != 2:
        raise ValueError(
            f"`encoder_token_ids` must have shape [batch, length]. Received: shape={ids.shape}"
        )
    return cache[key](tf.cast(ids, tf.int32))

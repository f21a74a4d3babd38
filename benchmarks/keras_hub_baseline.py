"""The plain Transformer that sharedformer_tf is measured against: a stack
of keras-hub `TransformerEncoder` / `TransformerDecoder` layers with the same
inputs and outputs as `Seq2SeqTransformer`, and a greedy decoder for it."""

import keras
import keras_hub
import numpy as np
import tensorflow as tf


def build(vocabulary_size, hidden_dim, num_heads, intermediate_dim, num_layers, max_length,
          dropout=0.1):  # fmt: skip
    """`num_layers` + `num_layers` keras-hub layers with separate source and
    target embeddings and an untied output layer (keras-hub's defaults)."""
    encoder_ids = keras.Input((None,), dtype="int32", name="encoder_token_ids")
    decoder_ids = keras.Input((None,), dtype="int32", name="decoder_token_ids")

    def embedding(name):
        return keras_hub.layers.TokenAndPositionEmbedding(
            vocabulary_size, max_length, hidden_dim, mask_zero=True, name=name
        )

    x = embedding("source_embedding")(encoder_ids)
    for i in range(num_layers):
        x = keras_hub.layers.TransformerEncoder(
            intermediate_dim, num_heads, dropout=dropout, name=f"encoder_{i}"
        )(x)
    y = embedding("target_embedding")(decoder_ids)
    for i in range(num_layers):
        y = keras_hub.layers.TransformerDecoder(
            intermediate_dim, num_heads, dropout=dropout, name=f"decoder_{i}"
        )(y, x)
    logits = keras.layers.Dense(vocabulary_size, dtype="float32", name="logits")(y)
    return keras.Model({"encoder_token_ids": encoder_ids, "decoder_token_ids": decoder_ids}, logits)


def greedy(model, encoder_ids, max_output_length, bos_id=1, eos_id=2, pad_id=0):
    """Greedy decoding without a cache: one full forward pass per token."""

    @tf.function
    def step(source, target):
        return tf.argmax(model({"encoder_token_ids": source, "decoder_token_ids": target}), -1)

    batch = encoder_ids.shape[0]
    target = np.full((batch, max_output_length + 1), pad_id, np.int32)
    target[:, 0] = bos_id
    done = np.zeros(batch, bool)
    for i in range(max_output_length):
        next_ids = step(encoder_ids, target[:, :-1]).numpy()[:, i]
        target[:, i + 1] = np.where(done, pad_id, next_ids)
        done |= next_ids == eos_id
        if done.all():
            break
    return target[:, 1:]


def cached_greedy(model, max_output_length, bos_id=1, jit_compile=True):
    """keras-hub's fastest greedy path for a model of `build`: its own
    `TransformerDecoder` self- and cross-attention caches (the cross cache
    computed once per layer at the first step), a statically unrolled loop
    of `max_output_length` steps, top-k picking, the whole function
    XLA-compiled when `jit_compile`. Returns a function source ids
    `[batch, length]` -> output ids `[batch, max_output_length]`; it runs
    every step (no early stop), as a compiled loop does."""
    source_embedding = model.get_layer("source_embedding")
    target_embedding = model.get_layer("target_embedding")
    encoders = [x for x in model.layers if isinstance(x, keras_hub.layers.TransformerEncoder)]
    decoders = [x for x in model.layers if isinstance(x, keras_hub.layers.TransformerDecoder)]
    output = model.get_layer("logits")
    heads = decoders[0].num_heads

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)], jit_compile=jit_compile)
    def decode(source):
        batch, length = tf.shape(source)[0], tf.shape(source)[1]
        mask = tf.not_equal(source, 0)
        x = source_embedding(source)
        for encoder in encoders:
            x = encoder(x, padding_mask=mask)
        head_dim = x.shape[-1] // heads
        self_caches = [tf.zeros([batch, 2, max_output_length, heads, head_dim]) for _ in decoders]
        cross_caches = [tf.zeros([batch, 2, length, heads, head_dim]) for _ in decoders]
        token, tokens = tf.fill([batch, 1], bos_id), []
        for step in range(max_output_length):
            y = target_embedding(token, start_index=step)
            for i, decoder in enumerate(decoders):
                y, self_caches[i], cross_caches[i] = decoder(
                    y, x, encoder_padding_mask=mask,
                    self_attention_cache=self_caches[i], self_attention_cache_update_index=step,
                    cross_attention_cache=cross_caches[i],
                    cross_attention_cache_update_index=0 if step == 0 else None,
                )  # fmt: skip
            token = tf.math.top_k(output(y)[:, 0], k=1).indices
            tokens.append(token)
        return tf.concat(tokens, axis=1)

    return decode

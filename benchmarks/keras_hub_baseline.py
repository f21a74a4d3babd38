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

"""The input embedding of the token models (`Seq2SeqTransformer`,
`SharedCausalLM`), written once."""

import math

from keras import ops


def embed_tokens(embedding, position_encoding, dropout, token_ids, start_index=0, training=None):
    """`dropout(embedding(token_ids) * sqrt(H) + positions)`.

    Args:
        embedding: a `TokenEmbedding` of width `H`.
        position_encoding: a `PositionEncoding`.
        dropout: a `keras.layers.Dropout`.
        token_ids: int tensor `[batch, length]`.
        start_index: int scalar, position of `token_ids[:, 0]` (cached decoding).
        training: bool, whether dropout is active.

    Returns:
        Tensor `[batch, length, H]`.
    """
    x = embedding(token_ids)
    x = x * ops.cast(math.sqrt(ops.shape(x)[-1]), x.dtype)
    positions = position_encoding(x, start_index=start_index)
    return dropout(x + positions, training=training)

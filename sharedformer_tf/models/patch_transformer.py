"""The body shared by the patch-based classifiers (`ViTClassifier`,
`AudioClassifier`): patches -> shared encoder -> pooling -> logits."""

import keras
from keras import ops

from sharedformer_tf.layers.patch_embedding import PatchEmbedding
from sharedformer_tf.stacks.shared_encoder import SharedEncoder


def patch_transformer_logits(x, config, patch_size, dtype=None, stem_filters=0, stem_pooling=False,
                             stem_activation="gelu"):  # fmt: skip
    """Applies a patch embedding, a pre-LN `SharedEncoder` following
    `config.plan`, pooling and a float32 dense head to the symbolic
    `x [batch, height, width, channels]`.

    Args:
        x: symbolic Keras tensor.
        config: a config with `hidden_dim`, `num_heads`, `intermediate_dim`,
            `plan`, `pooling`, `dropout`, `per_depth_norms`,
            `layer_norm_epsilon` and `num_classes`.
        patch_size: int or `(height, width)` of the patches.
        dtype: optional dtype policy.
        stem_filters: filters of `PatchEmbedding`'s convolutional stem (0: none).
        stem_pooling: max pooling after each stem convolution.
        stem_activation: activation of the stem convolutions.

    Returns:
        `(logits, (patch_embedding, encoder, head))`: float32 logits
        `[batch, num_classes]` and the three layers.
    """
    c = config
    patches = PatchEmbedding(patch_size, c.hidden_dim, use_class_token=c.pooling == "class_token",
                             stem_filters=stem_filters, stem_pooling=stem_pooling,
                             stem_activation=stem_activation, dtype=dtype,
                             name="patch_embedding")  # fmt: skip
    encoder = SharedEncoder(
        c.plan,
        num_heads=c.num_heads,
        intermediate_dim=c.intermediate_dim,
        dropout=c.dropout,
        activation="gelu",
        layer_norm_epsilon=c.layer_norm_epsilon,
        per_depth_norms=c.per_depth_norms,
        dtype=dtype,
        name="encoder",
    )
    head = keras.layers.Dense(c.num_classes, dtype="float32", name="logits")
    x = encoder(patches(x))
    x = x[:, 0] if c.pooling == "class_token" else ops.mean(x, axis=1)
    return head(x), (patches, encoder, head)

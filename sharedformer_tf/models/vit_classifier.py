import keras
from keras import ops

from sharedformer_tf.layers.patch_embedding import PatchEmbedding
from sharedformer_tf.models.config_model import ConfigModel
from sharedformer_tf.models.vit_config import ViTConfig
from sharedformer_tf.stacks.shared_encoder import SharedEncoder


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class ViTClassifier(ConfigModel):
    """Vision Transformer classifier whose encoder depths share parameters.

    A functional Keras model: pixel values `0..255` (any numeric dtype, e.g.
    uint8) are scaled to `[0, 1]`, split into patches (`PatchEmbedding`,
    with a class token when `config.pooling == "class_token"`), encoded by
    a pre-LN `SharedEncoder` following `config.plan`, pooled (class token
    or mean of the patch vectors) and classified by a float32 dense layer.

    Args:
        config: `ViTConfig` (or its dict), e.g. `models.vit_config.tiny()`.
        dtype: optional dtype policy for all layers (e.g. `"mixed_bfloat16"`).
        **kwargs: `keras.Model` arguments such as `name`.

    Call arguments:
        images: tensor `[batch, image_size, image_size, channels]` of pixel
            values in `0..255`.

    Returns:
        float32 logits `[batch, num_classes]`.

    Example:

    >>> from sharedformer_tf.models import vit_config
    >>> model = ViTClassifier(vit_config.tiny(hidden_dim=8, num_heads=2,
    ...                                       intermediate_dim=16))
    >>> model(keras.ops.zeros((2, 28, 28, 1), "uint8")).shape
    (2, 10)
    """

    def __init__(self, config, dtype=None, **kwargs):
        config = ViTConfig.coerce(config)
        c = config
        images = keras.Input((c.image_size, c.image_size, c.channels), name="images")
        patches = PatchEmbedding(
            c.patch_size,
            c.hidden_dim,
            use_class_token=c.pooling == "class_token",
            dtype=dtype,
            name="patch_embedding",
        )
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
        self.config = config
        self.patch_embedding = patches
        self.encoder = encoder
        self.head = head

        x = keras.layers.Rescaling(1 / 255, dtype=dtype, name="rescale")(images)
        x = encoder(patches(x))
        x = x[:, 0] if c.pooling == "class_token" else ops.mean(x, axis=1)
        super().__init__(inputs=images, outputs=head(x), dtype=dtype, **kwargs)

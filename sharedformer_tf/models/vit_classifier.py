import keras

from sharedformer_tf.models.patch_classifier import PatchClassifier
from sharedformer_tf.models.vit_config import ViTConfig


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class ViTClassifier(PatchClassifier):
    """Vision Transformer classifier whose encoder depths share parameters.

    A functional Keras model: pixel values `0..255` (any numeric dtype, e.g.
    uint8) are scaled to `[0, 1]`, split into patches (`PatchEmbedding`,
    with a class token when `config.pooling == "class_token"`), encoded by
    a pre-LN `SharedEncoder` following `config.plan`, pooled (class token
    or mean of the patch vectors) and classified by a float32 dense layer.
    With `config.depths` it also runs at those depths (`at_depth`,
    `exit_logits`; see `PatchClassifier`).

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
    >>> tuple(model(keras.ops.zeros((2, 28, 28, 1), "uint8")).shape)
    (2, 10)
    >>> elastic = ViTClassifier(vit_config.tiny(hidden_dim=8, num_heads=2,
    ...                                         intermediate_dim=16, depths=(4,)))
    >>> elastic.depths
    (4, 8)
    >>> tuple(elastic.at_depth(4)(keras.ops.zeros((2, 28, 28, 1), "uint8")).shape)
    (2, 10)
    """

    def __init__(self, config, dtype=None, **kwargs):
        config = ViTConfig.coerce(config)
        images = keras.Input((config.image_size, config.image_size, config.channels),
                             name="images")  # fmt: skip
        x = keras.layers.Rescaling(1 / 255, dtype=dtype, name="rescale")(images)
        stem = {"stem_filters": config.stem_filters, "stem_pooling": config.stem_pooling,
                "stem_activation": config.stem_activation}  # fmt: skip
        super().__init__(images, x, config, config.patch_size, dtype, stem, **kwargs)

import keras
from keras import ops

from sharedformer_tf.validation import check_non_negative_int, check_positive_int


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class SpecAugment(keras.layers.Layer):
    """SpecAugment's time and frequency masking (Park et al., 2019) of
    spectrogram-like features, during training only.

    Each example gets `num_time_masks` masks of `0..max_time_width`
    consecutive frames and `num_frequency_masks` masks of
    `0..max_frequency_width` consecutive bands, at random places; masked
    values are set to `mask_value` (0 = the mean of standardized
    features). At inference (`training=False`, and so in every export) the
    layer returns its input unchanged and adds no operation to the graph.

    Args:
        num_time_masks: int >= 0.
        max_time_width: int >= 1, widest time mask in frames.
        num_frequency_masks: int >= 0.
        max_frequency_width: int >= 1, widest frequency mask in bands.
        mask_value: float written into masked cells.
        seed: int or `None`, seed of the masks.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: float tensor `[batch, frames, bands]`.
        training: bool, masks only when `True`.

    Returns:
        Tensor of the input's shape and dtype.

    Example:

    >>> layer = SpecAugment(num_time_masks=1, max_time_width=3, seed=0)
    >>> x = keras.ops.ones((2, 10, 4))
    >>> bool(keras.ops.all(layer(x) == x))  # inference: unchanged
    True
    >>> masked = layer(x, training=True)
    >>> int(keras.ops.sum(masked == 0) % 4)  # whole frames masked
    0
    """

    def __init__(self, num_time_masks=2, max_time_width=10, num_frequency_masks=2,
                 max_frequency_width=8, mask_value=0.0, seed=None, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        check_non_negative_int(num_time_masks=num_time_masks,
                               num_frequency_masks=num_frequency_masks)  # fmt: skip
        check_positive_int(max_time_width=max_time_width, max_frequency_width=max_frequency_width)
        self.num_time_masks = num_time_masks
        self.max_time_width = max_time_width
        self.num_frequency_masks = num_frequency_masks
        self.max_frequency_width = max_frequency_width
        self.mask_value = mask_value
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def _masks(self, batch, length, count, max_width):
        """Boolean `[batch, length]`: True where any of `count` masks falls."""
        positions = ops.arange(length)[None, :]
        masked = ops.zeros((batch, length), dtype="bool")
        for _ in range(count):
            width = ops.floor(keras.random.uniform((batch, 1), 0, max_width + 1,
                                                   seed=self.seed_generator))  # fmt: skip
            width = ops.minimum(width, ops.cast(length, width.dtype))
            start = ops.floor(keras.random.uniform((batch, 1), seed=self.seed_generator)
                              * (ops.cast(length, width.dtype) - width + 1))  # fmt: skip
            positions_f = ops.cast(positions, width.dtype)
            masked = masked | ((positions_f >= start) & (positions_f < start + width))
        return masked

    def call(self, inputs, training=None):
        if not training or not (self.num_time_masks or self.num_frequency_masks):
            return inputs
        shape = ops.shape(inputs)
        time = self._masks(shape[0], shape[1], self.num_time_masks, self.max_time_width)
        frequency = self._masks(shape[0], shape[2], self.num_frequency_masks,
                                self.max_frequency_width)  # fmt: skip
        masked = time[:, :, None] | frequency[:, None, :]
        return ops.where(masked, ops.cast(self.mask_value, inputs.dtype), inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            num_time_masks=self.num_time_masks,
            max_time_width=self.max_time_width,
            num_frequency_masks=self.num_frequency_masks,
            max_frequency_width=self.max_frequency_width,
            mask_value=self.mask_value,
            seed=self.seed,
        )
        return config

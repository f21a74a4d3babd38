import keras
from keras import ops

from sharedformer_tf.layers import layer_utils
from sharedformer_tf.validation import check_non_negative_int, check_positive_int


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class PatchEmbedding(keras.layers.Layer):
    """Splits images into non-overlapping patches, projects each to
    `hidden_dim`, optionally prepends a learned class token, and adds learned
    position embeddings (ViT).

    The projection is a `Conv2D` with kernel and stride `patch_size`, so it
    converts to TFLite builtin ops.

    Args:
        patch_size: int (square patches) or `(height, width)`; must divide
            the image height and width. A spectrogram `[frames, mel_bins, 1]`
            takes e.g. `(2, mel_bins)`: two whole frames a patch.
        hidden_dim: int. Size of each patch vector.
        use_class_token: bool. Prepend a learned class token.
        stem_filters: int. If > 0, a 3x3 convolution with this many filters
            and GELU runs before the patch projection (a convolutional stem,
            as in "Early Convolutions Help Transformers See Better", Xiao et
            al. 2021): overlapping local features that make small ViTs
            learn faster. 0 (default) is the plain linear patch projection.
        kernel_initializer: initializer of the projection kernel.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        images: float tensor `[batch, height, width, channels]`.

    Returns:
        Tensor `[batch, num_patches (+ 1 with the class token), hidden_dim]`.

    Example:

    >>> layer = PatchEmbedding(patch_size=4, hidden_dim=8)
    >>> tuple(layer(keras.ops.ones((2, 28, 28, 1))).shape)
    (2, 50, 8)
    """

    def __init__(
        self,
        patch_size,
        hidden_dim,
        use_class_token=True,
        stem_filters=0,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int(hidden_dim=hidden_dim)
        sizes = tuple(patch_size) if isinstance(patch_size, (tuple, list)) else (patch_size,) * 2
        if len(sizes) != 2:
            raise ValueError(f"`patch_size` must be an int or a pair. Received: {patch_size!r}")
        check_positive_int(patch_height=sizes[0], patch_width=sizes[1])
        self.patch_size = patch_size
        self._patch_hw = sizes
        self.hidden_dim = hidden_dim
        self.use_class_token = use_class_token
        check_non_negative_int(stem_filters=stem_filters)
        self.stem_filters = stem_filters
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, images_shape):
        height, width = images_shape[1], images_shape[2]
        patch_height, patch_width = self._patch_hw
        if height is None or width is None or height % patch_height or width % patch_width:
            raise ValueError(
                "Image height and width must be known and divisible by `patch_size`. "
                f"Received: images_shape={tuple(images_shape)}, patch_size={self.patch_size}"
            )
        self.num_patches = (height // patch_height) * (width // patch_width)
        self.stem = None
        if self.stem_filters:
            self.stem = keras.layers.Conv2D(
                self.stem_filters,
                3,
                padding="same",
                activation="gelu",
                kernel_initializer=layer_utils.clone_initializer(self.kernel_initializer, "stem"),
                dtype=self.dtype_policy,
                name="stem",
            )
            self.stem.build(images_shape)
            images_shape = self.stem.compute_output_shape(images_shape)
        self.projection = keras.layers.Conv2D(
            self.hidden_dim,
            self._patch_hw,
            strides=self._patch_hw,
            kernel_initializer=layer_utils.clone_initializer(self.kernel_initializer, "projection"),
            dtype=self.dtype_policy,
            name="projection",
        )
        self.projection.build(images_shape)
        length = self.num_patches + int(self.use_class_token)
        if self.use_class_token:
            self.class_token = self.add_weight(
                shape=(1, 1, self.hidden_dim), initializer="zeros", name="class_token"
            )
        self.position_embedding = self.add_weight(
            shape=(length, self.hidden_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="position_embedding",
        )
        self.built = True

    def call(self, images):
        x = self.projection(images if self.stem is None else self.stem(images))
        x = ops.reshape(x, (ops.shape(x)[0], self.num_patches, self.hidden_dim))
        if self.use_class_token:
            token = ops.cast(self.class_token, x.dtype)
            token = ops.broadcast_to(token, (ops.shape(x)[0], 1, self.hidden_dim))
            x = ops.concatenate([token, x], axis=1)
        return x + ops.cast(self.position_embedding, x.dtype)[None]

    def compute_output_shape(self, images_shape):
        height, width = images_shape[1], images_shape[2]
        patches = (height // self._patch_hw[0]) * (width // self._patch_hw[1])
        return (images_shape[0], patches + int(self.use_class_token), self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "patch_size": self.patch_size,
                "hidden_dim": self.hidden_dim,
                "use_class_token": self.use_class_token,
                "stem_filters": self.stem_filters,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config

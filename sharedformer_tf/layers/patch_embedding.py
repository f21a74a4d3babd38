import keras
from keras import ops

from sharedformer_tf.layers import layer_utils
from sharedformer_tf.validation import check_positive_int


def stem_stages(stem_filters):
    """The filters of each stem convolution as a tuple: `0` or `()` -> `()`,
    an int `n` -> `(n,)`; negative or non-integer entries raise."""
    stages = tuple(stem_filters) if isinstance(stem_filters, (tuple, list)) else (stem_filters,)
    if stages == (0,):
        return ()
    for filters in stages:
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise ValueError(
                "`stem_filters` must be 0, a positive int or a tuple of positive ints. "
                f"Received: stem_filters={stem_filters!r}"
            )
    return stages


def pooled_size(size, halvings):
    """`size` after `halvings` of the stem's stride-2 poolings (rounding up);
    `None` stays `None`."""
    for _ in range(halvings):
        size = None if size is None else -(-size // 2)
    return size


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
        stem_filters: int or tuple of ints. A convolutional stem before the
            patch projection: a 3x3 convolution per entry, with
            that many filters ("Early Convolutions Help Transformers See
            Better", Xiao et al. 2021): overlapping local features that
            make small ViTs learn faster. 0 or `()` (default): none, the
            plain linear patch projection.
        stem_pooling: bool. A 3x3 max pooling of stride 2 after each stem
            convolution, halving the grid (rounding up) each time, as in
            the convolutional tokenizer of Compact Convolutional
            Transformers (Hassani et al. 2021): e.g. three stages turn a
            28x28 image into a 4x4 grid, 16 tokens instead of 49 at
            `patch_size=4`, and the patches are taken from that grid.
        stem_activation: activation of the stem convolutions (default
            `"gelu"`; the convolutional tokenizer of CCT uses `"relu"`).
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
    >>> tokenizer = PatchEmbedding(patch_size=1, hidden_dim=8, stem_filters=(4, 8, 8),
    ...                            stem_pooling=True, stem_activation="relu",
    ...                            use_class_token=False)
    >>> tuple(tokenizer(keras.ops.ones((2, 28, 28, 1))).shape)
    (2, 16, 8)
    """

    def __init__(
        self,
        patch_size,
        hidden_dim,
        use_class_token=True,
        stem_filters=0,
        stem_pooling=False,
        stem_activation="gelu",
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
        self.stem_filters = stem_filters
        self._stem_filters = stem_stages(stem_filters)
        self.stem_pooling = bool(stem_pooling)
        self.stem_activation = stem_activation
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, images_shape):
        height, width = images_shape[1], images_shape[2]
        patch_height, patch_width = self._patch_hw
        grid = self._grid(height, width)
        if height is None or width is None or grid[0] % patch_height or grid[1] % patch_width:
            raise ValueError(
                "Image height and width must be known and divisible by `patch_size` (after "
                f"the stem's pooling: {grid[0]}x{grid[1]}). Received: "
                f"images_shape={tuple(images_shape)}, patch_size={self.patch_size}"
            )
        self.num_patches = (grid[0] // patch_height) * (grid[1] // patch_width)
        # The first convolution keeps the name `stem` of the one-convolution stem.
        self.stem, self.stem_convs = None, []
        for i, filters in enumerate(self._stem_filters):
            name = "stem" if i == 0 else f"stem_{i}"
            conv = keras.layers.Conv2D(
                filters,
                3,
                padding="same",
                activation=self.stem_activation,
                kernel_initializer=layer_utils.clone_initializer(self.kernel_initializer, name),
                dtype=self.dtype_policy,
                name=name,
            )
            conv.build(images_shape)
            images_shape = conv.compute_output_shape(images_shape)
            if self.stem_pooling:
                images_shape = (images_shape[0], -(-images_shape[1] // 2),
                                -(-images_shape[2] // 2), images_shape[3])  # fmt: skip
            if i == 0:
                self.stem = conv
            else:
                self.stem_convs.append(conv)
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

    def _grid(self, height, width):
        """Height and width of the grid the patches are taken from."""
        halvings = len(self._stem_filters) if self.stem_pooling else 0
        return pooled_size(height, halvings), pooled_size(width, halvings)

    def call(self, images):
        x = images
        for conv in [self.stem, *self.stem_convs] if self.stem is not None else []:
            x = conv(x)
            if self.stem_pooling:
                x = ops.max_pool(x, 3, strides=2, padding="same")
        x = self.projection(x)
        x = ops.reshape(x, (ops.shape(x)[0], self.num_patches, self.hidden_dim))
        if self.use_class_token:
            token = ops.cast(self.class_token, x.dtype)
            token = ops.broadcast_to(token, (ops.shape(x)[0], 1, self.hidden_dim))
            x = ops.concatenate([token, x], axis=1)
        return x + ops.cast(self.position_embedding, x.dtype)[None]

    def compute_output_shape(self, images_shape):
        height, width = self._grid(images_shape[1], images_shape[2])
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
                "stem_pooling": self.stem_pooling,
                "stem_activation": self.stem_activation,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config

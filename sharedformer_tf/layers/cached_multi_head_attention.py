import keras
from keras import ops

from sharedformer_tf.layers import layer_utils
from sharedformer_tf.validation import check_positive_int


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class CachedMultiHeadAttention(keras.layers.Layer):
    """Multi-head attention with an explicit key/value cache.

    The attention core (scores, mask, softmax in float32, weighted sum) is
    `keras.ops.dot_product_attention` with an explicit boolean mask, so the
    layer converts to TFLite builtin ops and compiles with XLA. Caches are
    plain tensors passed in and returned, so a stack can key them by depth
    while one instance serves several depths.

    Args:
        num_heads: int. Number of attention heads.
        key_dim: int. Size of each head.
        use_bias: bool. Whether the projections have biases.
        kernel_initializer: initializer for the projection kernels.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        query: tensor `[batch, query_length, hidden_dim]`.
        value: tensor `[batch, key_length, value_dim]`, or `None` for
            self-attention.
        attention_mask: boolean tensor `[batch, query_length, key_length]`
            (`True` = may attend), or `None`.
        cache: `None`, or tensor `[batch, 2, cache_length, num_heads,
            key_dim]` holding keys (index 0) and values (index 1), or a
            pair `(keys, values)`, each `[batch, num_heads, cache_length,
            key_dim]` (heads first: the layout of the attention's products,
            which read it with no copy at each decoding step under XLA),
            e.g. from `compute_key_value_heads`.
        cache_update_index: `None` or int scalar. With a cache and an
            index, the keys and values of `value` are written into the cache
            at this position first (incremental decoding). With a cache and no
            index, the cache is used as is (e.g. precomputed cross-attention).
        return_key_value: bool. Without a cache, also return the keys and
            values of `value` as a cache `[batch, 2, key_length, num_heads,
            key_dim]` (a stack that another call can read as its `cache`).
        lora: `None`, or the calling depth's `LoRADeltas` over this layer's
            projections (`"query_dense"`, `"key_dense"`, `"value_dense"`,
            `"output_dense"`), added to each projection.
        cache_slot: `None`, or int: `cache` is a stack of caches `[batch,
            slots, 2, cache_length, num_heads, key_dim]` (a decoder's, one
            slot per depth or group) of which this call reads and writes
            entry `cache_slot`, in place; the whole stack is returned. Not
            with a `(keys, values)` cache.

    Returns:
        Tensor `[batch, query_length, hidden_dim]`; with a cache or
        `return_key_value`, the tuple `(output, cache)`.

    Example:

    >>> layer = CachedMultiHeadAttention(num_heads=2, key_dim=4)
    >>> x = keras.random.normal((1, 3, 8))
    >>> tuple(layer(x).shape)
    (1, 3, 8)
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int(num_heads=num_heads, key_dim=key_dim)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _dense(self, units, name):
        return keras.layers.Dense(
            units,
            use_bias=self.use_bias,
            kernel_initializer=layer_utils.clone_initializer(self.kernel_initializer, name),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, query_shape, value_shape=None):
        value_shape = query_shape if value_shape is None else value_shape
        inner = self.num_heads * self.key_dim
        self.query_dense = self._dense(inner, "query")
        self.query_dense.build(query_shape)
        self.key_dense = self._dense(inner, "key")
        self.key_dense.build(value_shape)
        self.value_dense = self._dense(inner, "value")
        self.value_dense.build(value_shape)
        self.output_dense = self._dense(query_shape[-1], "attention_output")
        self.output_dense.build(tuple(query_shape[:-1]) + (inner,))
        self.built = True

    LORA_TARGETS = ("query_dense", "key_dense", "value_dense", "output_dense")

    def _split_heads(self, x):
        shape = ops.shape(x)
        return ops.reshape(x, (shape[0], shape[1], self.num_heads, self.key_dim))

    def compute_key_value_cache(self, value, lora=None):
        """Projects `value` `[batch, length, dim]` to a cache
        `[batch, 2, length, num_heads, key_dim]` (e.g. for cross-attention),
        with the calling depth's `lora` deltas if given."""
        key = self._split_heads(layer_utils.project(self, "key_dense", value, lora))
        value = self._split_heads(layer_utils.project(self, "value_dense", value, lora))
        return ops.stack([key, value], axis=1)

    def compute_key_value_heads(self, value, lora=None):
        """Projects `value` `[batch, length, dim]` to a read-only cache
        `(keys, values)`, each `[batch, num_heads, length, key_dim]`, with
        the calling depth's `lora` deltas if given. A decoding loop reads it
        at every step (cross-attention); in this layout the attention's
        products read it as it is, where under XLA on a CPU the layout of
        `compute_key_value_cache` costs a copy of the keys and values per
        step and depth."""
        key = self._split_heads(layer_utils.project(self, "key_dense", value, lora))
        value = self._split_heads(layer_utils.project(self, "value_dense", value, lora))
        return ops.transpose(key, (0, 2, 1, 3)), ops.transpose(value, (0, 2, 1, 3))

    def call(
        self,
        query,
        value=None,
        attention_mask=None,
        cache=None,
        cache_update_index=None,
        return_key_value=False,
        lora=None,
        cache_slot=None,
    ):
        value = query if value is None else value
        q = self._split_heads(layer_utils.project(self, "query_dense", query, lora))
        heads_first = isinstance(cache, (tuple, list))
        if heads_first and cache_slot is not None:
            raise ValueError(
                "A `(keys, values)` cache is one slot: it takes no `cache_slot`. "
                f"Received: cache_slot={cache_slot}"
            )
        if cache is not None and cache_update_index is None:
            key, val = cache if heads_first else layer_utils.read_cache(cache, cache_slot)
        elif heads_first:
            new = self.compute_key_value_heads(value, lora)
            cache = layer_utils.write_cache(cache, new, cache_update_index)
            key, val = cache
        else:
            # Keys and values are stacked only to write a cache: the stack and
            # slices copy them forward and backward (measured: half of this
            # layer's train-step time at hidden size 128 on a CPU).
            key = self._split_heads(layer_utils.project(self, "key_dense", value, lora))
            val = self._split_heads(layer_utils.project(self, "value_dense", value, lora))
            if cache is not None:
                new = ops.stack([key, val], axis=1)
                cache = layer_utils.write_cache(cache, new, cache_update_index, cache_slot)
                key, val = layer_utils.read_cache(cache, cache_slot)
        mask = None
        if attention_mask is not None:
            mask = ops.expand_dims(ops.cast(attention_mask, "bool"), axis=1)
        out = layer_utils.dot_product_attention(q, key, val, mask, heads_first=heads_first)
        shape = ops.shape(out)
        out = ops.reshape(out, (shape[0], shape[1], self.num_heads * self.key_dim))
        out = layer_utils.project(self, "output_dense", out, lora)
        if cache is None and return_key_value:
            return out, ops.stack([key, val], axis=1)
        if cache is None:
            return out
        return out, cache

    def compute_output_shape(self, query_shape, value_shape=None):
        return query_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config

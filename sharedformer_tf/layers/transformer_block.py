import keras

from sharedformer_tf.layers import layer_utils
from sharedformer_tf.layers.cached_multi_head_attention import CachedMultiHeadAttention
from sharedformer_tf.layers.feed_forward import FeedForward
from sharedformer_tf.layers.lora_deltas import LoRADeltas
from sharedformer_tf.validation import check_heads, check_positive_int, check_rate

SUBLAYER_NAMES = (
    "self_attention",
    "self_attention_norm",
    "cross_attention",
    "cross_attention_norm",
    "feed_forward",
    "feed_forward_norm",
    "adapter",
    "self_attention_lora",
    "cross_attention_lora",
    "feed_forward_lora",
)
LORA_SUBLAYERS = ("self_attention", "cross_attention", "feed_forward")


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class TransformerBlock(keras.layers.Layer):
    """Transformer block: self-attention, optional cross-attention and a
    feed-forward network, each in a residual branch with pre- or post-LN.

    Cross-layer sharing uses `shared_sublayers`: a block can be given
    sublayer instances that another block owns (and calls), so the same
    attention or feed-forward weights serve several depths without any
    variable being copied. Sublayers not given are created in `build()`.
    `get_config()` does not record `shared_sublayers`: the stack that wires
    the sharing recreates it, while `from_config` of a lone block gives a
    block that owns all its sublayers.

    Args:
        num_heads: int. Number of attention heads; must divide the hidden
            size of the inputs.
        intermediate_dim: int. Hidden width of the feed-forward network.
        use_cross_attention: bool. Adds attention over `encoder_outputs`.
        norm_first: bool. Pre-LN (`x + f(norm(x))`) when `True`, post-LN
            (`norm(x + f(x))`) when `False`.
        dropout: float. Dropout on each residual branch and inside the
            feed-forward network.
        activation: activation of the feed-forward network.
        layer_norm_epsilon: float. Epsilon of the layer norms.
        kernel_initializer: initializer of all kernels.
        adapter_dim: int or `None`. Width of a small feed-forward network of
            this block's own, run in parallel to the (possibly shared)
            feed-forward network on the same normalized input and added to
            its output; its output kernel starts at zero. A block-private
            adapter lets depths that share weights still differ (relaxed
            sharing, as the per-depth low-rank modules of Relaxed Recursive
            Transformers; parallel adapters of He et al., 2022). `None`
            (default): no adapter.
        lora_rank: int or `None`. Gives this block its own `LoRADeltas` of
            this rank over the kernels of each attention and feed-forward
            sublayer (`self_attention_lora`, ...): the block projects with
            `W + A B` where the shared sublayer uses `W` (per-depth LoRA of
            Relaxed Recursive Transformers). Zero at first. `None`
            (default): none.
        shared_sublayers: optional dict from sublayer name (`"self_attention"`,
            `"self_attention_norm"`, `"cross_attention"`,
            `"cross_attention_norm"`, `"feed_forward"`, `"feed_forward_norm"`,
            `"adapter"`, `"self_attention_lora"`, `"cross_attention_lora"`,
            `"feed_forward_lora"`) to a layer instance to reuse.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: tensor `[batch, length, hidden_dim]`.
        self_attention_mask: boolean `[batch, length, key_length]` or `None`.
        encoder_outputs: tensor `[batch, source_length, hidden_dim]`; needed
            for cross-attention unless `cross_attention_cache` is given.
        cross_attention_mask: boolean `[batch, length, source_length]` or
            `None`.
        self_attention_cache: `None`, `[batch, 2, max_length, num_heads,
            head_dim]` or a heads-first pair `(keys, values)`, each `[batch,
            num_heads, max_length, head_dim]`; updated at
            `cache_update_index` (read as is without it).
        cache_update_index: int scalar, position of `inputs[:, 0]`.
        cross_attention_cache: `None`, or precomputed keys and values of
            the encoder: a pair `(keys, values)`, each `[batch, num_heads,
            source_length, head_dim]`, or `[batch, 2, source_length,
            num_heads, head_dim]` (see `CachedMultiHeadAttention`).
        return_self_attention_cache: bool. Without a cache, also return this
            block's self-attention keys and values of `inputs` as a cache
            `[batch, 2, length, num_heads, head_dim]` (recursive key/value
            sharing: later depths read it).
        training: bool, whether dropout is active.
        cache_slot: `None`, or int: `self_attention_cache` is a decoder's
            stack of caches `[batch, slots, 2, max_length, num_heads,
            head_dim]` and this block uses entry `cache_slot` (see
            `CachedMultiHeadAttention`).

    Returns:
        Tensor `[batch, length, hidden_dim]`; with a `self_attention_cache`
        or `return_self_attention_cache`, the tuple `(outputs,
        self_attention_cache)`.

    Example:

    >>> block = TransformerBlock(num_heads=2, intermediate_dim=16)
    >>> tuple(block(keras.ops.ones((2, 5, 8))).shape)
    (2, 5, 8)
    >>> tied = TransformerBlock(
    ...     num_heads=2, intermediate_dim=16,
    ...     shared_sublayers={"self_attention": block.self_attention})
    >>> tuple(tied(keras.ops.ones((2, 5, 8))).shape)
    (2, 5, 8)
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        use_cross_attention=False,
        norm_first=True,
        dropout=0.0,
        activation="relu",
        layer_norm_epsilon=1e-5,
        kernel_initializer="glorot_uniform",
        adapter_dim=None,
        lora_rank=None,
        shared_sublayers=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        shared_sublayers = dict(shared_sublayers or {})
        unknown = sorted(set(shared_sublayers) - set(SUBLAYER_NAMES))
        if unknown:
            raise ValueError(
                f"Unknown keys in `shared_sublayers`: {unknown}. Expected keys "
                f"among {SUBLAYER_NAMES}. Received: {sorted(shared_sublayers)}"
            )
        if not use_cross_attention:
            cross = [k for k in shared_sublayers if k.startswith("cross")]
            if cross:
                raise ValueError(
                    "`shared_sublayers` has cross-attention entries but "
                    f"use_cross_attention=False. Received: {cross}"
                )
        check_positive_int(num_heads=num_heads, intermediate_dim=intermediate_dim)
        if adapter_dim is not None:
            check_positive_int(adapter_dim=adapter_dim)
        if lora_rank is not None:
            check_positive_int(lora_rank=lora_rank)
        check_rate(dropout=dropout)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.use_cross_attention = use_cross_attention
        self.norm_first = norm_first
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.adapter_dim = adapter_dim
        self.lora_rank = lora_rank
        self.shared_sublayers = shared_sublayers

    def _sublayer(self, name, *shapes):
        """Returns the shared instance for `name`, or creates its own."""
        layer = self.shared_sublayers.get(name)
        if layer is None:
            if name.endswith("_norm"):
                layer = keras.layers.LayerNormalization(
                    epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
                )
            elif name == "feed_forward":
                layer = FeedForward(
                    self.intermediate_dim,
                    activation=self.activation,
                    dropout=self.dropout,
                    kernel_initializer=layer_utils.clone_initializer(self.kernel_initializer, name),
                    dtype=self.dtype_policy,
                    name=name,
                )
            else:
                layer = CachedMultiHeadAttention(
                    self.num_heads,
                    self.key_dim,
                    kernel_initializer=layer_utils.clone_initializer(self.kernel_initializer, name),
                    dtype=self.dtype_policy,
                    name=name,
                )
        if not layer.built:
            layer.build(*shapes)
        return layer

    def build(self, inputs_shape, encoder_outputs_shape=None):
        hidden_dim = inputs_shape[-1]
        if hidden_dim is None:
            raise ValueError(f"The hidden size must be known. Received: shape={inputs_shape}")
        check_heads(hidden_dim, self.num_heads)
        self.key_dim = hidden_dim // self.num_heads
        inputs_shape = tuple(inputs_shape)
        self.self_attention_norm = self._sublayer("self_attention_norm", inputs_shape)
        self.self_attention = self._sublayer("self_attention", inputs_shape)
        if self.use_cross_attention:
            source_shape = tuple(encoder_outputs_shape or inputs_shape)
            self.cross_attention_norm = self._sublayer("cross_attention_norm", inputs_shape)
            self.cross_attention = self._sublayer("cross_attention", inputs_shape, source_shape)
        self.feed_forward_norm = self._sublayer("feed_forward_norm", inputs_shape)
        self.feed_forward = self._sublayer("feed_forward", inputs_shape)
        if self.adapter_dim is not None:
            self.adapter = self.shared_sublayers.get("adapter") or FeedForward(
                self.adapter_dim,
                activation=self.activation,
                dropout=self.dropout,
                kernel_initializer=layer_utils.clone_initializer(
                    self.kernel_initializer, "adapter"
                ),
                output_kernel_initializer="zeros",
                dtype=self.dtype_policy,
                name="adapter",
            )
            if not self.adapter.built:
                self.adapter.build(inputs_shape)
        for name in LORA_SUBLAYERS if self.lora_rank is not None else ():
            if hasattr(self, name):
                setattr(self, f"{name}_lora", self._lora_deltas(name))
        self.residual_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="residual_dropout"
        )
        self.built = True

    def _lora_deltas(self, name):
        """The shared or new `LoRADeltas` over the sublayer `name`'s kernels."""
        layer = self.shared_sublayers.get(f"{name}_lora")
        if layer is None:
            layer = LoRADeltas(
                self.lora_rank,
                layer_utils.lora_kernel_shapes(getattr(self, name)),
                dtype=self.dtype_policy,
                name=f"{name}_lora",
            )
        if not layer.built:
            layer.build()
        return layer

    def lora(self, name):
        """This block's `LoRADeltas` over the sublayer `name`, or `None`."""
        return getattr(self, f"{name}_lora", None)

    @property
    def relaxation_layers(self):
        """This depth's relaxations of its shared sublayers: its adapter and
        its `LoRADeltas`, those it has."""
        found = [getattr(self, "adapter", None)] + [self.lora(name) for name in LORA_SUBLAYERS]
        return [layer for layer in found if layer is not None]

    def _residual(self, x, branch_output, norm, training):
        """Adds a branch output computed from `norm(x)` (pre-LN) or `x`."""
        x = x + self.residual_dropout(branch_output, training=training)
        return x if self.norm_first else norm(x)

    def call(
        self,
        inputs,
        self_attention_mask=None,
        encoder_outputs=None,
        cross_attention_mask=None,
        self_attention_cache=None,
        cache_update_index=None,
        cross_attention_cache=None,
        return_self_attention_cache=False,
        training=None,
        cache_slot=None,
    ):
        x = inputs
        h = self.self_attention_norm(x) if self.norm_first else x
        lora = self.lora("self_attention")
        if self_attention_cache is None and return_self_attention_cache:
            h, self_attention_cache = self.self_attention(
                h, attention_mask=self_attention_mask, return_key_value=True, lora=lora
            )
        elif self_attention_cache is None:
            h = self.self_attention(h, attention_mask=self_attention_mask, lora=lora)
        else:
            h, self_attention_cache = self.self_attention(
                h,
                attention_mask=self_attention_mask,
                cache=self_attention_cache,
                cache_update_index=cache_update_index,
                lora=lora,
                cache_slot=cache_slot,
            )
        x = self._residual(x, h, self.self_attention_norm, training)

        if self.use_cross_attention:
            h = self.cross_attention_norm(x) if self.norm_first else x
            lora = self.lora("cross_attention")
            if cross_attention_cache is not None:
                h, _ = self.cross_attention(
                    h, attention_mask=cross_attention_mask, cache=cross_attention_cache, lora=lora
                )
            elif encoder_outputs is not None:
                h = self.cross_attention(
                    h, encoder_outputs, attention_mask=cross_attention_mask, lora=lora
                )
            else:
                raise ValueError(
                    "A block with cross-attention needs `encoder_outputs` or "
                    "`cross_attention_cache`. Received: both None"
                )
            x = self._residual(x, h, self.cross_attention_norm, training)

        h = self.feed_forward_norm(x) if self.norm_first else x
        out = self.feed_forward(h, training=training, lora=self.lora("feed_forward"))
        if self.adapter_dim is not None:
            out = out + self.adapter(h, training=training)
        x = self._residual(x, out, self.feed_forward_norm, training)
        if self_attention_cache is None:
            return x
        return x, self_attention_cache

    def write_self_attention_cache(self, inputs, self_attention_cache, cache_update_index,
                                   cache_slot=None):  # fmt: skip
        """Writes the self-attention keys and values of `inputs` into the
        cache at `cache_update_index`, computing nothing else: what a depth
        an early-exited token skips still owes the tokens after it.

        Args:
            inputs: float tensor `[batch, length, hidden_dim]`, the block's
                input.
            self_attention_cache: `[batch, 2, max_length, num_heads,
                head_dim]`, or heads-first `(keys, values)` (see `call`).
            cache_update_index: int scalar, the position of `inputs`' first
                token.
            cache_slot: `None`, or int: the cache is a stack of caches and
                entry `cache_slot` is written (see `call`).

        Returns:
            The updated cache.
        """
        h = self.self_attention_norm(inputs) if self.norm_first else inputs
        lora = self.lora("self_attention")
        if isinstance(self_attention_cache, (tuple, list)):
            new = self.self_attention.compute_key_value_heads(h, lora=lora)
        else:
            new = self.self_attention.compute_key_value_cache(h, lora=lora)
        return layer_utils.write_cache(self_attention_cache, new, cache_update_index, cache_slot)

    def compute_output_shape(self, inputs_shape, encoder_outputs_shape=None):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "use_cross_attention": self.use_cross_attention,
                "norm_first": self.norm_first,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "adapter_dim": self.adapter_dim,
                "lora_rank": self.lora_rank,
            }
        )
        return config

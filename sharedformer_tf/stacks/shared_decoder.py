import keras
from keras import ops

from sharedformer_tf.layers import layer_utils
from sharedformer_tf.sharing.sharing_plan import SharingPlan
from sharedformer_tf.stacks.shared_encoder import SharedEncoder
from sharedformer_tf.stacks.shared_stack import SharedStack

KV_SHARING = ("none", "group")


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class SharedDecoder(SharedStack):
    """Causal Transformer decoder, with cross-attention or decoder-only, whose
    depths share parameters by a `SharingPlan`, with cached step-by-step
    decoding.

    The caches have one slot per depth, one tensor `[batch, max_depth, 2,
    length, num_heads, head_dim]` or a tuple of heads-first `(keys, values)`
    pairs (`init_cache(..., per_slot=True)`): a sublayer shared by several
    depths still keeps a separate key/value history for each depth it serves. With
    `kv_sharing="group"` (Mixture-of-Recursions' recursive key/value sharing)
    the depths of a self-attention group share one slot: the group's first
    depth computes the keys and values, its later depths attend to them with
    their own queries, in training as in decoding, so the cache holds one
    slot per group (`num_cache_slots`).

    With `tied_encoder`, decoder depth `d` reuses the encoder's self-attention
    and feed-forward instances of group `d`'s group (W_i^E = W_i^D); the
    cross-attention and the layer norms stay the decoder's own.

    The cross-attention follows `plan.assignments_of("cross_attention")`:
    the self-attention groups unless the plan assigns cross-attention
    explicitly, e.g. `plan.with_assignments(cross_attention="AAAA")` makes
    one cross-attention instance serve every depth, so its keys and values
    are computed once per source. `cross_attention_plan` is the shorthand for
    that (folded into `plan`).

    Args:
        plan: `SharingPlan` (or its config dict).
        num_heads: int. Attention heads; must divide the hidden size.
        intermediate_dim: int. Hidden width of the feed-forward networks.
        dropout: float. Residual and feed-forward dropout rate.
        norm_first: bool. Pre-LN (with a final layer norm) or post-LN.
        activation: activation of the feed-forward networks.
        layer_norm_epsilon: float. Epsilon of the layer norms.
        per_depth_norms: bool. Unshared layer norms at every depth.
        use_depth_embedding: bool. Learned per-depth vector added before each
            depth (Universal Transformer).
        kernel_initializer: initializer of all kernels.
        adapter_dim: int or `None`. Gives every depth its own small
            feed-forward adapter of this width beside the shared feed-forward
            network (see `TransformerBlock`), so depths sharing weights can
            still differ; `None` (default): none.
        lora_rank: int or `None`. Gives every depth its own `LoRADeltas`
            of this rank over the kernels of its attention and feed-forward
            sublayers (per-depth LoRA; see `TransformerBlock`); `None`
            (default): none.
        depths: list of ints or `None`. Depths the stack can also run,
            chosen per call (elastic depth; see `SharedEncoder`); the cache
            has a slot for each of `max(depths)` positions.
        use_cross_attention: bool. `False` makes a decoder-only stack
            (causal self-attention and feed-forward at every depth, as in a
            language model): no `encoder_outputs`, no cross-attention cache.
        cross_attention_plan: shorthand: a `SharingPlan` (or its config
            dict) with `plan.num_layers` depths whose attention groups become
            `plan`'s explicit cross-attention assignments; `None` (default)
            keeps `plan`'s. Its `scope` does not apply.
        kv_sharing: `"none"` (default) or `"group"`: depths that share a
            self-attention instance also share its keys and values (those of
            the group's first depth) and one cache slot.
        tied_encoder: a `SharedEncoder` whose sublayers this decoder reuses, or
            `None`. Not part of `get_config()`: the model owning both stacks
            ties them again when it is rebuilt.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: float tensor `[batch, length, hidden_dim]`.
        encoder_outputs: `[batch, source_length, hidden_dim]`; may be `None`
            when `cross_attention_cache` is given.
        decoder_padding_mask: boolean `[batch, length]` or `None`.
        encoder_padding_mask: boolean `[batch, source_length]` or `None`.
        self_attention_cache: `None`, `[batch, num_cache_slots, 2,
            max_length, num_heads, head_dim]` or a tuple of
            `num_cache_slots` heads-first `(keys, values)` pairs; see
            `init_cache`. Returned in the layout it came in.
        cache_update_index: int scalar, position of `inputs[:, 0]` in the
            cache.
        cross_attention_cache: `None` or the result of
            `compute_cross_attention_cache(encoder_outputs, depth)`.
        training: bool, whether dropout is active.
        depth: int, one of `depths`: how many depths to run; `None`:
            `plan.num_layers`.
        exit_threshold: float or `None`. Per-token early exit, a rule that
            needs no training (the hidden-state saturation of CALM,
            Schuster et al. 2022): at each of `depths` below `depth`, a
            token whose hidden state the depth just before it changed by
            less than this fraction of its norm (`|x_d - x_(d-1)| / |x_d|`)
            stops there; its state is then copied forward unchanged
            through the depths it skips, and their keys and values (what
            later tokens attend to) are computed from it, so cached
            decoding equals the full pass with the same exits. A cached
            step whose tokens have all exited runs only those key/value
            projections for the remaining depths. Needs
            depths whose shallower runs start the deeper ones (`cycle`,
            `all`). `None` (default): no exit.
        return_exit_depths: bool. Also return int32 `[batch, length]`, the
            depth each token left at (`depth` for tokens that did not exit).

    Returns:
        Tensor `[batch, length, hidden_dim]`; with a `self_attention_cache`,
        the tuple `(outputs, self_attention_cache)`; with
        `return_exit_depths`, the exit depths appended.

    Example:

    >>> from sharedformer_tf import SharingPlan
    >>> decoder = SharedDecoder(SharingPlan(4, 2, strategy="cycle"),
    ...                         num_heads=2, intermediate_dim=16)
    >>> y, memory = keras.ops.ones((2, 3, 8)), keras.ops.ones((2, 5, 8))
    >>> tuple(decoder(y, memory).shape)
    (2, 3, 8)
    >>> causal = SharedDecoder(SharingPlan(4, 2, strategy="cycle"), num_heads=2,
    ...                        intermediate_dim=16, use_cross_attention=False)
    >>> tuple(causal(y).shape)
    (2, 3, 8)
    """

    def __init__(self, *args, use_cross_attention=True, cross_attention_plan=None,
                 kv_sharing="none", tied_encoder=None, **kwargs):  # fmt: skip
        super().__init__(*args, **kwargs)
        if kv_sharing not in KV_SHARING:
            raise ValueError(
                f"`kv_sharing` must be one of {KV_SHARING}. Received: kv_sharing={kv_sharing!r}"
            )
        self.kv_sharing = kv_sharing
        self.use_cross_attention = bool(use_cross_attention)
        if cross_attention_plan is not None and not self.use_cross_attention:
            raise ValueError(
                "A decoder without cross-attention takes no `cross_attention_plan`. "
                f"Received: cross_attention_plan={cross_attention_plan!r}"
            )
        if cross_attention_plan is not None:
            cross_attention_plan = SharingPlan.coerce(cross_attention_plan)
            if cross_attention_plan.num_layers != self.plan.num_layers:
                raise ValueError(
                    "`cross_attention_plan` must have as many depths as `plan`. "
                    f"Received: cross_attention_plan={cross_attention_plan!r}, "
                    f"plan={self.plan!r}"
                )
            self.plan = self.plan.with_assignments(
                cross_attention=cross_attention_plan.attention_assignments
            )
            self.depths = self._check_depths(list(self.depths))  # with those assignments
        if tied_encoder is not None:
            self._check_tied_encoder(tied_encoder)
        self.tied_encoder = tied_encoder

    def _check_tied_encoder(self, encoder):
        if not isinstance(encoder, SharedEncoder):
            raise TypeError(
                "`tied_encoder` must be a `SharedEncoder`. "
                f"Received: tied_encoder of type {type(encoder).__name__}"
            )
        for arg in ("num_heads", "intermediate_dim", "activation"):
            if getattr(encoder, arg) != getattr(self, arg):
                raise ValueError(
                    f"A tied encoder must match the decoder's `{arg}`. Received: "
                    f"encoder {arg}={getattr(encoder, arg)!r}, "
                    f"decoder {arg}={getattr(self, arg)!r}"
                )
        for kind in ("self_attention", "feed_forward"):
            mine, theirs = self.plan.groups_of(kind), encoder.plan.groups_of(kind)
            if mine > theirs:
                raise ValueError(
                    f"Encoder-decoder sharing needs the encoder to have at least "
                    f"as many {kind} groups as the decoder. Received: decoder "
                    f"plan {self.plan!r} with {mine} groups, encoder plan "
                    f"{encoder.plan!r} with {theirs} groups"
                )

    def _sublayer_source(self, name, group, position):
        encoder = self.tied_encoder
        if encoder is not None and name in ("self_attention", "feed_forward"):
            # The encoder's owner of the same group.
            return getattr(encoder.blocks[encoder.plan.group_owner(group, name)], name)
        return super()._sublayer_source(name, group, position)

    def build(self, inputs_shape, encoder_outputs_shape=None):
        if self.tied_encoder is not None and not self.tied_encoder.built:
            self.tied_encoder.build(encoder_outputs_shape or inputs_shape)
        self._build_blocks(inputs_shape, encoder_outputs_shape)

    @property
    def cross_attention_layers(self):
        """The cross-attention instance of each cross-attention group (none
        without cross-attention)."""
        return self._sublayer_groups("cross_attention") if self.use_cross_attention else []

    @property
    def head_dim(self):
        return self.blocks[0].key_dim

    @property
    def num_cache_slots(self):
        """Key/value slots of the self-attention cache: one per depth (up to
        `max_depth`), or one per self-attention group with
        `kv_sharing="group"`."""
        if self.kv_sharing == "group":
            return self.plan.groups_of("self_attention")
        return self.max_depth

    def cache_slot(self, position, depth=None):
        """The self-attention cache slot of `position` when the stack runs
        `depth` depths (`None`: `num_layers`)."""
        if self.kv_sharing == "group":
            return self._groups_at(depth or self.num_layers)["self_attention"][position]
        return position

    def _reads_shared_keys(self, position, depth):
        """Whether `position` attends to the keys and values of the first
        position of its self-attention group."""
        if self.kv_sharing != "group":
            return False
        groups = self._groups_at(depth)["self_attention"]
        return groups.index(groups[position]) != position

    def init_cache(self, batch_size, max_length, dtype=None, per_slot=False):
        """Zero self-attention cache `[batch, num_cache_slots, 2, max_length,
        num_heads, head_dim]`; with `per_slot`, a tuple of `num_cache_slots`
        pairs `(keys, values)`, each `[batch, num_heads, max_length,
        head_dim]`: separate tensors in the layout of the attention's
        products, which a decoding loop under XLA on a CPU updates and reads
        without copying (the stacked layout costs a copy of every slot's keys
        and values per step and depth)."""
        dtype = dtype or self.compute_dtype
        if per_slot:
            shape = (batch_size, self.num_heads, max_length, self.head_dim)
            return tuple((ops.zeros(shape, dtype), ops.zeros(shape, dtype))
                         for _ in range(self.num_cache_slots))  # fmt: skip
        return ops.zeros(
            (batch_size, self.num_cache_slots, 2, max_length, self.num_heads, self.head_dim),
            dtype=dtype,
        )

    def compute_cross_attention_cache(self, encoder_outputs, depth=None):
        """Keys and values of `encoder_outputs` for every depth the stack
        runs at `depth` (`None`: `num_layers`): a tuple with one `(keys,
        values)` pair per depth, each `[batch, num_heads, source_length,
        head_dim]` (see `CachedMultiHeadAttention.compute_key_value_heads`).
        Depths that share a cross-attention instance share one computation
        (the same pair)."""
        if not self.use_cross_attention:
            raise ValueError("This decoder has no cross-attention. Received: "
                             "use_cross_attention=False")  # fmt: skip
        per_layer = {}
        slots = []
        for block in self.blocks_at(depth):
            layer, lora = block.cross_attention, block.lora("cross_attention")
            key = (id(layer), id(lora))  # per-depth LoRA makes each depth's own
            if key not in per_layer:
                per_layer[key] = layer.compute_key_value_heads(encoder_outputs, lora=lora)
            slots.append(per_layer[key])
        return tuple(slots)

    def call(
        self,
        inputs,
        encoder_outputs=None,
        decoder_padding_mask=None,
        encoder_padding_mask=None,
        self_attention_cache=None,
        cache_update_index=None,
        cross_attention_cache=None,
        training=None,
        depth=None,
        exit_threshold=None,
        return_exit_depths=False,
    ):
        depth = self.num_layers if depth is None else depth
        if not self.use_cross_attention and (
            encoder_outputs is not None or cross_attention_cache is not None
        ):
            raise ValueError(
                "A decoder without cross-attention takes no `encoder_outputs` or "
                "`cross_attention_cache`. Received: use_cross_attention=False"
            )
        length = ops.shape(inputs)[1]
        per_slot = isinstance(self_attention_cache, (tuple, list))
        if self_attention_cache is None:
            start, key_length = 0, length
        else:
            if cache_update_index is None:
                raise ValueError(
                    "`cache_update_index` is required with `self_attention_cache`. "
                    "Received: cache_update_index=None"
                )
            start = cache_update_index
            if per_slot:  # (keys, values) of slot 0: [batch, heads, max_length, head_dim]
                key_length = ops.shape(self_attention_cache[0][0])[2]
            else:
                key_length = ops.shape(self_attention_cache)[3]
        self_mask = layer_utils.causal_mask(length, key_length, start)
        if decoder_padding_mask is not None and self_attention_cache is None:
            self_mask = layer_utils.merge_masks(
                self_mask,
                layer_utils.padding_mask_to_attention_mask(decoder_padding_mask, length),
            )
        cross_mask = None
        if encoder_padding_mask is not None:
            cross_mask = layer_utils.padding_mask_to_attention_mask(encoder_padding_mask, length)

        full_pass_sharing = self_attention_cache is None and self.kv_sharing == "group"
        if full_pass_sharing:  # filled by each group's first depth
            slots = [None] * self.num_cache_slots
        elif per_slot:  # decoding: every depth reads and writes its own pair
            slots = tuple(self_attention_cache)
        else:  # decoding: every depth reads and writes its slot of the one cache tensor
            slots = self_attention_cache
        blocks = self.blocks_at(depth)
        exit_points = []
        if exit_threshold is not None:
            exit_points = [d for d in self.depths if d < depth]
            self.exit_depth([*exit_points, depth])  # refuses plans that cannot exit

        def run(position, x, slots):
            x = self._enter_depth(x, position)
            cross_cache = None
            if cross_attention_cache is not None:
                cross_cache = cross_attention_cache[position]
            kwargs = dict(self_attention_mask=self_mask, encoder_outputs=encoder_outputs,
                          cross_attention_mask=cross_mask, cross_attention_cache=cross_cache,
                          training=training)  # fmt: skip
            if slots is None:
                return blocks[position](x, **kwargs), slots
            slot = self.cache_slot(position, depth)
            reads = self._reads_shared_keys(position, depth)
            if full_pass_sharing:
                slots = list(slots)
                if not reads:
                    # The group's first depth: its keys and values of the
                    # whole input, for the later depths of its group.
                    x, slots[slot] = blocks[position](x, return_self_attention_cache=True,
                                                      **kwargs)  # fmt: skip
                else:
                    x, _ = blocks[position](x, self_attention_cache=slots[slot], **kwargs)
                return x, slots
            # A depth reading its owner's keys and values writes nothing.
            index = None if reads else cache_update_index
            if per_slot:
                x, pair = blocks[position](x, self_attention_cache=slots[slot],
                                           cache_update_index=index, **kwargs)  # fmt: skip
                return x, slots[:slot] + (pair,) + slots[slot + 1 :]
            return blocks[position](
                x, self_attention_cache=slots, cache_slot=slot, cache_update_index=index,
                **kwargs,
            )  # fmt: skip

        def write_rest(start, x, slots):
            """Every token has exited: the remaining depths only write the
            keys and values of the copied state."""
            for position in range(start, depth):
                if self._reads_shared_keys(position, depth):
                    continue
                slot, h = self.cache_slot(position, depth), self._enter_depth(x, position)
                write = blocks[position].write_self_attention_cache
                if per_slot:
                    pair = write(h, slots[slot], cache_update_index)
                    slots = slots[:slot] + (pair,) + slots[slot + 1 :]
                else:
                    slots = write(h, slots, cache_update_index, cache_slot=slot)
            return x, slots

        bounds = [0, *exit_points, depth]

        def segment(i, x, slots, active, used):
            for position in range(bounds[i], bounds[i + 1]):
                before = x
                y, slots = run(position, x, slots)
                x = y if active is None else ops.where(active[..., None], y, x)
            if i + 2 == len(bounds):
                return x, slots, used
            state = ops.cast(x, "float32")
            step = state - ops.cast(before, "float32")  # what the last depth changed
            change = ops.norm(step, axis=-1) / (ops.norm(state, axis=-1) + 1e-6)
            leaving = ops.logical_and(active, change < exit_threshold)
            used = ops.where(leaving, bounds[i + 1], used)
            active = ops.logical_and(active, ops.logical_not(leaving))
            if self_attention_cache is None:  # a full pass: some token always runs on
                return segment(i + 1, x, slots, active, used)
            return ops.cond(
                ops.any(active),
                lambda: segment(i + 1, x, slots, active, used),
                lambda: (*write_rest(bounds[i + 1], x, slots), used),
            )

        active = used = None
        if exit_threshold is not None:
            active = ops.ones(ops.shape(inputs)[:2], "bool")
            used = ops.full(ops.shape(inputs)[:2], depth, "int32")
        x, slots, used = segment(0, inputs, slots, active, used)
        x = self._finish(x)
        outputs = (x,) if self_attention_cache is None else (x, slots)
        if return_exit_depths:
            outputs += (used if used is not None else ops.full(ops.shape(inputs)[:2], depth,
                                                                "int32"),)  # fmt: skip
        return outputs[0] if len(outputs) == 1 else outputs

    def get_config(self):
        config = super().get_config()
        config["use_cross_attention"] = self.use_cross_attention
        config["kv_sharing"] = self.kv_sharing
        return config

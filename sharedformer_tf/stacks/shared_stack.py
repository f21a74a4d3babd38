"""How sharing works: one Keras layer instance called at several depths.

A `SharingPlan` maps each depth of a stack to a parameter group, separately
for each sublayer kind (self-attention, cross-attention, feed-forward). Six
depths over three groups with `cycle_rev` (Takase & Kiyono's CYCLE(REV)) read
A B C C B A:

    depth:          0    1    2    3    4    5
    group:          A    B    C    C    B    A
    block:        [b0] [b1] [b2] [b3] [b4] [b5]    one TransformerBlock a depth
    sublayers:     A    B    C    ^C   ^B   ^A      ^ = the instance of the owner

The first depth of a group owns its sublayers (`SharingPlan.owner(depth,
kind)`, the one rule): block 0 builds attention A and feed-forward A,
blocks 1 and 2 build B and C. Blocks 3, 4 and 5 build none of them; they are
handed the owners' instances through `TransformerBlock(shared_sublayers=...)`
and call them. So each weight is one Keras variable: Keras counts, trains,
saves, distributes and exports it once, and gradients from every depth that
calls it add up in it. Nothing is copied or aliased.

What must differ per depth is built by every block: its layer norms (with
`per_depth_norms=True`), its adapter (`adapter_dim`), its LoRA deltas
(`lora_rank`: the block projects with `W + A B` where the group's shared
sublayer has `W`), its row of the depth embedding, and, in the decoder, its
slot of the key/value cache.

The same mechanism ties stacks together: a `SharedDecoder(tied_encoder=...)`
takes its self-attention and feed-forward instances from the encoder's
owners of the same groups (`SharingPlan.group_owner`), and its cross-attention
may have groups of its own (e.g. one instance for every depth).
`parameter_report` counts stored against effective parameters group by group.

A strategy is the shorthand for the same pattern on every kind. Scopes share
part of a block: `scope="attention"` shares only attention (every depth its
own feed-forward network), `scope="ffn"` the reverse; `num_groups_ffn` gives
the feed-forward networks their own number of groups (attention A B A B B A,
feed-forward A B C C B A); and `assignments` states any kind explicitly,
`SharingPlan(6, 2, "cycle_rev", assignments={"cross_attention": "AAAAAA"})`.

Elastic depth: a stack built with `depths=(4, 6, 8)` can also run 4 or 6
(or more than `num_layers`) depths, chosen at call time (`depth=4`), with no
new weights: at `n` depths, depth `d` calls the groups
`plan.at_depth(n)` gives it. The rule for per-depth state: it belongs to
the position in the running order. Position `d` has the same norms (with
`per_depth_norms`), adapter, LoRA deltas, depth-embedding row and cache
slot whatever the depth the stack runs, so state exists for `max(depths)` positions, and
a position whose groups at `n` depths differ from those it was built with
(e.g. `sequence` run at another depth) calls them through a block that owns
nothing: its norms, adapter and LoRA deltas are the position's, its attention and
feed-forward networks the groups' owners'.
"""

import keras
from keras import ops

from sharedformer_tf.layers import layer_utils
from sharedformer_tf.layers.transformer_block import TransformerBlock
from sharedformer_tf.sharing.sharing_plan import SharingPlan
from sharedformer_tf.validation import check_positive_int, check_rate


class SharedStack(keras.layers.Layer):
    """Base class of `SharedEncoder` and `SharedDecoder`.

    Holds one `TransformerBlock` per depth. The first depth of each
    parameter group owns the group's sublayers; every later depth of the
    group is given those same instances through `shared_sublayers`, so one
    Keras layer is called at several depths and its variables exist once.
    Per-depth state (layer norms when `per_depth_norms=True`, the depth
    embedding row, the adapter when `adapter_dim` is set, the LoRA deltas
    when `lora_rank` is set, the decoder's
    cache slot) is indexed by depth, up to `max_depth` positions when
    `depths` lets the stack run deeper than its plan (`extra_blocks`).
    """

    use_cross_attention = False

    def __init__(
        self,
        plan,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        norm_first=True,
        activation="relu",
        layer_norm_epsilon=1e-5,
        per_depth_norms=True,
        use_depth_embedding=False,
        kernel_initializer="glorot_uniform",
        adapter_dim=None,
        depths=None,
        lora_rank=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int(num_heads=num_heads, intermediate_dim=intermediate_dim)
        if adapter_dim is not None:
            check_positive_int(adapter_dim=adapter_dim)
        if lora_rank is not None:
            check_positive_int(lora_rank=lora_rank)
        check_rate(dropout=dropout)
        self.plan = SharingPlan.coerce(plan)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.norm_first = norm_first
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.per_depth_norms = per_depth_norms
        self.use_depth_embedding = use_depth_embedding
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.adapter_dim = adapter_dim
        self.lora_rank = lora_rank
        self.depths = self._check_depths(depths)

    def _check_depths(self, depths):
        """The sorted depths the stack can run (the plan's always)."""
        if depths is None:
            return (self.plan.num_layers,)
        if isinstance(depths, int) or not depths:
            raise ValueError(
                f"`depths` must be a non-empty list of integers. Received: depths={depths!r}"
            )
        for depth in depths:
            self.plan.at_depth(depth)  # names a depth the plan cannot run
        return tuple(sorted(set(depths) | {self.plan.num_layers}))

    @property
    def num_layers(self):
        """Depths of the plan: what the stack runs when no `depth` is given."""
        return self.plan.num_layers

    @property
    def max_depth(self):
        """The most depths the stack can run: positions with per-depth state."""
        return max(self.depths)

    def _sublayer_names(self):
        names = ["self_attention", "feed_forward"]
        return names + ["cross_attention"] if self.use_cross_attention else names

    def _groups_at(self, depth):
        """`{kind: groups}` of the stack run at `depth` depths."""
        if depth == self.num_layers:
            return {name: self.plan.assignments_of(name) for name in self._sublayer_names()}
        return self.plan.at_depth(depth)

    def _sublayer_source(self, name, group, position):
        """The instance of group `group` of sublayer `name` for the block at
        `position`, or `None` where that block owns it (builds it)."""
        owner = self.plan.group_owner(group, name)
        return None if owner == position else getattr(self.blocks[owner], name)

    def _shared_sublayers(self, position, groups):
        """Sublayer instances that the block at `position` running `groups`
        (`{kind: group}`) reuses from the groups' owners."""
        shared = {}
        for name in self._sublayer_names():
            layer = self._sublayer_source(name, groups[name], position)
            if layer is None:
                continue
            shared[name] = layer
            owner = self.plan.group_owner(groups[name], name)
            if not self.per_depth_norms and owner != position:
                shared[f"{name}_norm"] = getattr(self.blocks[owner], f"{name}_norm")
        return shared

    def _new_block(self, position, shared, inputs_shape, encoder_outputs_shape, name):
        block = TransformerBlock(
            num_heads=self.num_heads,
            intermediate_dim=self.intermediate_dim,
            use_cross_attention=self.use_cross_attention,
            norm_first=self.norm_first,
            dropout=self.dropout,
            activation=self.activation,
            layer_norm_epsilon=self.layer_norm_epsilon,
            kernel_initializer=layer_utils.clone_initializer(
                self.kernel_initializer, f"block_{position}"
            ),
            adapter_dim=self.adapter_dim,
            lora_rank=self.lora_rank,
            shared_sublayers=shared,
            dtype=self.dtype_policy,
            name=name,
        )
        block.build(inputs_shape, encoder_outputs_shape)
        return block

    def _position_block(self, position):
        return [*self.blocks, *self.extra_blocks][position]

    def _view(self, position, groups, inputs_shape, encoder_outputs_shape, depth):
        """A block that owns no variable: the state of `position` (norms,
        adapter) with the sublayers of `groups`."""
        base = self._position_block(position)
        shared = self._shared_sublayers(position, groups)
        for name in self._sublayer_names():
            shared.setdefault(name, getattr(base, name))
            if self.per_depth_norms:
                shared[f"{name}_norm"] = getattr(base, f"{name}_norm")
            else:
                shared.setdefault(f"{name}_norm", getattr(base, f"{name}_norm"))
        if self.adapter_dim is not None:
            shared["adapter"] = base.adapter
        for name in self._sublayer_names() if self.lora_rank is not None else ():
            shared[f"{name}_lora"] = base.lora(name)
        return self._new_block(position, shared, inputs_shape, encoder_outputs_shape,
                               f"block_{position}_at_depth_{depth}")  # fmt: skip

    def blocks_at(self, depth=None):
        """The blocks the stack calls, in order, when it runs `depth` depths
        (one of `depths`; `None`: `num_layers`)."""
        depth = self.num_layers if depth is None else depth
        if depth not in self.depths:
            raise ValueError(
                f"This stack runs at depths {list(self.depths)} (its `depths`). "
                f"Received: depth={depth!r}"
            )
        views = dict(zip(self._view_keys, self.depth_views, strict=True))
        return [views.get((depth, p)) or self._position_block(p) for p in range(depth)]

    def build(self, inputs_shape):
        self._build_blocks(inputs_shape)

    def _build_blocks(self, inputs_shape, encoder_outputs_shape=None):
        inputs_shape = tuple(inputs_shape)
        self.blocks, self.extra_blocks, self.depth_views = [], [], []
        names = self._sublayer_names()
        deepest = self._groups_at(self.max_depth)
        # The groups each position is built with: the plan's, then the
        # deepest run's for the positions beyond the plan.
        built_with = [{n: self.plan.assignments_of(n)[p] for n in names} if p < self.num_layers
                      else {n: deepest[n][p] for n in names}
                      for p in range(self.max_depth)]  # fmt: skip
        for position, groups in enumerate(built_with):
            blocks = self.blocks if position < self.num_layers else self.extra_blocks
            blocks.append(self._new_block(
                position, self._shared_sublayers(position, groups), inputs_shape,
                encoder_outputs_shape, f"block_{position}"))  # fmt: skip
        view_keys = []
        for depth in self.depths:
            at = self._groups_at(depth)
            for position in range(depth):
                groups = {name: at[name][position] for name in self._sublayer_names()}
                if groups != built_with[position]:
                    view = self._view(position, groups, inputs_shape, encoder_outputs_shape,
                                      depth)  # fmt: skip
                    self.depth_views.append(view)
                    view_keys.append((depth, position))
        self._view_keys = tuple(view_keys)
        if self.use_depth_embedding:
            self.depth_embeddings = self.add_weight(
                shape=(self.max_depth, inputs_shape[-1]),
                initializer=keras.initializers.RandomNormal(stddev=0.02),
                name="depth_embeddings",
            )
        if self.norm_first:
            self.output_norm = keras.layers.LayerNormalization(
                epsilon=self.layer_norm_epsilon,
                dtype=self.dtype_policy,
                name="output_norm",
            )
            self.output_norm.build(inputs_shape)
        self.built = True

    def exit_depth(self, exit_depths):
        """The deepest of `exit_depths` after checking that one pass to it
        passes through each of them: every depth runs the first positions
        of the deepest run (true of `cycle`, `all` and unshared plans)."""
        deepest = max(exit_depths)
        blocks = self.blocks_at(deepest)
        for depth in exit_depths:
            if self.blocks_at(depth) != blocks[:depth]:
                raise ValueError(
                    f"Running {depth} depths is not the start of running {deepest} under "
                    f"{self.plan}, so one pass cannot exit at both. Received: "
                    f"exit_depths={list(exit_depths)}"
                )
        return deepest

    def relaxation_weights(self):
        """The variables of every position's relaxations of the shared
        sublayers (adapters, LoRA deltas), each once."""
        found = {}
        for block in [*self.blocks, *self.extra_blocks]:
            for layer in block.relaxation_layers:
                found.update((id(v), v) for v in layer.weights)
        return list(found.values())

    def sublayer_assignments(self, name):
        """Group of the sublayer `name` (`"self_attention"`,
        `"cross_attention"` or `"feed_forward"`) at each depth."""
        return self.plan.assignments_of(name)

    def _sublayer_groups(self, name):
        return [
            getattr(self.blocks[self.plan.group_owner(group, name)], name)
            for group in sorted(set(self.plan.assignments_of(name)))
        ]

    @property
    def self_attention_layers(self):
        """The self-attention instance of each attention group."""
        return self._sublayer_groups("self_attention")

    @property
    def feed_forward_layers(self):
        """The feed-forward instance of each feed-forward group."""
        return self._sublayer_groups("feed_forward")

    def _enter_depth(self, x, depth):
        if self.use_depth_embedding:
            x = x + ops.cast(self.depth_embeddings[depth], x.dtype)
        return x

    def _finish(self, x):
        return self.output_norm(x) if self.norm_first else x

    def compute_output_shape(self, inputs_shape, *args, **kwargs):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "plan": self.plan.get_config(),
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "norm_first": self.norm_first,
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "per_depth_norms": self.per_depth_norms,
                "use_depth_embedding": self.use_depth_embedding,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "adapter_dim": self.adapter_dim,
                "lora_rank": self.lora_rank,
                "depths": None if self.depths == (self.num_layers,) else list(self.depths),
            }
        )
        return config

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
`per_depth_norms=True`), its adapter (`adapter_dim`), its row of the depth
embedding, and, in the decoder, its slot of the key/value cache.

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
    embedding row, the adapter when `adapter_dim` is set, the decoder's
    cache slot) is indexed by depth.
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int(num_heads=num_heads, intermediate_dim=intermediate_dim)
        if adapter_dim is not None:
            check_positive_int(adapter_dim=adapter_dim)
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

    @property
    def num_layers(self):
        return self.plan.num_layers

    def _shared_sublayers(self, depth):
        """Sublayer instances that `depth` reuses from earlier depths."""
        shared = {}
        names = ["self_attention", "feed_forward"]
        if self.use_cross_attention:
            names.append("cross_attention")
        for name in names:
            owner = self.plan.owner(depth, name)
            if owner == depth:
                continue
            shared[name] = getattr(self.blocks[owner], name)
            if not self.per_depth_norms:
                shared[f"{name}_norm"] = getattr(self.blocks[owner], f"{name}_norm")
        return shared

    def build(self, inputs_shape):
        self._build_blocks(inputs_shape)

    def _build_blocks(self, inputs_shape, encoder_outputs_shape=None):
        inputs_shape = tuple(inputs_shape)
        self.blocks = []
        for depth in range(self.num_layers):
            block = TransformerBlock(
                num_heads=self.num_heads,
                intermediate_dim=self.intermediate_dim,
                use_cross_attention=self.use_cross_attention,
                norm_first=self.norm_first,
                dropout=self.dropout,
                activation=self.activation,
                layer_norm_epsilon=self.layer_norm_epsilon,
                kernel_initializer=layer_utils.clone_initializer(
                    self.kernel_initializer, f"block_{depth}"
                ),
                adapter_dim=self.adapter_dim,
                shared_sublayers=self._shared_sublayers(depth),
                dtype=self.dtype_policy,
                name=f"block_{depth}",
            )
            block.build(inputs_shape, encoder_outputs_shape)
            self.blocks.append(block)
        if self.use_depth_embedding:
            self.depth_embeddings = self.add_weight(
                shape=(self.num_layers, inputs_shape[-1]),
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
            }
        )
        return config

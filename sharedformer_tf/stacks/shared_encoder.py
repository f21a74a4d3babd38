import keras
from keras import ops

from sharedformer_tf.layers import layer_utils
from sharedformer_tf.stacks.shared_stack import SharedStack


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class SharedEncoder(SharedStack):
    """Transformer encoder whose depths share parameters by a `SharingPlan`.

    Depth `d` calls the self-attention and feed-forward instances of group
    `plan.attention_assignments[d]` and `plan.feed_forward_assignments[d]`;
    one instance called at several depths stores its weights once.

    Args:
        plan: `SharingPlan` (or its config dict): depths, groups and scope.
        num_heads: int. Attention heads; must divide the hidden size.
        intermediate_dim: int. Hidden width of the feed-forward networks.
        dropout: float. Residual and feed-forward dropout rate.
        norm_first: bool. Pre-LN blocks (with a final layer norm) if `True`,
            post-LN blocks if `False`.
        activation: activation of the feed-forward networks.
        layer_norm_epsilon: float. Epsilon of the layer norms.
        per_depth_norms: bool. Give every depth its own layer norms even where
            the rest of its block is shared (as Subformer and MiniViT do). With
            `False`, norms are shared along with their sublayer (ALBERT).
        use_depth_embedding: bool. Add a learned per-depth ("timestep")
            vector before each depth, as in the Universal Transformer.
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
            chosen per call (elastic depth): at `n` depths it calls the
            groups `plan.at_depth(n)` gives; per-depth state exists for
            `max(depths)` positions (see `stacks.shared_stack`). `None`
            (default): `plan.num_layers` only.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: float tensor `[batch, length, hidden_dim]`.
        padding_mask: boolean `[batch, length]`, `True` for real tokens, or
            `None`.
        training: bool, whether dropout is active.
        depth: int, one of `depths`: how many depths to run; `None`:
            `plan.num_layers`.
        exit_depths: optional ascending list of `depths` (early exits): one
            pass to the deepest returns the output after each of them (on
            tensors, not on symbolic `keras.Input`s).

    Returns:
        Tensor `[batch, length, hidden_dim]`; with `exit_depths`, a list of
        them, one per exit depth.

    Example:

    >>> from sharedformer_tf import SharingPlan
    >>> encoder = SharedEncoder(SharingPlan(6, strategy="all"), num_heads=2,
    ...                         intermediate_dim=16)
    >>> tuple(encoder(keras.ops.ones((2, 5, 8))).shape)
    (2, 5, 8)
    >>> len(encoder.self_attention_layers)
    1
    >>> elastic = SharedEncoder(SharingPlan(4, 2, strategy="cycle"), num_heads=2,
    ...                         intermediate_dim=16, depths=[2, 4, 6])
    >>> tuple(elastic(keras.ops.ones((2, 5, 8)), depth=6).shape)
    (2, 5, 8)
    """

    def call(self, inputs, padding_mask=None, training=None, depth=None, exit_depths=None):
        if exit_depths is None:
            return self.finish(self.advance(inputs, depth, padding_mask=padding_mask,
                                            training=training))  # fmt: skip
        deepest = self.exit_depth(exit_depths)
        exits, x, start = [], inputs, 0
        for stop in sorted(exit_depths):
            x = self.advance(x, deepest, start, stop, padding_mask, training)
            exits.append(self.finish(x))
            start = stop
        return exits

    def advance(self, x, depth=None, start=0, stop=None, padding_mask=None, training=None):
        """Runs positions `start` to `stop` (default: `depth`) of the stack
        at `depth` depths on the hidden state `x` and returns the state
        before the output norm (`finish` applies it): early exits continue
        from the state where the previous exit left it.

        Args:
            x: float tensor `[batch, length, hidden_dim]`.
            depth: int, one of `depths` (`None`: `plan.num_layers`).
            start: int, the first position to run.
            stop: int, the position to stop before; `None`: `depth`.
            padding_mask: boolean `[batch, length]` or `None`.
            training: bool, whether dropout is active.

        Returns:
            Tensor `[batch, length, hidden_dim]`.
        """
        blocks = self.blocks_at(depth)
        mask = None
        if padding_mask is not None:
            mask = layer_utils.padding_mask_to_attention_mask(padding_mask, ops.shape(x)[1])
        for position in range(start, len(blocks) if stop is None else stop):
            x = self._enter_depth(x, position)
            x = blocks[position](x, self_attention_mask=mask, training=training)
        return x

    def finish(self, x):
        """The stack's output from a state of `advance`: the output norm of
        a pre-LN stack, the state itself otherwise."""
        return self._finish(x)

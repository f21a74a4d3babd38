"""`to_shared` for keras-hub models built from `TransformerEncoder` or
`TransformerDecoder` layers (e.g. `BertBackbone`, `GPT2Backbone`).

The model's graph is cloned (`keras.models.clone_model`) with its chain of
transformer layers replaced by one `SharedEncoder` (encoder layers) or
causal `SharedDecoder` (decoder layers without cross-attention) that follows
the plan; every other layer is cloned with its weights. A pre-LN chain
(`normalize_first=True`, GPT-2) ends in the stack's own output norm, which
takes the weights of the `LayerNormalization` after the last transformer
layer (GPT-2's `layer_norm`), so that layer leaves the graph.
"""

import types

import keras
import keras_hub
import numpy as np

from sharedformer_tf.convert.block_copy import copy_blocks, relaxation_ids, set_lora
from sharedformer_tf.stacks.shared_decoder import SharedDecoder
from sharedformer_tf.stacks.shared_encoder import SharedEncoder

LAYERS = (keras_hub.layers.TransformerEncoder, keras_hub.layers.TransformerDecoder)
MASKS = {"TransformerEncoder": "padding_mask", "TransformerDecoder": "decoder_padding_mask"}
SETTINGS = ("num_heads", "intermediate_dim", "normalize_first", "layer_norm_epsilon", "dropout")


def transformer_layers(model):
    """The keras-hub transformer layers of a Keras `model`, in order (empty
    for any other model)."""
    if not isinstance(model, keras.Model):
        return []
    return [layer for layer in model.layers if isinstance(layer, LAYERS)]


def _check_chain(model, layers):
    """Refuses what a shared stack cannot replace: mixed or differently
    configured layers, a layer called twice, a hidden state read between
    layers, cross-attention, masks other than the padding mask."""
    kind = type(layers[0])
    first = {name: getattr(layers[0], name) for name in SETTINGS}
    kinds = sorted({type(layer).__name__ for layer in layers})
    if len(kinds) > 1:
        raise ValueError(f"`to_shared` converts a chain of one kind of keras-hub layer (an "
                         f"encoder-decoder has two stacks). Received: {' and '.join(kinds)} "
                         f"in {model.name}")  # fmt: skip
    for position, layer in enumerate(layers):
        settings = {name: getattr(layer, name) for name in SETTINGS}
        if settings != first or layer.activation is not layers[0].activation:
            raise ValueError(f"Every layer of the chain must be configured alike. Received: "
                             f"{layer.name} with {settings}, {layers[0].name} with "
                             f"{first}")  # fmt: skip
        if getattr(layer, "_cross_attention_layer", None) is not None:
            raise ValueError(f"`to_shared` converts decoder layers without cross-attention. "
                             f"Received: {layer.name} of {model.name} attends to an "
                             "encoder")  # fmt: skip
        if len(layer._inbound_nodes) != 1:
            raise ValueError(f"Each transformer layer must be called once. Received: "
                             f"{layer.name} called {len(layer._inbound_nodes)} times")  # fmt: skip
        nxt = layers[position + 1] if position + 1 < len(layers) else None
        readers = [node.operation for node in layer._outbound_nodes]
        if nxt is not None and readers != [nxt]:
            raise ValueError(f"The output of {layer.name} must go to {nxt.name} only, so one "
                             f"shared stack can replace the chain. Received: it goes to "
                             f"{[r.name for r in readers]}")  # fmt: skip
        arguments = layer._inbound_nodes[0].arguments
        extra = sorted(k for k, v in arguments.kwargs.items()
                       if v is not None and k != MASKS[kind.__name__])  # fmt: skip
        if extra or len(arguments.args) != 1:
            raise ValueError(f"`to_shared` maps the keras-hub call `layer(x, "
                             f"{MASKS[kind.__name__]}=mask)`. Received: {layer.name} called "
                             f"with {len(arguments.args)} positional arguments and "
                             f"{extra}")  # fmt: skip


def _final_norm(layers):
    """The LayerNormalization a pre-LN chain ends in."""
    last = layers[-1]
    readers = [node.operation for node in last._outbound_nodes]
    if len(readers) != 1 or not isinstance(readers[0], keras.layers.LayerNormalization):
        raise ValueError(
            "A pre-LN chain (normalize_first=True) must end in one LayerNormalization (as "
            "GPT2Backbone's `layer_norm`), which becomes the shared stack's output norm. "
            f"Received: the output of {last.name} goes to {[r.name for r in readers]}"
        )
    return readers[0]


def _dense(kernel, bias, inputs_first=True):
    """A projection as a `[in, out]` kernel and `[out]` bias (numpy): an
    attention `EinsumDense` kernel `[in, heads, head_dim]` (or `[heads,
    head_dim, out]`, `inputs_first=False`) flattened."""
    kernel, bias = np.asarray(kernel), np.asarray(bias)
    shape = (kernel.shape[0], -1) if inputs_first else (-1, kernel.shape[-1])
    return types.SimpleNamespace(kernel=kernel.reshape(shape), bias=bias.reshape(-1))


def _sublayer(**dense):
    weights = [w for d in dense.values() for w in (d.kernel, d.bias)]
    return types.SimpleNamespace(get_weights=lambda: weights, **dense)


def _as_block(layer):
    """A keras-hub layer's weights in the layout of a `TransformerBlock`."""
    mha = layer._self_attention_layer
    attention = _sublayer(**{
        ours: _dense(theirs.kernel, theirs.bias) for ours, theirs in
        (("query_dense", mha._query_dense), ("key_dense", mha._key_dense),
         ("value_dense", mha._value_dense))},
        output_dense=_dense(mha._output_dense.kernel, mha._output_dense.bias, False))  # fmt: skip
    first, second = layer._feedforward_intermediate_dense, layer._feedforward_output_dense
    return types.SimpleNamespace(
        self_attention=attention,
        self_attention_norm=layer._self_attention_layer_norm,
        feed_forward=_sublayer(
            intermediate_dense=_dense(first.kernel, first.bias),
            output_dense=_dense(second.kernel, second.bias),
        ),
        feed_forward_norm=layer._feedforward_layer_norm,
    )


def convert(model, plan, init, relax, rank, per_depth_norms=None):
    """`to_shared` of a keras-hub model (see the module docstring and
    `to_shared` for the arguments).

    Returns:
        A functional `keras.Model` with `model`'s inputs and outputs.
    """
    layers = transformer_layers(model)
    if not callable(getattr(model, "_run_through_graph", None)):  # what `clone_model` rebuilds
        raise ValueError("`to_shared` converts keras-hub models built functionally (as its "
                         f"backbones are). Received: a subclassed "
                         f"{type(model).__name__}")  # fmt: skip
    _check_chain(model, layers)
    source = layers[0]
    if plan.num_layers != len(layers):
        raise ValueError(f"The converted stack keeps the source's {len(layers)} layers. "
                         f"Received: a plan of {plan.num_layers} depths ({plan})")  # fmt: skip
    final_norm = _final_norm(layers) if source.normalize_first else None
    options = dict(num_heads=source.num_heads, intermediate_dim=source.intermediate_dim,
                   dropout=source.dropout, norm_first=source.normalize_first,
                   activation=source.activation, layer_norm_epsilon=source.layer_norm_epsilon,
                   adapter_dim=rank if relax == "adapter" else None,
                   lora_rank=rank if relax == "lora" and rank else None,
                   per_depth_norms=per_depth_norms is not False,  # keras-hub's layers: own norms
                   dtype=model.dtype_policy, name="shared_stack")  # fmt: skip
    if isinstance(source, keras_hub.layers.TransformerEncoder):
        stack = SharedEncoder(plan, **options)
    else:
        stack = SharedDecoder(plan, use_cross_attention=False, **options)
    skipped = {id(layer): f"{layer.name}" for layer in [*layers[1:], final_norm] if layer}
    mask_name = MASKS[type(source).__name__]
    markers = {}

    def clone(layer):
        if layer is source:
            return stack
        if id(layer) in skipped:
            marker = keras.layers.Identity(name=f"{layer.name}_in_shared_stack")
            markers[id(marker)] = layer
            return marker
        return layer.__class__.from_config(layer.get_config())

    def call(layer, *args, **kwargs):
        if layer is stack:
            mask = kwargs.get(mask_name)
            mask = None if mask is None else keras.ops.cast(mask, "bool")
            return stack(args[0], **{mask_name: mask})  # the stacks' names are keras-hub's
        if id(layer) in markers:  # a later layer of the chain, or its final norm
            return args[0]
        return layer(*args, **kwargs)

    converted = keras.models.clone_model(model, clone_function=clone, call_function=call)
    originals = {layer.name: layer for layer in model.layers}
    for layer in converted.layers:
        if layer is not stack and layer.weights:
            layer.set_weights(originals[layer.name].get_weights())
    blocks = [_as_block(layer) for layer in layers]
    source_stack = types.SimpleNamespace(blocks_at=lambda depth: blocks, extra_blocks=[])
    pairs = [("stack", stack, source_stack)]
    assigned = copy_blocks(pairs, init)
    if relax == "lora" and rank:
        assigned |= set_lora(pairs)
    if final_norm is not None:
        stack.output_norm.set_weights(final_norm.get_weights())
        assigned.update(id(v) for v in stack.output_norm.weights)
    fresh = relaxation_ids([stack])  # adapters start at zero; LoRA deltas were set
    for variable in stack.weights:
        if id(variable) not in assigned | fresh:
            raise ValueError(f"No source weight for {variable.path} {tuple(variable.shape)} in "
                             f"{model.name}")  # fmt: skip
    return converted

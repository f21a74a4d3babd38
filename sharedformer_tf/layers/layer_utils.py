"""Small helpers shared by the layers: masks, the attention core, initializers."""

import zlib

import keras
from keras import ops

from sharedformer_tf.layers import xla_attention


def clone_initializer(initializer, salt):
    """Returns a copy of `initializer` for the sublayer named `salt`.

    A seeded Keras initializer returns the same values at every call, so
    copying it verbatim would give sibling sublayers (and all parameter
    groups of a stack) identical weights. A seeded copy gets a new seed
    derived from the old one and `salt`: still deterministic, but distinct
    along every path of sublayer names. Unseeded initializers are copied
    as they are.
    """
    initializer = keras.initializers.get(initializer)
    config = initializer.get_config()
    if isinstance(config.get("seed"), int):
        digest = zlib.crc32(f"{config['seed']}/{salt}".encode())
        config["seed"] = digest & 0x7FFFFFFF
    return initializer.__class__.from_config(config)


def causal_mask(query_length, key_length, start_index=0):
    """Boolean mask `[1, query_length, key_length]`: query `i` (at absolute
    position `start_index + i`) may attend to keys at positions `<=` its own.

    Built from `arange` comparisons (no `band_part`), so it converts to TFLite
    builtin ops.
    """
    rows = ops.arange(query_length, dtype="int32")[:, None] + ops.cast(start_index, "int32")
    cols = ops.arange(key_length, dtype="int32")[None, :]
    return ops.expand_dims(ops.greater_equal(rows, cols), axis=0)


def padding_mask_to_attention_mask(key_padding_mask, query_length):
    """`[batch, key_length]` (`True` = real token) -> `[batch, query_length,
    key_length]`."""
    mask = ops.expand_dims(ops.cast(key_padding_mask, "bool"), axis=1)
    shape = ops.shape(mask)
    return ops.broadcast_to(mask, (shape[0], query_length, shape[2]))


def merge_masks(*masks):
    """Logical AND of the given boolean masks, skipping `None`s."""
    result = None
    for mask in masks:
        if mask is None:
            continue
        mask = ops.cast(mask, "bool")
        result = mask if result is None else ops.logical_and(result, mask)
    return result


def dot_product_attention(query, key, value, mask=None, heads_first=False):
    """Attention core on `[batch, length, heads, head_dim]` tensors (keys
    and values `[batch, heads, length, head_dim]` with `heads_first`).

    `mask` is boolean and broadcastable to `[batch, heads, query_length,
    key_length]`. Softmax runs in float32 whatever the compute dtype. Runs
    XLA-compiled (see `xla_attention`).
    """
    return xla_attention.attention_core(query, key, value, mask, heads_first=heads_first)


def project(layer, name, inputs, lora=None):
    """`layer.<name>(inputs)`, plus the delta of a depth's `LoRADeltas`
    for that projection when `lora` is given."""
    outputs = getattr(layer, name)(inputs)
    return outputs if lora is None else outputs + lora(inputs, target=name)


def lora_kernel_shapes(layer):
    """`{target: (in, out)}` of the projections of a built attention or
    feed-forward layer (its `LORA_TARGETS`) that `LoRADeltas` can change."""
    return {name: tuple(getattr(layer, name).kernel.shape) for name in layer.LORA_TARGETS}


def write_cache(cache, keys_values, index, slot=None):
    """Writes `keys_values` `[batch, 2, length, heads, head_dim]` into
    `cache` at position `index`: a cache `[batch, 2, max_length, heads,
    head_dim]`, or with `slot` entry `slot` of a stack of caches `[batch,
    slots, 2, max_length, heads, head_dim]` (updated in place, so a decoder
    threads one tensor through its depths instead of splitting and
    restacking it every step). A heads-first cache `(keys, values)`, each
    `[batch, heads, max_length, head_dim]`, takes `keys_values` as a pair
    `[batch, heads, length, head_dim]` and no `slot`."""
    if isinstance(cache, (tuple, list)):
        return tuple(
            ops.slice_update(old, [0, 0, index, 0], ops.cast(new, old.dtype))
            for old, new in zip(cache, keys_values, strict=True)
        )
    keys_values = ops.cast(keys_values, cache.dtype)
    if slot is None:
        return ops.slice_update(cache, [0, 0, index, 0, 0], keys_values)
    return ops.slice_update(cache, [0, slot, 0, index, 0, 0], keys_values[:, None])


def read_cache(cache, slot=None):
    """The keys and values of `cache` (entry `slot` of a stack of caches)."""
    if slot is not None:
        cache = cache[:, slot]
    return cache[:, 0], cache[:, 1]

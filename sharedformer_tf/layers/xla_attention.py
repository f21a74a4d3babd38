"""The XLA-compiled attention core.

The core of attention (scores, mask, float32 softmax, weighted sum) holds no
variables, so it can be compiled with XLA on its own: inside any
`tf.distribute` strategy (where compiling the whole train step is not always
possible, e.g. `MirroredStrategy` on CPU devices), in eager calls, and inside
a train step that is itself compiled (XLA then inlines it).

Whether it is used is a process-wide mode (`"on"`, the default, or
`"off"`), read when a function is traced. On a 2-core CPU the compiled core
costs nothing measurable: a `tiny` train step without whole-step XLA takes
0.987x the time of one with plain kernels (`attention_only_xla_step_ratio`
of benchmarks/throughput.py, which measures it every run).

It is the one place where the layers use `tf.*` directly, because
`keras.ops` has no per-function compile switch. XLA compiles once per input
shape, so callers should bucket sequence lengths.
"""

import contextlib

import tensorflow as tf
from keras import ops

MODES = ("on", "off")
_mode = "on"


def set_xla_attention(mode):
    """Sets the process-wide mode, `"on"` or `"off"` (or `True` /
    `False`). Functions traced earlier keep the path they were traced
    with."""
    global _mode
    if mode is True or mode is False:
        mode = "on" if mode else "off"
    if mode not in MODES:
        raise ValueError(f"Expected an XLA attention mode in {MODES}. Received: mode={mode!r}")
    _mode = mode


def xla_attention_enabled():
    """Whether `attention_core` runs XLA-compiled under the current mode."""
    return _mode == "on"


@contextlib.contextmanager
def xla_attention(mode):
    """Context manager that sets the mode for the calls and traces made
    inside it and restores the previous one, e.g.

    >>> with xla_attention("off"):  # doctest: +SKIP
    ...     model(inputs)  # plain TensorFlow kernels
    """
    previous = _mode
    set_xla_attention(mode)
    try:
        yield
    finally:
        set_xla_attention(previous)


def _attention(query, key, value, mask):
    return ops.dot_product_attention(query, key, value, mask=mask)


# What `keras.ops.dot_product_attention` computes on the TensorFlow backend
# (float32 logits scaled after the product, masked with -0.7 x the float32
# maximum, float32 softmax), on keys and values laid out heads first.
_LARGE_NEGATIVE = -0.7 * 3.38953e38


def _attention_heads_first(query, key, value, mask):
    logits = ops.cast(ops.einsum("btnh,bnsh->bnts", query, key), "float32")
    logits = logits / ops.sqrt(ops.cast(ops.shape(query)[-1], "float32"))
    if mask is not None:
        logits = ops.where(mask, logits, _LARGE_NEGATIVE)
    probs = ops.cast(ops.softmax(logits, axis=-1), value.dtype)
    return ops.einsum("bnts,bnsh->btnh", probs, value)


_compiled = {
    False: tf.function(_attention, jit_compile=True, reduce_retracing=True),
    True: tf.function(_attention_heads_first, jit_compile=True, reduce_retracing=True),
}


def attention_core(query, key, value, mask=None, heads_first=False):
    """`keras.ops.dot_product_attention` on `[batch, length, heads,
    head_dim]` tensors with a boolean `mask` broadcastable to `[batch, heads,
    query_length, key_length]`, XLA-compiled when `xla_attention_enabled()`.

    With `heads_first=True`, `key` and `value` are `[batch, heads,
    key_length, head_dim]` (the layout of the attention's products): a
    cache kept in that layout is read as it is, where XLA copies a
    `[batch, length, heads, head_dim]` one into it at every call.

    Returns:
        Tensor `[batch, query_length, heads, head_dim]`.
    """
    if not xla_attention_enabled():
        function = _attention_heads_first if heads_first else _attention
        return function(query, key, value, mask)
    return _compiled[bool(heads_first)](query, key, value, mask)

"""The XLA-compiled attention core.

The core of attention (scores, mask, float32 softmax, weighted sum) holds no
variables, so it can be compiled with XLA on its own: inside any
`tf.distribute` strategy (where compiling the whole train step is not always
possible, e.g. `MirroredStrategy` on CPU devices), in eager calls, and inside
a train step that is itself compiled (XLA then inlines it).

It is the one place where the layers use `tf.*` directly, because
`keras.ops` has no per-function compile switch. XLA compiles once per input
shape, so callers should bucket sequence lengths.
"""

import contextlib
import threading

import tensorflow as tf
from keras import ops

_state = threading.local()


def xla_attention_enabled():
    """Whether `attention_core` runs XLA-compiled in this thread (default
    `True`)."""
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def xla_attention(enabled):
    """Context manager that turns the XLA-compiled attention core on or off
    for the calls (and traces) made inside it, e.g.

    >>> with xla_attention(False):  # doctest: +SKIP
    ...     model(inputs)  # plain TensorFlow kernels
    """
    previous = xla_attention_enabled()
    _state.enabled = bool(enabled)
    try:
        yield
    finally:
        _state.enabled = previous


def _attention(query, key, value, mask):
    return ops.dot_product_attention(query, key, value, mask=mask)


_compiled_attention = tf.function(_attention, jit_compile=True, reduce_retracing=True)


def attention_core(query, key, value, mask=None):
    """`keras.ops.dot_product_attention` on `[batch, length, heads,
    head_dim]` tensors with a boolean `mask` broadcastable to `[batch, heads,
    query_length, key_length]`, XLA-compiled unless turned off with
    `xla_attention(False)`.

    Returns:
        Tensor `[batch, query_length, heads, head_dim]`.
    """
    if not xla_attention_enabled():
        return _attention(query, key, value, mask)
    return _compiled_attention(query, key, value, mask)

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


_compiled_attention = tf.function(_attention, jit_compile=True, reduce_retracing=True)


def attention_core(query, key, value, mask=None):
    """`keras.ops.dot_product_attention` on `[batch, length, heads,
    head_dim]` tensors with a boolean `mask` broadcastable to `[batch, heads,
    query_length, key_length]`, XLA-compiled when `xla_attention_enabled()`.

    Returns:
        Tensor `[batch, query_length, heads, head_dim]`.
    """
    if not xla_attention_enabled():
        return _attention(query, key, value, mask)
    return _compiled_attention(query, key, value, mask)

import keras
import keras_hub
import numpy as np
from keras import ops

from sharedformer_tf.validation import check_positive_int

KINDS = ("sine", "learned")


def sine_table(length, hidden_dim, max_wavelength=10000):
    """`[1, length, hidden_dim]` float32 sinusoids, as keras-hub's
    `SinePositionEncoding` computes them."""
    positions = np.arange(length, dtype=np.float64)[:, None]
    exponents = 2 * (np.arange(hidden_dim) // 2) / hidden_dim
    angles = positions * np.power(1.0 / max_wavelength, exponents)[None, :]
    table = np.where(np.arange(hidden_dim) % 2 == 0, np.sin(angles), np.cos(angles))
    return table[None].astype("float32")


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class PositionEncoding(keras.layers.Layer):
    """Position vectors for `length` positions starting at `start_index`.

    `"learned"` is keras-hub's `PositionEmbedding` (a trained table).
    `"sine"` is the table of keras-hub's `SinePositionEncoding` (sine on even,
    cosine on odd features, wavelengths up to 10000), computed once with
    NumPy when the layer is built and sliced at `start_index`. It is a graph
    constant, not a weight: nothing to train or save, and incremental
    decoding, XLA and the TFLite converter see a plain slice (keras-hub's
    layer builds it with einsums that the TFLite converter mis-lowers).

    Args:
        max_length: int, number of positions available.
        kind: `"sine"` or `"learned"`.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: tensor `[batch, length, hidden_dim]` (only its shape is used).
        start_index: int scalar, position of `inputs[:, 0]`.

    Returns:
        Tensor broadcastable to `inputs`: `[1, length, hidden_dim]` for
        `"sine"`, `[batch, length, hidden_dim]` for `"learned"`.

    Example:

    >>> tuple(PositionEncoding(16)(keras.ops.zeros((2, 5, 8)), start_index=3).shape)
    (1, 5, 8)
    """

    def __init__(self, max_length, kind="sine", **kwargs):
        super().__init__(**kwargs)
        check_positive_int(max_length=max_length)
        if kind not in KINDS:
            raise ValueError(f"Expected kind in {KINDS}. Received: kind={kind!r}")
        self.max_length = max_length
        self.kind = kind

    def build(self, inputs_shape):
        self.hidden_dim = inputs_shape[-1]
        if self.kind == "learned":
            self.encoding = keras_hub.layers.PositionEmbedding(
                self.max_length, dtype=self.dtype_policy, name="position_embedding"
            )
            self.encoding.build((None, self.max_length, self.hidden_dim))
        else:
            self.table = sine_table(self.max_length, self.hidden_dim)
        self.built = True

    def call(self, inputs, start_index=0):
        length = ops.shape(inputs)[1]
        if self.kind == "learned":
            return self.encoding(inputs, start_index=start_index)
        table = ops.convert_to_tensor(self.table, self.compute_dtype)
        return ops.slice(table, [0, start_index, 0], [1, length, self.hidden_dim])

    def get_config(self):
        config = super().get_config()
        config.update({"max_length": self.max_length, "kind": self.kind})
        return config

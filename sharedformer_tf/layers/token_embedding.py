import keras
from keras import ops

from sharedformer_tf.layers import layer_utils
from sharedformer_tf.validation import check_positive_int


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class TokenEmbedding(keras.layers.Layer):
    """Token embedding with an optional factorized projection and a reverse
    (output) projection that can be tied to it.

    With `embedding_dim < hidden_dim` (ALBERT's factorization) the table is
    `[vocabulary_size, embedding_dim]` followed by a projection to
    `hidden_dim`, storing `V*E + E*H` instead of `V*H` weights. `reverse=True`
    maps hidden states back to vocabulary logits; with `tie_weights=True` it
    uses the transposes of the same matrices (Press & Wolf, 2017). The table
    is `keras.layers.ReversibleEmbedding`; logits are computed in float32.

    Args:
        vocabulary_size: int. Number of token ids.
        hidden_dim: int. Width of the model.
        embedding_dim: int or `None`. Width of the table; `None` means
            `hidden_dim` (no factorization).
        tie_weights: bool. Reverse projection uses the transposed weights.
        embeddings_initializer: initializer of the table; defaults to a
            normal with standard deviation `hidden_dim ** -0.5`.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: int tensor `[batch, length]` of token ids, or with
            `reverse=True` a float tensor `[batch, length, hidden_dim]`.
        reverse: bool. Compute logits instead of embeddings (`logits`).

    Returns:
        `[batch, length, hidden_dim]` embeddings, or `[batch, length,
        vocabulary_size]` float32 logits with `reverse=True`.

    Example:

    >>> emb = TokenEmbedding(vocabulary_size=10, hidden_dim=8, embedding_dim=4)
    >>> h = emb(keras.ops.array([[1, 2, 3]]))
    >>> tuple(h.shape), tuple(emb(h, reverse=True).shape)
    ((1, 3, 8), (1, 3, 10))
    """

    def __init__(
        self,
        vocabulary_size,
        hidden_dim,
        embedding_dim=None,
        tie_weights=True,
        embeddings_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int(vocabulary_size=vocabulary_size, hidden_dim=hidden_dim)
        if embedding_dim is not None and (
            not isinstance(embedding_dim, int) or not 1 <= embedding_dim <= hidden_dim
        ):
            raise ValueError(
                "`embedding_dim` must be None or an integer in [1, hidden_dim]. "
                f"Received: embedding_dim={embedding_dim!r}, hidden_dim={hidden_dim}"
            )
        self.vocabulary_size = vocabulary_size
        self.hidden_dim = hidden_dim
        self.embedding_dim = embedding_dim
        self.tie_weights = tie_weights
        if embeddings_initializer is None:
            embeddings_initializer = keras.initializers.RandomNormal(stddev=hidden_dim**-0.5)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)

    @property
    def factorized(self):
        return self.embedding_dim is not None and self.embedding_dim != self.hidden_dim

    def build(self, inputs_shape=None):
        table_dim = self.embedding_dim or self.hidden_dim
        self.token_embedding = keras.layers.ReversibleEmbedding(
            self.vocabulary_size,
            table_dim,
            tie_weights=self.tie_weights,
            embeddings_initializer=layer_utils.clone_initializer(
                self.embeddings_initializer, "token_embedding"
            ),
            reverse_dtype="float32",
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        self.token_embedding.build((None, None))
        if self.factorized:
            self.projection = keras.layers.Dense(
                self.hidden_dim, use_bias=False, dtype=self.dtype_policy, name="projection"
            )
            self.projection.build((None, None, table_dim))
            if not self.tie_weights:
                self.reverse_projection = keras.layers.Dense(
                    table_dim,
                    use_bias=False,
                    dtype=self.dtype_policy,
                    name="reverse_projection",
                )
                self.reverse_projection.build((None, None, self.hidden_dim))
        self.built = True

    def output_kernel(self):
        """The table's reverse kernel, `[table_dim, vocabulary_size]`
        float32 (the transposed table when tied), to pass to `logits`.

        A decoding loop compiled with XLA computes it once, before the loop:
        XLA on a CPU multiplies by a transposed operand several times slower
        than by a stored one, and the logits are the largest product of a
        small model's decoding step. Exports keep the per-step transpose:
        TFLite would fold the copy into a second constant beside the
        table."""
        layer = self.token_embedding
        kernel = ops.transpose(layer.embeddings) if layer.tie_weights else layer.reverse_embeddings
        return ops.cast(kernel, "float32")

    def call(self, inputs, reverse=False):
        if not reverse:
            x = self.token_embedding(inputs)
            return self.projection(x) if self.factorized else x
        return self.logits(inputs)

    def logits(self, inputs, output_kernel=None):
        """Float32 logits `[batch, length, vocabulary_size]` of hidden
        states `[batch, length, hidden_dim]`, as `call(inputs,
        reverse=True)`; with `output_kernel` (from `output_kernel()`) the
        table's part is a product with it (the same numbers)."""
        if self.factorized:
            if self.tie_weights:
                kernel = ops.cast(self.projection.kernel, inputs.dtype)
                inputs = ops.matmul(inputs, ops.transpose(kernel))
            else:
                inputs = self.reverse_projection(inputs)
        if output_kernel is None:
            return self.token_embedding(inputs, reverse=True)
        return ops.matmul(ops.cast(inputs, "float32"), output_kernel)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "hidden_dim": self.hidden_dim,
                "embedding_dim": self.embedding_dim,
                "tie_weights": self.tie_weights,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            }
        )
        return config

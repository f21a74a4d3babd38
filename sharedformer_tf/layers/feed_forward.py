import keras

from sharedformer_tf.layers import layer_utils
from sharedformer_tf.validation import check_positive_int, check_rate


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class FeedForward(keras.layers.Layer):
    """Position-wise feed-forward network: `Dense -> activation -> dropout ->
    Dense`, mapping back to the input width.

    Args:
        intermediate_dim: int. Width of the hidden layer.
        activation: str or callable. Activation of the hidden layer.
        dropout: float. Dropout rate after the activation.
        kernel_initializer: initializer of the kernels.
        output_kernel_initializer: initializer of the output kernel, or
            `None` (default) for `kernel_initializer`. `"zeros"` makes the
            network start as the zero function (a residual adapter that
            starts as the identity of its block).
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: tensor `[batch, length, hidden_dim]`.
        training: bool, whether dropout is active.
        lora: `None`, or the calling depth's `LoRADeltas` over the two
            projections (`"intermediate_dense"`, `"output_dense"`), added
            to each before the activation.

    Returns:
        Tensor `[batch, length, hidden_dim]`.

    Example:

    >>> ffn = FeedForward(intermediate_dim=16)
    >>> tuple(ffn(keras.ops.ones((2, 3, 8))).shape)
    (2, 3, 8)
    """

    def __init__(
        self,
        intermediate_dim,
        activation="relu",
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        output_kernel_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int(intermediate_dim=intermediate_dim)
        check_rate(dropout=dropout)
        self.intermediate_dim = intermediate_dim
        self.activation = keras.activations.get(activation)
        self.dropout = dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.output_kernel_initializer = (
            None
            if output_kernel_initializer is None
            else keras.initializers.get(output_kernel_initializer)
        )

    def build(self, inputs_shape):
        # The activation is applied in `call`, after a depth's LoRA delta.
        self.intermediate_dense = keras.layers.Dense(
            self.intermediate_dim,
            kernel_initializer=layer_utils.clone_initializer(
                self.kernel_initializer, "intermediate_dense"
            ),
            dtype=self.dtype_policy,
            name="intermediate_dense",
        )
        self.intermediate_dense.build(inputs_shape)
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="dropout"
        )
        output_initializer = self.output_kernel_initializer or self.kernel_initializer
        self.output_dense = keras.layers.Dense(
            inputs_shape[-1],
            kernel_initializer=layer_utils.clone_initializer(output_initializer, "output_dense"),
            dtype=self.dtype_policy,
            name="output_dense",
        )
        self.output_dense.build(tuple(inputs_shape[:-1]) + (self.intermediate_dim,))
        self.built = True

    LORA_TARGETS = ("intermediate_dense", "output_dense")

    def call(self, inputs, training=None, lora=None):
        x = self.activation(layer_utils.project(self, "intermediate_dense", inputs, lora))
        x = self.dropout_layer(x, training=training)
        return layer_utils.project(self, "output_dense", x, lora)

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "intermediate_dim": self.intermediate_dim,
                "activation": keras.activations.serialize(self.activation),
                "dropout": self.dropout,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "output_kernel_initializer": (
                    None
                    if self.output_kernel_initializer is None
                    else keras.initializers.serialize(self.output_kernel_initializer)
                ),
            }
        )
        return config

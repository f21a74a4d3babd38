import keras
from keras import ops

from sharedformer_tf.validation import check_positive_int


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class ExitHeads(keras.layers.Layer):
    """One dense classification head per exit depth of an elastic-depth
    classifier: the head a run of `depth` depths (or an early exit after
    them) reads its logits from. The alternative to one head shared by
    every depth; each head learns from the training steps of its depth.

    Args:
        num_classes: int, logits per example.
        depths: list of ints, the depths that have a head (ascending).
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: float tensor `[batch, hidden_dim]`.
        depth: int, one of `depths`.

    Returns:
        Tensor `[batch, num_classes]`.

    Example:

    >>> heads = ExitHeads(3, depths=[2, 4])
    >>> tuple(heads(keras.ops.ones((5, 8)), depth=2).shape)
    (5, 3)
    >>> len(heads.weights)
    4
    """

    def __init__(self, num_classes, depths, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(num_classes=num_classes)
        depths = list(depths)
        if not depths or any(isinstance(d, bool) or not isinstance(d, int) or d < 1
                             for d in depths) or depths != sorted(set(depths)):  # fmt: skip
            raise ValueError(f"`depths` must be ascending positive ints. Received: depths={depths}")
        self.num_classes = num_classes
        self.depths = depths

    def build(self, inputs_shape):
        self.kernels, self.biases = [], []
        for depth in self.depths:
            self.kernels.append(self.add_weight(
                shape=(inputs_shape[-1], self.num_classes), initializer="glorot_uniform",
                name=f"kernel_depth_{depth}",
            ))  # fmt: skip
            self.biases.append(self.add_weight(shape=(self.num_classes,), initializer="zeros",
                                               name=f"bias_depth_{depth}"))  # fmt: skip
        self.built = True

    def call(self, inputs, depth):
        if depth not in self.depths:
            raise ValueError(f"These heads are for depths {self.depths}. Received: depth={depth!r}")
        index = self.depths.index(depth)
        kernel = ops.cast(self.kernels[index], self.compute_dtype)
        return ops.matmul(inputs, kernel) + ops.cast(self.biases[index], self.compute_dtype)

    def compute_output_shape(self, inputs_shape):
        return (*inputs_shape[:-1], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "depths": list(self.depths)})
        return config

import keras
import numpy as np
from keras import ops

from sharedformer_tf.validation import check_positive_int


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class LoRADeltas(keras.layers.Layer):
    """One depth's low-rank changes of the kernels of a shared sublayer
    (per-depth LoRA of Relaxed Recursive Transformers, Bae et al., 2024).

    A sublayer shared by several depths projects with the same kernel `W`
    at each; the depth that holds these deltas projects with `W + A B`
    instead, and adds its own bias offset `c`: for a target kernel, the
    delta of the projection of `x` is `(x A) B + c`, with `A` `[in, rank]`
    and `B` `[rank, out]`. It is computed factorized (two thin matmuls),
    so a depth stores `rank * (in + out) + out` scalars per kernel and no
    merged kernel is ever formed. `B` and `c` start at zero, so fresh
    deltas leave the shared sublayer unchanged; `to_shared` sets them from
    the truncated SVD of what the source's layer at the depth differs by.

    Args:
        rank: int, the rank of each delta.
        kernel_shapes: dict from target name (the sublayer's dense layer,
            e.g. `"query_dense"`) to its kernel shape `(in, out)`.
        kernel_initializer: initializer of the `A` factors.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: tensor `[..., in]`, the input of the target's projection.
        target: str, one of `kernel_shapes`.

    Returns:
        Tensor `[..., out]`, to add to the shared projection of `inputs`.

    Example:

    >>> deltas = LoRADeltas(2, {"query_dense": (8, 4)})
    >>> tuple(deltas(keras.ops.ones((3, 5, 8)), target="query_dense").shape)
    (3, 5, 4)
    >>> deltas.count_params()  # 8 * 2 + 2 * 4 + 4
    28
    """

    def __init__(self, rank, kernel_shapes, kernel_initializer="he_uniform", **kwargs):
        super().__init__(**kwargs)
        check_positive_int(rank=rank)
        if not isinstance(kernel_shapes, dict) or not kernel_shapes:
            raise ValueError("`kernel_shapes` must be a non-empty dict of (in, out) shapes. "
                             f"Received: kernel_shapes={kernel_shapes!r}")  # fmt: skip
        shapes = {}
        for name, shape in kernel_shapes.items():
            shape = tuple(shape)
            if len(shape) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1
                                      for s in shape):  # fmt: skip
                raise ValueError(f"Each kernel shape must be (in, out) positive ints. "
                                 f"Received: {name}={shape}")  # fmt: skip
            shapes[name] = shape
        self.rank = rank
        self.kernel_shapes = shapes
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, inputs_shape=None):
        self.factors = {}
        for name, (fan_in, fan_out) in self.kernel_shapes.items():
            self.factors[name] = (
                self.add_weight(shape=(fan_in, self.rank), initializer=self.kernel_initializer,
                                name=f"{name}_a"),
                self.add_weight(shape=(self.rank, fan_out), initializer="zeros",
                                name=f"{name}_b"),
                self.add_weight(shape=(fan_out,), initializer="zeros", name=f"{name}_bias"),
            )  # fmt: skip
        self.built = True

    def call(self, inputs, target):
        if target not in self.kernel_shapes:
            raise ValueError(f"These deltas are for {sorted(self.kernel_shapes)}. "
                             f"Received: target={target!r}")  # fmt: skip
        a, b, bias = (ops.cast(w, inputs.dtype) for w in self.factors[target])
        return ops.matmul(ops.matmul(inputs, a), b) + bias

    def set_delta(self, target, kernel_delta, bias_delta):
        """Sets the factors of `target` to the best rank-`rank`
        approximation (truncated SVD) of `kernel_delta` `[in, out]`, and its
        bias offset to `bias_delta` `[out]` (numpy arrays). At full rank
        (`rank >= min(in, out)`) the delta is exact."""
        kernel_delta = np.asarray(kernel_delta, dtype="float64")
        if kernel_delta.shape != self.kernel_shapes.get(target):
            raise ValueError(f"{target} takes a kernel delta of shape "
                             f"{self.kernel_shapes.get(target)}. Received: "
                             f"{kernel_delta.shape}")  # fmt: skip
        u, s, vt = np.linalg.svd(kernel_delta, full_matrices=False)
        keep = min(self.rank, len(s))
        a = np.zeros((kernel_delta.shape[0], self.rank))
        b = np.zeros((self.rank, kernel_delta.shape[1]))
        root = np.sqrt(s[:keep])
        a[:, :keep] = u[:, :keep] * root
        b[:keep] = root[:, None] * vt[:keep]
        for variable, value in zip(self.factors[target], (a, b, bias_delta), strict=True):
            variable.assign(np.asarray(value, dtype=variable.dtype))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "rank": self.rank,
                "kernel_shapes": {k: list(v) for k, v in self.kernel_shapes.items()},
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config

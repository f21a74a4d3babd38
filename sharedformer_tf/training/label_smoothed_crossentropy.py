import keras
from keras import ops


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class LabelSmoothedCrossentropy(keras.losses.Loss):
    """Token-level cross-entropy from logits with label smoothing, averaged
    over non-padding tokens.

    Keras' `SparseCategoricalCrossentropy` masks with `ignore_class` but has
    no label smoothing; this loss does both. The smoothed target puts
    `1 - label_smoothing` on the label and spreads `label_smoothing` evenly
    over the vocabulary (Szegedy et al., 2016; Vaswani et al., 2017).

    Args:
        label_smoothing: float in `[0, 1)`.
        ignore_class: int or `None`. Label id (padding) that adds no loss.
        **kwargs: `keras.losses.Loss` arguments such as `name`.

    Call arguments:
        y_true: int labels `[batch, length]`.
        y_pred: logits `[batch, length, vocabulary_size]`.

    Returns:
        Scalar: mean loss over the non-ignored tokens of the batch.

    Example:

    >>> loss = LabelSmoothedCrossentropy(label_smoothing=0.1, ignore_class=0)
    >>> model.compile(optimizer="adam", loss=loss)  # doctest: +SKIP
    """

    def __init__(
        self, label_smoothing=0.1, ignore_class=0, name="label_smoothed_crossentropy", **kwargs
    ):
        super().__init__(name=name, **kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(
                f"`label_smoothing` must be in [0, 1). Received: label_smoothing={label_smoothing}"
            )
        self.label_smoothing = label_smoothing
        self.ignore_class = ignore_class

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        nll = -ops.squeeze(ops.take_along_axis(log_probs, y_true[..., None], axis=-1), -1)
        smooth = -ops.mean(log_probs, axis=-1)
        losses = (1.0 - self.label_smoothing) * nll + self.label_smoothing * smooth
        if self.ignore_class is None:
            return losses
        mask = ops.cast(ops.not_equal(y_true, self.ignore_class), losses.dtype)
        # Rescale so the default "sum_over_batch_size" reduction averages over
        # real tokens only (as Keras does for `ignore_class`).
        scale = ops.cast(ops.size(mask), mask.dtype) / ops.maximum(ops.sum(mask), 1.0)
        return losses * mask * scale

    def get_config(self):
        config = super().get_config()
        config.update({"label_smoothing": self.label_smoothing, "ignore_class": self.ignore_class})
        return config

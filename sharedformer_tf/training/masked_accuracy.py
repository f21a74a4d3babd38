import keras
from keras import ops


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class MaskedAccuracy(keras.metrics.Mean):
    """Token accuracy that skips padding labels.

    Args:
        ignore_class: int, the label id (padding) to skip.
        name: metric name.

    Example:

    >>> model.compile(..., metrics=[MaskedAccuracy(ignore_class=0)])  # doctest: +SKIP
    """

    def __init__(self, ignore_class=0, name="accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.ignore_class = ignore_class

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        correct = ops.cast(ops.equal(y_true, predicted), self.dtype)
        mask = ops.cast(ops.not_equal(y_true, self.ignore_class), self.dtype)
        if sample_weight is not None:
            mask = mask * ops.cast(sample_weight, self.dtype)
        return super().update_state(correct, sample_weight=mask)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "ignore_class": self.ignore_class}

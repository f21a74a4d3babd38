"""Converting trained models: unshared (or differently shared) to shared."""

from sharedformer_tf.convert.shared_conversion import to_shared

__all__ = ["to_shared"]

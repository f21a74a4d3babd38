"""Converting trained models (unshared, or differently shared) to shared
ones, and distilling them from their source."""

from sharedformer_tf.convert.distiller import Distiller
from sharedformer_tf.convert.shared_conversion import to_shared

__all__ = ["Distiller", "to_shared"]

"""sharedformer_tf: Transformers with cross-layer parameter sharing as Keras 3
building blocks on TensorFlow."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402

if keras.config.backend() != "tensorflow":
    raise ImportError(
        "sharedformer_tf needs the TensorFlow backend of Keras 3. "
        f"Received: KERAS_BACKEND={keras.config.backend()!r}"
    )

from sharedformer_tf import distribute, layers, models, stacks, training  # noqa: E402
from sharedformer_tf.report import ParameterReport, parameter_report  # noqa: E402
from sharedformer_tf.sharing import SharingPlan  # noqa: E402
from sharedformer_tf.stacks import SharedDecoder, SharedEncoder  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "ParameterReport",
    "SharedDecoder",
    "SharedEncoder",
    "SharingPlan",
    "distribute",
    "layers",
    "models",
    "parameter_report",
    "stacks",
    "training",
]

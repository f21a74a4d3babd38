"""Scaling: `tf.distribute` strategies by name, precision policies and the
Keras multi-worker fix."""

from sharedformer_tf.distribute.keras_multi_worker_fix import (
    apply_keras_multi_worker_fix,
    keras_needs_multi_worker_fix,
)
from sharedformer_tf.distribute.loss_scaling import scale_for_replicas
from sharedformer_tf.distribute.precision import PRECISIONS, set_precision
from sharedformer_tf.distribute.strategies import (
    STRATEGY_NAMES,
    check_same_across_workers,
    is_chief,
    make_strategy,
    strategy_name,
    weights_digest,
    whole_step_jit,
    worker_description,
)

__all__ = [
    "PRECISIONS",
    "STRATEGY_NAMES",
    "apply_keras_multi_worker_fix",
    "check_same_across_workers",
    "is_chief",
    "keras_needs_multi_worker_fix",
    "make_strategy",
    "scale_for_replicas",
    "set_precision",
    "strategy_name",
    "weights_digest",
    "whole_step_jit",
    "worker_description",
]

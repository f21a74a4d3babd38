"""A version-guarded fix for `model.fit` under `MultiWorkerMirroredStrategy`
in Keras 3 (keras-team/keras issue 20585), kept in this one place.

With the TensorFlow backend, Keras 3 (checked on 3.15.1) fails twice when a
model trains under `MultiWorkerMirroredStrategy` across workers:

1. `TensorFlowTrainer._maybe_symbolic_build` reduces a whole (nested) data
   batch with `strategy.reduce("MEAN", batch)` just to learn its shapes and
   dtypes; `reduce` takes one tensor, so it raises "Attempt to convert a
   value (PerReplica...) to a Tensor". Reducing token ids would be wrong
   anyway: the fix takes the first local replica's batch, which has the
   right shapes and dtypes.
2. `reduce_per_replica` reduces the step's (scalar) metric results with
   `strategy.reduce("MEAN", v, axis=0)`, which fails for scalars ("Invalid
   reduction dimension 0 for input with 0 dimensions"), and returns `None`
   for `reduction="first"`. The fix reduces across replicas only
   (`axis=None`), which is what the single-worker path computes, and
   returns the first local result for `"first"`.

Only the multi-worker path changes: every other strategy calls Keras' own
code. `apply_keras_multi_worker_fix()` is idempotent and does nothing on a
Keras version outside `AFFECTED_KERAS_VERSIONS`;
`tests/distribute/test_multi_worker.py` trains two workers on localhost and
fails when the fix is missing or wrong.
"""

import logging

import keras
import tensorflow as tf

# Keras releases known to need the fix (lower bound inclusive, upper
# exclusive). Raise the upper bound after checking a newer release with
# tests/distribute/test_multi_worker.py.
AFFECTED_KERAS_VERSIONS = ((3, 0), (3, 16))
logger = logging.getLogger("sharedformer_tf")
_applied = False


def _version(text):
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def keras_needs_multi_worker_fix(version=None):
    """Whether the Keras `version` (default: the installed one) is in
    `AFFECTED_KERAS_VERSIONS`."""
    low, high = AFFECTED_KERAS_VERSIONS
    return low <= _version(version or keras.__version__) < high


def apply_keras_multi_worker_fix():
    """Patches Keras' TensorFlow trainer for multi-worker `fit`/`evaluate`
    (see the module docstring). Safe to call several times.

    Returns:
        `True` when the fix is in place, `False` when this Keras version is
        not known to need it.
    """
    global _applied
    if _applied:
        return True
    if not keras_needs_multi_worker_fix():
        logger.info("Keras %s: multi-worker fix not applied (not needed).", keras.__version__)
        return False
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original_reduce = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction == "auto":
            tpu = isinstance(strategy, tf.distribute.TPUStrategy)
            reduction = "first" if tpu else "mean"
        multi_worker = tf_trainer._collective_all_reduce_multi_worker(strategy)
        if not multi_worker or reduction not in ("mean", "first"):
            return original_reduce(values, strategy, reduction)

        def reduce(value):
            if reduction == "first":
                if tf_trainer._is_per_replica_instance(value):
                    return strategy.experimental_local_results(value)[0]
                return value
            return strategy.reduce("MEAN", value, axis=None)

        return tree.map_structure(reduce, values)

    original_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if strategy is None or not tf_trainer._collective_all_reduce_multi_worker(strategy):
            return original_build(self, iterator=iterator, data_batch=data_batch)
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tree.map_structure(
                    lambda x: (
                        strategy.experimental_local_results(x)[0]
                        if isinstance(x, tf.distribute.DistributedValues)
                        else x
                    ),
                    next(batches),
                )
                break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    tf_trainer.reduce_per_replica = reduce_per_replica
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    _applied = True
    return True

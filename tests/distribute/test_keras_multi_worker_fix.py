import pytest

from sharedformer_tf.distribute import keras_multi_worker_fix as fix


@pytest.mark.parametrize(
    "version, affected",
    [("3.15.1", True), ("3.0.0", True), ("3.16.0", False), ("2.15.0", False), ("4.0", False)],
)
def test_version_guard(version, affected):
    assert fix.keras_needs_multi_worker_fix(version) is affected


def test_fix_patches_keras_once_and_only_on_affected_versions():
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if not fix.keras_needs_multi_worker_fix():
        assert fix.apply_keras_multi_worker_fix() is False
        return
    assert fix.apply_keras_multi_worker_fix() is True
    patched = tf_trainer.reduce_per_replica
    assert patched.__module__ == fix.__name__
    assert fix.apply_keras_multi_worker_fix() is True
    assert tf_trainer.reduce_per_replica is patched  # not wrapped twice


def test_fix_leaves_single_worker_reduction_to_keras():
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer as tf_trainer

    fix.apply_keras_multi_worker_fix()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    values = {"loss": tf.constant(2.5), "accuracy": tf.constant([0.5, 1.0])}
    reduced = tf_trainer.reduce_per_replica(values, strategy, "auto")
    assert float(reduced["loss"]) == 2.5
    assert reduced["accuracy"].numpy().tolist() == [0.5, 1.0]

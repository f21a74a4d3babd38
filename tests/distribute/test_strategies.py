import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from sharedformer_tf import distribute


def test_auto_is_one_device_on_a_cpu_only_machine():
    if tf.config.list_logical_devices("GPU"):
        pytest.skip("this machine has GPUs")
    strategy = distribute.make_strategy("auto")
    assert isinstance(strategy, tf.distribute.OneDeviceStrategy)
    assert strategy.num_replicas_in_sync == 1


def test_named_strategies():
    assert isinstance(distribute.make_strategy("one_device"), tf.distribute.OneDeviceStrategy)
    mirrored = distribute.make_strategy("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync == len(
        tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    )


def test_unknown_strategy_names_what_it_received():
    with pytest.raises(ValueError, match="Received: strategy='gpu'"):
        distribute.make_strategy("gpu")


def test_tpu_strategy_without_a_tpu_fails_clearly():
    with pytest.raises(ValueError, match="no TPU is reachable"):
        distribute.make_strategy("tpu")


@pytest.mark.parametrize(
    "tf_config",
    [
        '{"cluster": ',
        json.dumps({"cluster": {"worker": []}, "task": {"index": 0}}),
        json.dumps({"cluster": {"worker": ["localhost:1"]}}),
    ],  # fmt: skip
)
def test_malformed_tf_config_is_rejected_before_any_cluster_set_up(monkeypatch, tf_config):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.make_strategy("multi_worker")


def test_whole_step_jit_decision():
    one = distribute.make_strategy("one_device")
    assert distribute.whole_step_jit(one) == (True, "")
    jit, reason = distribute.whole_step_jit(one, requested=False)
    assert not jit and "--no-jit" in reason
    # Several replicas: see test_mirrored.py (needs two devices).


def test_single_process_is_chief_and_agreement_check_is_a_no_op():
    strategy = distribute.make_strategy("one_device")
    assert distribute.is_chief(strategy)
    distribute.check_same_across_workers(strategy, b"anything", "tokenizer")
    assert "OneDeviceStrategy with 1 replica" in distribute.worker_description(strategy)


def test_weights_digest_follows_the_weights():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    other.set_weights(model.get_weights())
    assert distribute.weights_digest(model) == distribute.weights_digest(other)
    kernel, bias = other.get_weights()
    other.set_weights([kernel, bias + np.float32(1e-6)])
    assert distribute.weights_digest(model) != distribute.weights_digest(other)


def test_strategy_names_are_the_public_ones():
    assert distribute.strategy_name(distribute.make_strategy("one_device")) == "OneDeviceStrategy"
    assert distribute.strategy_name(distribute.make_strategy("mirrored")) == "MirroredStrategy"

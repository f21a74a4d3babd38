import numpy as np
import pytest

from sharedformer_tf.layers import FeedForward
from tests.layer_test_case import run_layer_test


def test_layer_contract_and_parameter_count(tmp_path):
    x = np.random.rand(2, 3, 8).astype("float32")
    kwargs = {"intermediate_dim": 16, "activation": "gelu", "dropout": 0.1}
    run_layer_test(FeedForward, kwargs, x, (2, 3, 8), tmp_path)
    ffn = FeedForward(**kwargs)
    ffn(x)
    assert ffn.count_params() == 8 * 16 + 16 + 16 * 8 + 8


def test_dropout_only_in_training():
    ffn = FeedForward(intermediate_dim=64, dropout=0.5)
    x = np.random.rand(2, 3, 8).astype("float32")
    np.testing.assert_allclose(ffn(x), ffn(x))
    assert not np.allclose(ffn(x, training=True), ffn(x))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(intermediate_dim=0), "intermediate_dim=0"),
        (dict(intermediate_dim=4, dropout=1.0), "dropout=1.0"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FeedForward(**kwargs)


def test_zero_output_kernel_starts_as_the_zero_function():
    ffn = FeedForward(intermediate_dim=4, output_kernel_initializer="zeros")
    x = np.random.rand(2, 3, 8).astype("float32")
    np.testing.assert_array_equal(ffn(x), np.zeros((2, 3, 8)))
    assert np.any(ffn.intermediate_dense.kernel.numpy() != 0)
    config = ffn.get_config()
    assert FeedForward.from_config(config).get_config() == config
    assert FeedForward(4).get_config()["output_kernel_initializer"] is None

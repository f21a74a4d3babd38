import keras_hub
import numpy as np
import pytest

from sharedformer_tf.layers import PositionEncoding
from tests.layer_test_case import run_layer_test


def test_sine_table_equals_keras_hub():
    layer = PositionEncoding(12, "sine")
    ours = layer(np.zeros((2, 12, 8), "float32"))
    theirs = keras_hub.layers.SinePositionEncoding()(np.zeros((1, 12, 8), "float32"))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert layer.count_params() == 0


@pytest.mark.parametrize("kind", ["sine", "learned"])
def test_start_index_slices_the_table(kind):
    layer = PositionEncoding(10, kind)
    full = np.asarray(layer(np.zeros((1, 10, 4), "float32")))
    part = np.asarray(layer(np.zeros((1, 3, 4), "float32"), start_index=5))
    np.testing.assert_allclose(part[0], full[0, 5:8], rtol=1e-6)


def test_learned_has_a_table_and_passes_the_layer_contract(tmp_path):
    layer = PositionEncoding(10, "learned")
    layer.build((None, None, 4))
    assert layer.count_params() == 40
    x = np.zeros((2, 5, 4), "float32")
    run_layer_test(PositionEncoding, {"max_length": 10, "kind": "learned"}, x, (2, 5, 4), tmp_path)
    with pytest.raises(ValueError, match="kind='rotary'"):
        PositionEncoding(10, "rotary")

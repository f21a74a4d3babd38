import numpy as np
import pytest

from sharedformer_tf.layers import TokenEmbedding
from tests.layer_test_case import run_layer_test


def _built(**kwargs):
    layer = TokenEmbedding(vocabulary_size=10, hidden_dim=8, **kwargs)
    layer.build()
    return layer


@pytest.mark.parametrize(
    "kwargs, params",
    [
        (dict(), 10 * 8),
        (dict(tie_weights=False), 10 * 8 + 8 * 10),
        (dict(embedding_dim=4), 10 * 4 + 4 * 8),
        (dict(embedding_dim=4, tie_weights=False), 10 * 4 + 4 * 8 + 8 * 4 + 4 * 10),
        (dict(embedding_dim=8), 10 * 8),
    ],
)
def test_parameter_counts(kwargs, params):
    assert _built(**kwargs).count_params() == params


def test_tied_factorized_reverse_uses_transposed_weights():
    layer = _built(embedding_dim=4)
    ids = np.array([[1, 2, 3]])
    hidden = layer(ids)
    table = layer.token_embedding.embeddings.numpy()
    projection = layer.projection.kernel.numpy()
    np.testing.assert_allclose(hidden, table[ids] @ projection, rtol=1e-5, atol=1e-6)
    logits = layer(hidden, reverse=True)
    assert logits.shape == (1, 3, 10) and logits.dtype == "float32"
    expected = hidden.numpy() @ projection.T @ table.T
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)


def test_reverse_logits_are_float32_under_mixed_precision():
    layer = TokenEmbedding(10, 8, dtype="mixed_bfloat16")
    hidden = layer(np.array([[1, 2]]))
    assert hidden.dtype == "bfloat16"
    assert layer(hidden, reverse=True).dtype == "float32"


def test_layer_contract(tmp_path):
    ids = np.array([[1, 2, 3], [4, 5, 0]], "int32")
    kwargs = {"vocabulary_size": 10, "hidden_dim": 8, "embedding_dim": 4, "tie_weights": False}
    run_layer_test(TokenEmbedding, kwargs, ids, (2, 3, 8), tmp_path)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(vocabulary_size=0, hidden_dim=8), "vocabulary_size=0"),
        (dict(vocabulary_size=10, hidden_dim=8, embedding_dim=9), "embedding_dim=9"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TokenEmbedding(**kwargs)

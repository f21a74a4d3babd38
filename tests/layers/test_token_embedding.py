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


@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize(
    "kwargs", [dict(), dict(tie_weights=False), dict(embedding_dim=4)], ids=str
)
def test_output_kernel_gives_the_reverse_logits(kwargs, dtype):
    layer = TokenEmbedding(10, 8, dtype=dtype, **kwargs)
    layer.build()
    rng = np.random.default_rng(0)
    for weight in layer.weights:  # untied tables differ from the embedding
        weight.assign(rng.normal(size=weight.shape).astype("float32"))
    hidden = layer(np.array([[1, 2, 3]]))
    kernel = layer.output_kernel()
    table_dim = kwargs.get("embedding_dim", 8)
    assert kernel.shape == (table_dim, 10) and kernel.dtype == "float32"
    logits = layer.logits(hidden, output_kernel=kernel)
    assert logits.dtype == "float32"
    np.testing.assert_allclose(logits, layer(hidden, reverse=True), rtol=1e-6, atol=1e-6)


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

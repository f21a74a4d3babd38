import numpy as np
import pytest

from sharedformer_tf.layers import LoRADeltas
from tests.layer_test_case import run_layer_test


def _x(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_fresh_deltas_are_zero_and_count_their_factors():
    deltas = LoRADeltas(3, {"query_dense": (8, 4), "output_dense": (4, 8)})
    out = deltas(_x(2, 5, 8), target="query_dense")
    assert out.shape == (2, 5, 4) and not np.any(np.asarray(out))
    assert deltas.count_params() == (8 * 3 + 3 * 4 + 4) + (4 * 3 + 3 * 8 + 8)
    assert {v.path.split("/")[-1] for v in deltas.weights} == {
        "query_dense_a", "query_dense_b", "query_dense_bias",
        "output_dense_a", "output_dense_b", "output_dense_bias"}  # fmt: skip


@pytest.mark.parametrize("rank", [1, 2, 4, 6])
def test_set_delta_is_the_best_rank_r_approximation(rank):
    kernel, bias, x = _x(6, 4, seed=1), _x(4, seed=2), _x(3, 6, seed=3)
    deltas = LoRADeltas(rank, {"value_dense": (6, 4)})
    deltas.build()
    deltas.set_delta("value_dense", kernel, bias)
    a, b, _ = (np.asarray(w) for w in deltas.factors["value_dense"])
    singular = np.linalg.svd(kernel, compute_uv=False)
    error = np.linalg.norm(a @ b - kernel)
    np.testing.assert_allclose(error, np.sqrt(np.sum(singular[rank:] ** 2)), atol=1e-5)
    expected = x @ (a @ b) + bias
    np.testing.assert_allclose(deltas(x, target="value_dense"), expected, rtol=1e-5, atol=1e-5)
    if rank >= 4:  # full rank: exact
        np.testing.assert_allclose(deltas(x, target="value_dense"), x @ kernel + bias,
                                   rtol=1e-5, atol=1e-5)  # fmt: skip


def test_layer_contract(tmp_path):
    kwargs = {"rank": 2, "kernel_shapes": {"key_dense": [8, 3]}}
    run_layer_test(LoRADeltas, kwargs, _x(2, 5, 8), (2, 5, 3), tmp_path,
                   call_kwargs={"target": "key_dense"})  # fmt: skip


def test_errors_name_what_was_received():
    with pytest.raises(ValueError, match="rank=0"):
        LoRADeltas(0, {"query_dense": (8, 4)})
    with pytest.raises(ValueError, match="kernel_shapes={}"):
        LoRADeltas(2, {})
    with pytest.raises(ValueError, match=r"query_dense=\(8,\)"):
        LoRADeltas(2, {"query_dense": (8,)})
    deltas = LoRADeltas(2, {"query_dense": (8, 4)})
    deltas.build()
    with pytest.raises(ValueError, match="target='key_dense'"):
        deltas(_x(1, 8), target="key_dense")
    with pytest.raises(ValueError, match=r"\(4, 8\)"):
        deltas.set_delta("query_dense", np.zeros((4, 8)), np.zeros(4))

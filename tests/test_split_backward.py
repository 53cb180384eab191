"""The numba backend's split backward (kernels/numba_cpu/shape.py): pieces that are adjacent
views of one buffer are joined without a copy; any others are concatenated, as the
reference does."""

import numpy as np
import pytest

pytest.importorskip("numba")
import tinymm  # noqa: E402
from tinymm.kernels.numba_cpu.shape import adjacent_view  # noqa: E402


def _split_backward(douts, axis):
    return tinymm.get_backend("numba").split_backward(douts, axis)[0]


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_adjacent_views_of_one_buffer_join_without_a_copy(axis):
    buffer = np.random.default_rng(0).standard_normal((4, 6, 5))
    cuts = [1, 3]
    pieces = tuple(np.split(buffer, cuts, axis=axis))
    joined = _split_backward(pieces, axis)
    np.testing.assert_array_equal(joined, np.concatenate(pieces, axis=axis))
    assert np.shares_memory(joined, buffer)


def test_pieces_out_of_order_with_gaps_or_from_other_buffers_are_concatenated():
    rng = np.random.default_rng(1)
    buffer = rng.standard_normal((3, 8))
    a, b, c = buffer[:, :2], buffer[:, 2:5], buffer[:, 5:]
    cases = [(c, a, b), (a, c), (a, rng.standard_normal((3, 3)), c), (a[1:], b[:2]),
             (a.copy(), b.copy())]
    for pieces in cases:
        joined = _split_backward(pieces, 1)
        np.testing.assert_array_equal(joined, np.concatenate(pieces, axis=1))
        assert not np.shares_memory(joined, buffer)
    assert adjacent_view((a,), 1) is None  # one piece: nothing to join
    flipped = adjacent_view((a[::-1], b[::-1]), 1)  # rows reversed, still adjacent columns
    np.testing.assert_array_equal(flipped, buffer[::-1, :5])


def test_mha_key_value_gradient_matches_reference_through_the_joined_split():
    """MultiheadAttention over one memory (key is value: K and V from one GEMM, split) gives
    the reference backend's gradients on the numba backend, whose split backward joins dK and
    dV without a copy."""
    rng = np.random.default_rng(2)
    query = rng.standard_normal((2, 3, 8))
    memory = rng.standard_normal((2, 5, 8))
    grads = {}
    for backend in ("reference", "numba"):
        with tinymm.use_backend(backend):
            tinymm.nn.init.seed(0)
            mha = tinymm.nn.MultiheadAttention(8, 2, batch_first=True, dtype=np.float64)
            q, m = tinymm.tensor(query, requires_grad=True), tinymm.tensor(memory,
                                                                           requires_grad=True)
            out, _ = mha(q, m, m, need_weights=False)
            out.backward(np.cos(np.arange(out.size)).reshape(out.shape))
            grads[backend] = [q.grad.numpy(), m.grad.numpy(),
                              *(p.grad.numpy() for p in mha.parameters())]
    for g_ref, g_nb in zip(grads["reference"], grads["numba"]):
        np.testing.assert_allclose(g_nb, g_ref, rtol=1e-10, atol=1e-12)

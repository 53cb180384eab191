"""NaN and Inf through the ops whose numba kernels assume finite values.

The numba lstm, rnn, gru and fusion kernels compile with fastmath 'nnan'/'ninf', and numba
attention's running max skips a NaN score: fed a NaN or Inf they returned finite or wrong
values (a NaN input to a relu RNN vanished; gated fusion and the GRU cells raised
ZeroDivisionError). ``ops/_checks.finite_kernel_forward`` now runs such a call on the
reference kernels when an input, or the fastmath result, holds NaN/Inf, so every backend gives
the reference's values: NaN and Inf propagate as in PyTorch. What stays unspecified (and is
tested only to end cleanly): finite inputs so large (|x| >= 1e30 in float32) that the
fastmath kernels' approximate reciprocal leaves a saturated gate a few ulps below 1, whose
gradient 1e-10 times a weight of 1e30 is then far from the reference's exact 0.
"""

import numpy as np
import pytest

import tinymm
from tinymm import F

RNG = np.random.default_rng(0)
T, N, D, H = 3, 2, 3, 2


def _weights(gates):
    return [RNG.standard_normal((gates * H, D)), RNG.standard_normal((gates * H, H)),
            RNG.standard_normal(gates * H), RNG.standard_normal(gates * H)]


SEQ = RNG.standard_normal((T, N, D))
OPS = {
    "lstm": (lambda *a: F.lstm(*a)[0], [SEQ] + _weights(4)),
    "gru": (lambda *a: F.gru(*a)[0], [SEQ] + _weights(3)),
    "rnn_tanh": (lambda *a: F.rnn(*a)[0], [SEQ] + _weights(1)),
    "rnn_relu": (lambda *a: F.rnn(*a, nonlinearity="relu")[0], [SEQ] + _weights(1)),
    "gated_fusion": (F.gated_fusion, [RNG.standard_normal((3, 4)) for _ in range(3)]),
    "bilinear_pool": (F.bilinear_pool, [RNG.standard_normal((3, 4)) for _ in range(2)]),
    "film": (F.film, [RNG.standard_normal((2, 3, 2, 2)), RNG.standard_normal((2, 3)),
                      RNG.standard_normal((2, 3))]),
    "attention": (F.scaled_dot_product_attention,
                  [RNG.standard_normal((1, 2, 3, 4)) for _ in range(3)]),
}


def _run(backend, fn, arrays, upstream_special=None):
    with tinymm.use_backend(backend), np.errstate(all="ignore"):
        ts = [tinymm.tensor(a, requires_grad=True) for a in arrays]
        out = fn(*ts)
        up = np.ones(out.shape, out.dtype)
        if upstream_special is not None:
            up.reshape(-1)[1] = upstream_special
        (out * tinymm.tensor(up)).sum().backward()
        return [out.array] + [t.grad.array for t in ts]


def _same(got, ref, what):
    for i, (a, b) in enumerate(zip(got, ref)):
        assert np.array_equal(np.isfinite(a), np.isfinite(b)), f"{what}[{i}]: NaN/Inf differ"
        ok = np.isfinite(b)
        np.testing.assert_allclose(a[ok], b[ok], rtol=2e-4, atol=1e-5, err_msg=f"{what}[{i}]")


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf])
def test_non_finite_input_gives_the_reference_result(name, special):
    fn, arrays = OPS[name]
    for which in range(len(arrays)):
        planted = [a.astype(np.float32) for a in arrays]
        planted[which].reshape(-1)[1] = special
        _same(_run("numba", fn, planted), _run("reference", fn, planted),
              f"{name} with {special} in input {which}")


@pytest.mark.parametrize("name", sorted(OPS))
def test_non_finite_upstream_gradient_gives_the_reference_result(name):
    fn, arrays = OPS[name]
    planted = [a.astype(np.float32) for a in arrays]
    for special in (np.nan, np.inf):
        _same(_run("numba", fn, planted, special), _run("reference", fn, planted, special),
              f"{name} with {special} upstream")


def test_overflow_inside_a_fastmath_kernel_is_recomputed():
    x = np.full((1, 1, 2, 2), 1e30, np.float32)  # x * gamma overflows float32 to inf
    gamma, beta = np.full((1, 1), 1e30, np.float32), np.zeros((1, 1), np.float32)
    ref = _run("reference", F.film, [x, gamma, beta])
    assert np.isinf(ref[0]).all()
    _same(_run("numba", F.film, [x, gamma, beta]), ref, "film overflow")


def test_relu_gradient_of_a_nan_upstream_is_zero_where_dead():
    # PyTorch's threshold_backward: 0 where x <= 0 (not NaN * 0), dout elsewhere (NaN x too)
    x = np.array([-1.0, 0.0, 2.0, np.nan])
    up = np.array([np.nan, np.nan, np.nan, 1.0])
    for backend in ("reference", "numba"):
        with tinymm.use_backend(backend):
            t = tinymm.tensor(x, requires_grad=True)
            (F.relu(t) * tinymm.tensor(up)).sum().backward()
            np.testing.assert_array_equal(t.grad.array, [0.0, 0.0, np.nan, 1.0])
    torch = pytest.importorskip("torch")
    t = torch.tensor(x, requires_grad=True)
    (torch.relu(t) * torch.tensor(up)).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [0.0, 0.0, np.nan, 1.0])


def test_huge_finite_inputs_end_cleanly():
    fn, arrays = OPS["gru"]
    planted = [a.astype(np.float32) for a in arrays]
    planted[1].reshape(-1)[1] = 1e30  # one saturating weight: the documented exception
    for backend in ("reference", "numba"):
        got = _run(backend, fn, planted)
        assert [g.shape for g in got] == [got[0].shape] + [a.shape for a in planted]
        assert np.isfinite(got[0]).all()


@pytest.mark.parametrize("where", ["inside", "outside"])
def test_strided_views_are_checked_through_their_buffer(where):
    """q, k, v as head-split views of one projection buffer (as MultiheadAttention makes
    them), which the check reads whole: a NaN inside the views gives the reference's NaN
    result; a NaN in the buffer outside them still gives the finite result."""
    buffer = RNG.standard_normal((1, 3, 12))  # (N, L, 2 heads x 4 used + 4 unused)
    buffer[0, 1, 3 if where == "inside" else 10] = np.nan
    view = buffer[..., :8].reshape(1, 3, 2, 4).transpose(0, 2, 1, 3)  # (N, heads, L, 4)
    assert not view.flags.c_contiguous and buffer.size <= 2 * view.size
    got = _run("numba", F.scaled_dot_product_attention, [view, view, view])
    ref = _run("reference", F.scaled_dot_product_attention, [view, view, view])
    _same(got, ref, where)
    assert np.isnan(got[0]).any() == (where == "inside")

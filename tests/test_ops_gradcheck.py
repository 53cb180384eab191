"""Finite-difference gradient checks of every foundation op over hypothesis-drawn shapes.

Shapes include size-1 dimensions and broadcasting; every op runs on every CPU backend.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinymm
from tinymm import functional as F

BACKENDS = ["reference", "numba"]
dims = st.integers(1, 4)
shapes = st.lists(dims, min_size=1, max_size=3).map(tuple)


@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast: start from one shape and set some dims to 1 / drop leading."""
    shape = draw(shapes)
    other = [1 if draw(st.booleans()) else s for s in shape]
    drop = draw(st.integers(0, len(other) - 1))
    return shape, tuple(other[drop:])


def arrays(draw_rng, shape, low=None):
    a = draw_rng.standard_normal(shape)
    if low is not None:
        a = low + np.abs(a)
    return a


@pytest.fixture(params=BACKENDS)
def backend(request):
    with tinymm.use_backend(request.param):
        yield request.param


@given(pair=broadcast_pair(), seed=st.integers(0, 2**16))
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow"])
def test_binary_broadcasting(backend, op, pair, seed):
    rng = np.random.default_rng(seed)
    a_shape, b_shape = pair
    a, b = arrays(rng, a_shape), arrays(rng, b_shape, low=0.5)
    fn = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
          "div": lambda x, y: x / y, "pow": lambda x, y: y ** x}[op]
    assert tinymm.gradcheck(fn, [a, b])
    assert tinymm.gradcheck(fn, [b, a])  # broadcasting from either side


@given(shape=shapes, seed=st.integers(0, 2**16))
def test_unary(backend, shape, seed):
    rng = np.random.default_rng(seed)
    x = arrays(rng, shape)
    pos = arrays(rng, shape, low=0.2)
    assert tinymm.gradcheck(lambda t: t.exp() * 0.5 - t ** 2, [x])
    assert tinymm.gradcheck(lambda t: t.log() + t.sqrt() + t.abs(), [pos])
    assert tinymm.gradcheck(lambda t: (-t).clamp(min=-0.5, max=0.5), [x * 0 + 0.1 + x * 0.1])


@given(shape=shapes, seed=st.integers(0, 2**16), keep=st.booleans(), data=st.data())
def test_reductions(backend, shape, seed, keep, data):
    rng = np.random.default_rng(seed)
    x = rng.permutation(np.arange(int(np.prod(shape)), dtype=np.float64)).reshape(shape) * 0.1
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    for reduce in ("sum", "mean", "max"):  # distinct values: max has no ties
        assert tinymm.gradcheck(lambda t, r=reduce: getattr(t, r)(axis=axis, keepdims=keep), [x])


def test_max_ties_share_the_gradient():
    x = tinymm.tensor(np.array([1.0, 3.0, 3.0]), requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.5, 0.5])


@given(shape=st.lists(dims, min_size=2, max_size=3).map(tuple), seed=st.integers(0, 2**16))
def test_shape_ops(backend, shape, seed):
    rng = np.random.default_rng(seed)
    x = arrays(rng, shape)
    perm = tuple(rng.permutation(len(shape)))
    assert tinymm.gradcheck(lambda t: t.permute(perm).reshape(-1) * 2.0, [x])
    assert tinymm.gradcheck(lambda t: t.transpose(0, 1)[..., :1], [x])
    assert tinymm.gradcheck(lambda t: t.unsqueeze(1).squeeze(1).flatten(), [x])
    rows = rng.integers(0, shape[0], 5)  # drawn once: fn must be the same function each call
    assert tinymm.gradcheck(lambda t: t[rows], [x])


@given(n=dims, ks=st.lists(dims, min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_concat_stack_split(backend, n, ks, seed):
    rng = np.random.default_rng(seed)
    xs = [arrays(rng, (n, k)) for k in ks]
    assert tinymm.gradcheck(lambda *ts: tinymm.concat(list(ts), axis=1) * 3.0, xs)
    same = [arrays(rng, (n, 2)) for _ in ks]
    assert tinymm.gradcheck(lambda *ts: tinymm.stack(list(ts), axis=1), same)
    total = sum(ks)
    assert tinymm.gradcheck(lambda t: tinymm.split(t, ks, axis=1)[-1] * 2.0,
                            [arrays(rng, (n, total))])


@given(m=dims, k=dims, p=dims, batch=st.sampled_from([(), (1,), (2,), (2, 1)]),
       seed=st.integers(0, 2**16))
def test_matmul(backend, m, k, p, batch, seed):
    rng = np.random.default_rng(seed)
    a = arrays(rng, batch + (m, k))
    b = arrays(rng, (k, p))
    assert tinymm.gradcheck(F.matmul, [a, b])
    assert tinymm.gradcheck(F.matmul, [b.T.copy(), a.swapaxes(-1, -2).copy()])
    assert tinymm.gradcheck(F.matmul, [arrays(rng, (k,)), b])  # vector @ matrix


@given(lead=st.lists(dims, min_size=1, max_size=2).map(tuple), d_in=dims, d_out=dims,
       bias=st.booleans(), seed=st.integers(0, 2**16))
def test_linear(backend, lead, d_in, d_out, bias, seed):
    rng = np.random.default_rng(seed)
    inputs = [arrays(rng, lead + (d_in,)), arrays(rng, (d_out, d_in))]
    if bias:
        inputs.append(arrays(rng, (d_out,)))
    assert tinymm.gradcheck(F.linear, inputs)


@given(shape=shapes, seed=st.integers(0, 2**16))
def test_activations(backend, shape, seed):
    rng = np.random.default_rng(seed)
    x = arrays(rng, shape) * 3
    x = np.where(np.abs(x) < 1e-3, 0.5, x)  # keep ReLU away from its kink
    for fn in (F.relu, F.sigmoid, F.tanh):
        assert tinymm.gradcheck(fn, [x])


@given(shape=st.lists(dims, min_size=1, max_size=3).map(tuple), seed=st.integers(0, 2**16),
       data=st.data())
def test_softmax_family(backend, shape, seed, data):
    rng = np.random.default_rng(seed)
    x = arrays(rng, shape) * 2
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    assert tinymm.gradcheck(lambda t: F.softmax(t, dim=dim), [x])
    assert tinymm.gradcheck(lambda t: F.log_softmax(t, dim=dim), [x])


@given(n=dims, c=st.integers(1, 5), reduction=st.sampled_from(["mean", "sum", "none"]),
       smoothing=st.sampled_from([0.0, 0.2]), ignore=st.booleans(), seed=st.integers(0, 2**16))
def test_cross_entropy(backend, n, c, reduction, smoothing, ignore, seed):
    rng = np.random.default_rng(seed)
    logits = arrays(rng, (n, c)) * 2
    target = rng.integers(0, c, n)
    if ignore and n > 1:
        target[0] = -100
    assert tinymm.gradcheck(
        lambda t: F.cross_entropy(t, target, reduction=reduction, label_smoothing=smoothing),
        [logits])


def test_cross_entropy_mean_counts_only_the_rows_not_ignored(backend):
    """reduction='mean' divides by the rows that count: pinned against a hand computation,
    and the backward (checked by gradcheck) must use the same count."""
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((5, 4))
    target = np.array([1, -100, 3, -100, 0])
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -(logp[0, 1] + logp[2, 3] + logp[4, 0]) / 3
    got = F.cross_entropy(tinymm.tensor(logits), target).item()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert tinymm.gradcheck(lambda t: F.cross_entropy(t, target), [logits])

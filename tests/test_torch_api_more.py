"""torch / Tensor functions (ops/indexing.py, ops/special.py), default dtype, finfo/iinfo,
printoptions: values and gradients against PyTorch (behind importorskip), float64 gradchecks,
bad input."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm

RNG = np.random.default_rng(1)


def _torch():
    return pytest.importorskip("torch")


IDX = np.array([[0, 2, 1], [1, 0, 0]])  # a (2, 3) index into dim 1 of a (2, 3) input

# name: (our function of the float inputs, torch's, input shapes)
DIFFERENTIABLE = {
    "roll": (lambda x: x.roll(1, 1), lambda x: x.roll(1, 1), [(2, 3)]),
    "roll_flat": (lambda x: tinymm.roll(x, -2), lambda x: x.roll(-2), [(2, 3)]),
    "flip": (lambda x: x.flip((0, 1)), lambda x: x.flip((0, 1)), [(2, 3)]),
    "repeat_interleave": (lambda x: x.repeat_interleave(np.array([1, 0, 2]), 1),
                          lambda x: x.repeat_interleave(
                              _torch().tensor([1, 0, 2]), 1), [(2, 3)]),
    "movedim": (lambda x: x.movedim(0, -1), lambda x: x.movedim(0, -1), [(2, 3, 4)]),
    "broadcast_to": (lambda x: x.broadcast_to((2, 3)), lambda x: x.broadcast_to((2, 3)),
                     [(3,)]),
    "take_along_dim": (lambda x: x.take_along_dim(tinymm.tensor(IDX), 1),
                       lambda x: x.take_along_dim(_torch().tensor(IDX), 1), [(2, 3)]),
    "diag_1d": (lambda x: x.diag(1), lambda x: x.diag(1), [(3,)]),
    "diag_2d": (lambda x: tinymm.diag(x, -1), lambda x: x.diag(-1), [(3, 4)]),
    "tril": (lambda x: x.tril(), lambda x: x.tril(), [(3, 4)]),
    "triu": (lambda x: x.triu(1), lambda x: x.triu(1), [(3, 4)]),
    "outer": (lambda a, b: a.outer(b), lambda a, b: a.outer(b), [(3,), (2,)]),
    "scatter": (lambda x, s: x.scatter(1, tinymm.tensor(IDX[:, :2]), s),
                lambda x, s: x.scatter(1, _torch().tensor(IDX[:, :2]), s),
                [(2, 3), (2, 2)]),
    "scatter_add": (lambda x, s: tinymm.scatter_add(x, 1, tinymm.tensor(IDX), s),
                    lambda x, s: x.scatter_add(1, _torch().tensor(IDX), s),
                    [(2, 3), (2, 3)]),
    "index_add": (lambda x, s: x.index_add(0, tinymm.tensor([2, 0, 2]), s, alpha=2.0),
                  lambda x, s: x.index_add(0, _torch().tensor([2, 0, 2]), s,
                                           alpha=2.0), [(3, 2), (3, 2)]),
    "erf": (lambda x: x.erf(), lambda x: x.erf(), [(2, 3)]),
    "fmod": (lambda a, b: a.fmod(b), lambda a, b: a.fmod(b), [(2, 3), (3,)]),
    "remainder": (lambda a, b: tinymm.remainder(a, b), lambda a, b: a.remainder(b),
                  [(2, 3), (2, 3)]),
    "addmm": (lambda c, a, b: tinymm.addmm(c, a, b, beta=0.5, alpha=2.0),
              lambda c, a, b: _torch().addmm(c, a, b, beta=0.5, alpha=2.0),
              [(2, 4), (2, 3), (3, 4)]),
    "addcmul": (lambda x, a, b: x.addcmul(a, b, value=0.5),
                lambda x, a, b: x.addcmul(a, b, value=0.5), [(2, 3), (2, 3), (2, 3)]),
    "addcdiv": (lambda x, a, b: x.addcdiv(a, b + 3.0, value=-2),
                lambda x, a, b: x.addcdiv(a, b + 3.0, value=-2), [(2, 3), (2, 3), (2, 3)]),
    "masked_select": (lambda x: x.masked_select(tinymm.tensor(IDX > 0)),
                      lambda x: x.masked_select(_torch().tensor(IDX > 0)), [(3,)]),
    "neg_where": (lambda x: tinymm.neg(x).where(tinymm.tensor(IDX > 0), 0.5),
                  lambda x: x.neg().where(_torch().tensor(IDX > 0), 0.5), [(2, 3)]),
}


@pytest.mark.parametrize("name", sorted(DIFFERENTIABLE))
def test_functions_match_torch_values_and_gradients(name):
    torch = pytest.importorskip("torch")
    ours, theirs, shapes = DIFFERENTIABLE[name]
    arrays = [RNG.standard_normal(s) * 2 for s in shapes]
    xs = [tinymm.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, out_t = ours(*xs), theirs(*ts)
    np.testing.assert_allclose(out.detach().numpy(), out_t.detach().numpy(), atol=1e-12)
    up = RNG.standard_normal(tuple(out.shape))
    (out * tinymm.tensor(up)).sum().backward()
    (out_t * torch.tensor(up)).sum().backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), atol=1e-12)
    tinymm.gradcheck(ours, arrays)


def test_meshgrid_nan_to_num_and_in_place_forms_match_torch():
    torch = pytest.importorskip("torch")
    for indexing in ("ij", "xy"):
        grids = tinymm.meshgrid(tinymm.arange(2), tinymm.arange(3), indexing=indexing)
        grids_t = torch.meshgrid(torch.arange(2), torch.arange(3), indexing=indexing)
        for g, g_t in zip(grids, grids_t):
            np.testing.assert_array_equal(g.numpy(), g_t.numpy())
    a = np.array([1.0, np.nan, np.inf, -np.inf], np.float32)
    x, xt = tinymm.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    out, out_t = x.nan_to_num(), torch.nan_to_num(xt)
    np.testing.assert_array_equal(out.detach().numpy(), out_t.detach().numpy())
    out.sum().backward()
    out_t.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())
    base = RNG.standard_normal((2, 3))
    y, yt = tinymm.tensor(base), torch.tensor(base)
    y.scatter_(1, tinymm.tensor(IDX), 7.0).scatter_add_(1, tinymm.tensor(IDX), tinymm.ones(2, 3)
                                                          .double())
    yt.scatter_(1, torch.tensor(IDX), 7.0).scatter_add_(1, torch.tensor(IDX), torch.ones(2, 3)
                                                        .double())
    other = RNG.standard_normal((2, 3))
    z, zt = tinymm.tensor(other), torch.tensor(other)
    y.addcmul_(z, z, value=0.1).addcdiv_(z, z + 100, value=2).index_add_(0, tinymm.tensor([1]),
                                                                         z[:1])
    yt.addcmul_(zt, zt, value=0.1).addcdiv_(zt, zt + 100, value=2).index_add_(
        0, torch.tensor([1]), zt[:1])
    np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=1e-12)


def test_counting_and_logical_functions_match_torch():
    torch = pytest.importorskip("torch")
    v = np.array([3, 1, 3, 0, 2, 3])
    for kw in (dict(), dict(return_inverse=True, return_counts=True)):
        ours, theirs = tinymm.unique(tinymm.tensor(v), **kw), torch.unique(torch.tensor(v), **kw)
        for a, b in zip(ours if kw else [ours], theirs if kw else [theirs]):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    w = RNG.standard_normal(6)
    for ours, theirs in ((tinymm.bincount(tinymm.tensor(v), minlength=6),
                          torch.bincount(torch.tensor(v), minlength=6)),
                         (tinymm.tensor(v).bincount(tinymm.tensor(w)),
                          torch.tensor(v).bincount(torch.tensor(w))),
                         (tinymm.count_nonzero(tinymm.tensor(IDX), dim=0),
                          torch.count_nonzero(torch.tensor(IDX), dim=0)),
                         (tinymm.tensor(IDX).count_nonzero(), torch.tensor(IDX).count_nonzero()),
                         (tinymm.logical_and(tinymm.tensor(IDX), tinymm.tensor(IDX > 1)),
                          torch.logical_and(torch.tensor(IDX), torch.tensor(IDX > 1))),
                         (tinymm.tensor(IDX).logical_or(tinymm.tensor(IDX)),
                          torch.tensor(IDX).logical_or(torch.tensor(IDX))),
                         (tinymm.tensor([np.inf, 1.0]).isinf(),
                          torch.tensor([np.inf, 1.0]).isinf()),
                         (tinymm.isnan(tinymm.tensor([np.nan, 1.0])),
                          torch.isnan(torch.tensor([np.nan, 1.0])))):
        assert ours.dtype == np.dtype(str(theirs.dtype).replace("torch.", ""))
        np.testing.assert_allclose(ours.numpy(), theirs.numpy())


def test_bad_input_names_the_function():
    x = tinymm.zeros(2, 3)
    with pytest.raises(RuntimeError, match="scatter: index 3 is out of bounds for dimension 1"):
        x.scatter(1, tinymm.tensor([[3]]), 1.0)
    with pytest.raises(ValueError, match="scatter_add: index and src must have the input's 2"):
        x.scatter_add(1, tinymm.tensor([0]), tinymm.ones(1))
    with pytest.raises(RuntimeError, match="bincount: input must be a 1-d tensor"):
        tinymm.bincount(tinymm.tensor([-1, 2]))
    with pytest.raises(ValueError, match="repeat_interleave: repeats must be"):
        x.repeat_interleave(tinymm.tensor([1, 2]), 1)
    with pytest.raises(TypeError, match="masked_select: mask must be a bool tensor"):
        x.masked_select(tinymm.ones(2, 3))
    with pytest.raises(ValueError, match="movedim: source"):
        x.movedim((0, 0), (1, 0))
    with pytest.raises(TypeError, match="set_default_dtype: only floating-point types"):
        tinymm.set_default_dtype(tinymm.int64)


def test_default_dtype_reaches_factories_tensors_and_layers():
    torch = pytest.importorskip("torch")
    assert tinymm.get_default_dtype() is tinymm.float32
    tinymm.set_default_dtype(tinymm.float64)
    try:
        assert tinymm.get_default_dtype() is tinymm.float64
        assert tinymm.tensor([1.5]).dtype == np.float64 and tinymm.zeros(2).dtype == np.float64
        assert tinymm.arange(0.0, 1.0, 0.5).dtype == np.float64
        assert tinymm.nn.Linear(2, 3).weight.dtype == np.float64
        assert tinymm.nn.BatchNorm1d(3).running_mean.dtype == np.float64
        assert tinymm.finfo().eps == torch.finfo(torch.float64).eps
    finally:
        tinymm.set_default_dtype(tinymm.float32)
    assert tinymm.tensor([1.5]).dtype == np.float32
    assert tinymm.finfo(tinymm.float16).max == torch.finfo(torch.float16).max
    assert tinymm.iinfo(tinymm.int32).min == torch.iinfo(torch.int32).min


def test_set_printoptions_changes_repr():
    x = tinymm.tensor([1.234567])
    try:
        tinymm.set_printoptions(precision=2)
        assert "1.23" in repr(x) and "1.2346" not in repr(x)
        tinymm.set_printoptions(sci_mode=True)
        assert "e+00" in repr(x)
    finally:
        tinymm.set_printoptions(profile="default")
    assert "1.2346" in repr(x)

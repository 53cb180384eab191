"""Tensor median/kthvalue/mode/diff/cummax/cummin/take/index_fill_/lerp_/sum_to_size,
torch.tensordot/kron/trace/baddbmm and optim.lr_scheduler.CyclicLR, held to PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tinymm import optim

RNG = np.random.default_rng(0)
X = RNG.permutation(24).astype(np.float64).reshape(2, 3, 4) / 7  # distinct: no ties


def _both(call, arrays, pick=lambda r: r, tol=1e-12):
    """call(lib, *tensors) in tinymm and torch on the same float64 leaves; compare the
    (picked) outputs and the gradients of a fixed weighted sum of the picked output."""
    torch = pytest.importorskip("torch")
    ours = [tinymm.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    theirs = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    full_o, full_t = call(tinymm, *ours), call(torch, *theirs)
    out, ref = pick(full_o), pick(full_t)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=tol, atol=tol)
    weights = np.linspace(-1, 1, ref.numel()).reshape(tuple(ref.shape))
    (out * tinymm.tensor(weights)).sum().backward()
    (ref * torch.tensor(weights)).sum().backward()
    for o, t in zip(ours, theirs):
        if t.requires_grad:
            np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=tol, atol=tol)
    return full_o, full_t


@pytest.mark.parametrize("call", [
    lambda lib, x: x.median(),
    lambda lib, x: x.median(1, keepdim=True),
    lambda lib, x: lib.median(x, -1),
    lambda lib, x: x.kthvalue(3, 2),
    lambda lib, x: lib.kthvalue(x, 1, 0, True),
    lambda lib, x: x.cummax(1),
    lambda lib, x: lib.cummin(x, 2),
])
def test_order_statistics_match_torch_values_indices_and_grads(call):
    ours, theirs = _both(call, [X], pick=lambda r: r[0] if isinstance(r, tuple) else r)
    if isinstance(theirs, tuple):
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())


def test_mode_and_cummax_ties_follow_torch():
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, 3.0, 3.0, 1.0, 2.0], [4.0, 4.0, 0.0, 5.0, 5.0]])
    for dim in (1, 0):
        ours, theirs = tinymm.tensor(a).mode(dim), torch.tensor(a).mode(dim)
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    ours, theirs = tinymm.tensor(a).cummax(1), torch.tensor(a).cummax(1)
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    _both(lambda lib, x: x.mode(1), [a], pick=lambda r: r[0])


@pytest.mark.parametrize("call", [
    lambda lib, x: x.diff(),
    lambda lib, x: lib.diff(x, 2, 1),
    lambda lib, x: x.diff(dim=0, prepend=x[:1] * 2, append=x[1:] + 1),
    lambda lib, x: x.take(lib.tensor([[0, 23], [5, -1]])),
    lambda lib, x: x.index_fill(1, lib.tensor([0, 2]), -1.5),
    lambda lib, x: x.sum_to_size(3, 1),
    lambda lib, x: x.sum_to_size((1, 1, 4)),
    lambda lib, x: x.lerp(x.flip(0), 0.25),
    lambda lib, x: lib.tensordot(x, x, dims=([0, 2], [0, 2])),
    lambda lib, x: lib.tensordot(x, x.permute(2, 1, 0), dims=1),
    lambda lib, x: lib.kron(x[0], x[1, :2]),
    lambda lib, x: lib.kron(x[0, 0], x[1]),
    lambda lib, x: x[0].trace(),
    lambda lib, x: lib.trace(x[:, :, 0]),
    lambda lib, x: lib.baddbmm(x[:, :, :3], x, x.transpose(1, 2)[:, :, :3], beta=0.5,
                               alpha=2.0),
    lambda lib, x: x[:, :, :3].baddbmm(x, x.transpose(1, 2)[:, :, :3], beta=0),
])
def test_differences_products_and_fills_match_torch(call):
    _both(call, [X])


def test_in_place_fill_and_lerp_gradients_and_gradchecks():
    torch = pytest.importorskip("torch")
    results = []
    for lib in (tinymm, torch):
        leaf = lib.tensor(X[0].copy(), requires_grad=True)
        y = leaf * 2
        y.index_fill_(0, lib.tensor([1]), 3.0)
        y.lerp_(lib.tensor(X[1]), 0.3)
        (y * y).sum().backward()
        results.append((y.detach().numpy(), leaf.grad.numpy()))
    for o, t in zip(*results):
        np.testing.assert_allclose(o, t, rtol=1e-12)
    for fn in (lambda t: t.median(0).values, lambda t: t.diff(2), lambda t: t.cummax(1)[0],
               lambda t: tinymm.kron(t, t), lambda t: tinymm.tensordot(t, t.t(), 1)):
        assert tinymm.gradcheck(fn, (tinymm.tensor(X[0], requires_grad=True),))


def test_bad_input_errors():
    x = tinymm.tensor(X)
    with pytest.raises(ValueError, match=r"kthvalue: k must be an int in \[1, 4\]"):
        x.kthvalue(5)
    with pytest.raises(IndexError, match="take: index out of range"):
        x.take(tinymm.tensor([24]))
    with pytest.raises(ValueError, match="sum_to_size: size .* is not expandable"):
        x.sum_to_size(2, 2)
    with pytest.raises(ValueError, match="tensordot: contracted dims differ"):
        tinymm.tensordot(x, x, dims=([0], [1]))
    with pytest.raises(ValueError, match="trace: expected a 2-d"):
        x.trace()
    with pytest.raises(ValueError, match="baddbmm: batch1 and batch2 must be 3-d"):
        tinymm.baddbmm(x, x, x)
    with pytest.raises(TypeError, match="no bfloat16 dtype"):
        x.bfloat16()
    with pytest.raises(AttributeError, match="tinymm has no bfloat16"):
        tinymm.bfloat16  # noqa: B018


@pytest.mark.parametrize("kwargs", [
    dict(mode="triangular"), dict(mode="triangular2", step_size_down=2),
    dict(mode="exp_range", gamma=0.9), dict(scale_fn=lambda c: 0.5 ** c, scale_mode="cycle"),
])
def test_cyclic_lr_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    seqs = []
    for lib in (tinymm, torch):
        w = lib.nn.Parameter(lib.zeros(2))
        opt = lib.optim.SGD([w], lr=1.0, momentum=0.9)
        sched = lib.optim.lr_scheduler.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=3,
                                                **kwargs)
        seq = []
        for _ in range(14):
            opt.step()
            sched.step()
            seq.append((sched.get_last_lr()[0], opt.param_groups[0]["momentum"]))
        seqs.append(seq)
    np.testing.assert_allclose(np.array(seqs[0]), np.array(seqs[1]), rtol=1e-12)
    adam = optim.Adam([tinymm.nn.Parameter(tinymm.zeros(1))])
    optim.lr_scheduler.CyclicLR(adam, 0.01, 0.1, step_size_up=2)
    assert adam.param_groups[0]["betas"][0] == pytest.approx(0.9)
    with pytest.raises(ValueError, match="CyclicLR: mode must be"):
        optim.lr_scheduler.CyclicLR(adam, 0.01, 0.1, mode="sine")

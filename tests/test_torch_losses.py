"""PyTorch's loss functions and modules (tinymm/ops/loss.py, tinymm/nn/loss.py): closed forms
from NumPy, finite-difference gradients over hypothesis shapes, and torch.nn.functional
parity (values and gradients) when PyTorch is installed."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm
from tinymm import functional as F
from tinymm import nn

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
FAST = settings(max_examples=10, deadline=None)
REDUCTIONS = ["mean", "sum", "none"]


def _reduce(loss, reduction):
    return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]


def _numpy_loss(name, x, t, reduction):
    d = x - t
    if name == "mse_loss":
        loss = d * d
    elif name == "l1_loss":
        loss = np.abs(d)
    elif name == "smooth_l1_loss":
        loss = np.where(np.abs(d) < 1, 0.5 * d * d, np.abs(d) - 0.5)
    elif name == "huber_loss":
        loss = np.where(np.abs(d) <= 1, 0.5 * d * d, np.abs(d) - 0.5)
    elif name == "binary_cross_entropy":
        loss = -(t * np.log(x) + (1 - t) * np.log(1 - x))
    else:  # with logits
        p = 1 / (1 + np.exp(-x))
        loss = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    return _reduce(loss, reduction)


NAMES = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
         "binary_cross_entropy_with_logits"]


def _inputs(name, shape, seed):
    rng = np.random.default_rng(seed)
    if name == "binary_cross_entropy":
        return rng.uniform(0.05, 0.95, shape), rng.uniform(0, 1, shape)
    x = rng.standard_normal(shape) * 2
    t = rng.uniform(0, 1, shape) if "cross" in name else rng.standard_normal(shape)
    return x, t


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@FAST
@given(shape=shapes)
def test_pointwise_losses_closed_form_and_gradcheck(name, reduction, shape):
    x, t = _inputs(name, shape, len(shape))
    fn = getattr(F, name)
    out = fn(tinymm.tensor(x), tinymm.tensor(t), reduction=reduction)
    np.testing.assert_allclose(out.numpy(), _numpy_loss(name, x, t, reduction), rtol=1e-10)
    target = tinymm.tensor(t)
    assert tinymm.gradcheck(lambda a: fn(a, target, reduction=reduction), [x])
    if "cross" not in name:  # difference losses also differentiate the target
        assert tinymm.gradcheck(lambda a, b: fn(a, b, reduction=reduction), [x, t])


@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_smooth_l1_and_huber_closed_form_away_from_one(beta):
    # smooth L1 = huber / beta: the quadratic part is divided by beta in one, the linear part
    # multiplied by delta in the other; beta = delta = 1 (the default) hides either factor
    x = np.array([-3.0, -0.7, -0.2, 0.1, 0.45, 0.9, 1.5, 4.0])
    t = np.zeros_like(x)
    a = np.abs(x)
    smooth = np.where(a < beta, 0.5 * x * x / beta, a - 0.5 * beta)
    huber = np.where(a <= beta, 0.5 * x * x, beta * (a - 0.5 * beta))
    got = F.smooth_l1_loss(tinymm.tensor(x), tinymm.tensor(t), reduction="none", beta=beta)
    np.testing.assert_allclose(got.numpy(), smooth, rtol=1e-12)
    got = F.huber_loss(tinymm.tensor(x), tinymm.tensor(t), reduction="none", delta=beta)
    np.testing.assert_allclose(got.numpy(), huber, rtol=1e-12)
    target = tinymm.tensor(t)
    assert tinymm.gradcheck(lambda v: F.huber_loss(v, target, delta=beta), [x])


@pytest.mark.parametrize("name", NAMES)
def test_pointwise_losses_match_torch(name):
    torch = pytest.importorskip("torch")
    x, t = _inputs(name, (3, 4), 7)
    for reduction in REDUCTIONS:
        xt, xo = torch.tensor(x, requires_grad=True), tinymm.tensor(x, requires_grad=True)
        lt = getattr(torch.nn.functional, name)(xt, torch.tensor(t), reduction=reduction)
        lo = getattr(F, name)(xo, tinymm.tensor(t), reduction=reduction)
        np.testing.assert_allclose(lo.detach().numpy(), lt.detach().numpy(), rtol=1e-12)
        (lt * torch.arange(1.0, lt.numel() + 1, dtype=torch.float64).reshape(lt.shape)).sum() \
            .backward()
        (lo * tinymm.arange(1.0, lo.numel() + 1).double().reshape(lo.shape)).sum().backward()
        np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_bce_options_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x, t = rng.standard_normal((4, 3)), rng.uniform(0, 1, (4, 3))
    w, pw = rng.uniform(0.5, 2, 3), rng.uniform(0.5, 3, 3)
    ours = F.binary_cross_entropy_with_logits(tinymm.tensor(x), tinymm.tensor(t),
                                              weight=tinymm.tensor(w), pos_weight=tinymm.tensor(pw))
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(x), torch.tensor(t), weight=torch.tensor(w), pos_weight=torch.tensor(pw))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    assert tinymm.gradcheck(lambda a: F.binary_cross_entropy_with_logits(
        a, tinymm.tensor(t), pos_weight=tinymm.tensor(pw)), [x])
    p = 1 / (1 + np.exp(-x))
    p[0, 0], p[1, 1] = 0.0, 1.0  # log clamped at -100, as torch
    ours = F.binary_cross_entropy(tinymm.tensor(p), tinymm.tensor(t), weight=tinymm.tensor(w))
    theirs = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(t),
                                                      weight=torch.tensor(w))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@FAST
@given(n=st.integers(1, 5), c=st.integers(2, 5), weighted=st.booleans(),
       ignore=st.booleans())
def test_nll_loss_closed_form_and_gradcheck(reduction, n, c, weighted, ignore):
    rng = np.random.default_rng(n * 10 + c)
    logp = rng.standard_normal((n, c))
    target = rng.integers(0, c, n)
    if ignore:
        target[0] = -100
    w = rng.uniform(0.5, 2, c) if weighted else np.ones(c)
    keep = target != -100
    safe = np.where(keep, target, 0)
    per = np.where(keep, -w[safe] * logp[np.arange(n), safe], 0.0)
    total = np.where(keep, w[safe], 0).sum()
    expected = {"mean": per.sum() / total if total else np.nan, "sum": per.sum(),
                "none": per}[reduction]
    weight = tinymm.tensor(w) if weighted else None
    out = F.nll_loss(tinymm.tensor(logp), tinymm.tensor(target), weight=weight,
                     reduction=reduction)
    if reduction == "mean" and not keep.any():
        return  # 0/0, as torch gives nan
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    assert tinymm.gradcheck(lambda a: F.nll_loss(a, tinymm.tensor(target), weight=weight,
                                                 reduction=reduction), [logp])


def test_loss_modules_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((6, 4))
    labels = rng.integers(0, 4, 6)
    images = rng.standard_normal((2, 4, 3, 3))  # (N, C, H, W) for the spatial form
    pixel_labels = rng.integers(0, 4, (2, 3, 3))
    w = rng.uniform(0.5, 2, 4)
    pairs = [
        (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), logits, labels),
        (nn.CrossEntropyLoss(weight=tinymm.tensor(w)),
         torch.nn.CrossEntropyLoss(weight=torch.tensor(w)), logits, labels),
        (nn.CrossEntropyLoss(label_smoothing=0.1),
         torch.nn.CrossEntropyLoss(label_smoothing=0.1), logits, labels),
        (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), images, pixel_labels),
        (nn.NLLLoss(weight=tinymm.tensor(w)), torch.nn.NLLLoss(weight=torch.tensor(w)),
         logits, labels),
        (nn.NLLLoss(reduction="none"), torch.nn.NLLLoss(reduction="none"), images,
         pixel_labels),
        (nn.MSELoss(), torch.nn.MSELoss(), logits, logits[::-1].copy()),
        (nn.L1Loss(reduction="sum"), torch.nn.L1Loss(reduction="sum"), logits, logits * 0),
        (nn.SmoothL1Loss(beta=0.5), torch.nn.SmoothL1Loss(beta=0.5), logits, logits * 0.1),
        (nn.HuberLoss(delta=0.7), torch.nn.HuberLoss(delta=0.7), logits, logits * 0.1),
        (nn.BCEWithLogitsLoss(), torch.nn.BCEWithLogitsLoss(), logits, (logits > 0) * 1.0),
        (nn.BCELoss(), torch.nn.BCELoss(), 1 / (1 + np.exp(-logits)), (logits > 0) * 1.0),
    ]
    for ours, theirs, x, t in pairs:
        xo, xt = tinymm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        lo, lt = ours(xo, tinymm.tensor(t)), theirs(xt, torch.tensor(t))
        np.testing.assert_allclose(lo.detach().numpy(), lt.detach().numpy(), rtol=1e-10,
                                   err_msg=repr(ours))
        lo.sum().backward()
        lt.sum().backward()
        np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-14)


def test_loss_input_errors_are_clear():
    with pytest.raises(ValueError, match=r"mse_loss: input has shape \(3, 1\) but target"):
        F.mse_loss(tinymm.zeros(3, 1), tinymm.zeros(3))
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\].*with_logits"):
        F.binary_cross_entropy(tinymm.tensor([2.0]), tinymm.tensor([1.0]))
    with pytest.raises(ValueError, match="target holds 5"):
        F.nll_loss(tinymm.zeros(2, 3), tinymm.tensor([0, 5]))
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="average")

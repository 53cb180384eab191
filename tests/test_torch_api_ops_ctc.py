"""CTC loss (tinymm/ops/ctc.py, kernels/*/ctc.py): values by brute-force enumeration of the
alignments, gradcheck on both CPU backends, values and logit gradients against torch for
every reduction, padded and concatenated targets, zero_infinity, the unbatched form,
nn.CTCLoss, and errors before any kernel. (Backend parity of the kernels:
tests/kernel_cases/ctc.py; the cuda kernels in the simulator: tests/cuda_simulator_check.py;
the op on cuda tensors: tests/test_torch_api_ops_cuda.py.)"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm
from tinymm import F, nn


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _collapse(path, blank: int) -> tuple:
    merged = [c for k, c in enumerate(path) if k == 0 or c != path[k - 1]]
    return tuple(c for c in merged if c != blank)


def _brute_force(lp: np.ndarray, target, blank: int) -> float:
    """-log of the sum over every path of T symbols that collapses to ``target``."""
    T, C = lp.shape
    total = sum(np.exp(sum(lp[t, c] for t, c in enumerate(path)))
                for path in itertools.product(range(C), repeat=T)
                if _collapse(path, blank) == tuple(target))
    return -np.log(total) if total > 0 else np.inf


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_loss_equals_the_sum_over_alignments(backend):
    r = np.random.default_rng(0)
    lp = _log_softmax(r.standard_normal((5, 3, 3)))  # (T, N, C)
    targets = np.array([[1, 1, 0], [2, 1, 0], [1, 2, 1]])  # a repeat, a pair, a triple
    tl, il = [2, 2, 3], [5, 4, 3]
    with tinymm.use_backend(backend):
        got = F.ctc_loss(tinymm.tensor(lp), tinymm.tensor(targets), il, tl, blank=0,
                         reduction="none").numpy()
    want = [_brute_force(lp[:il[n], n], targets[n, :tl[n]], 0) for n in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("backend", ["reference", "numba"])
@pytest.mark.parametrize("padded", [True, False])
def test_gradcheck(backend, padded):
    r = np.random.default_rng(1)
    lp = tinymm.tensor(_log_softmax(r.standard_normal((6, 3, 4))), requires_grad=True)
    tl = [2, 3, 1]
    full = np.array([[1, 1, 3], [2, 3, 2], [3, 0, 0]])
    targets = full if padded else np.concatenate([full[n, :tl[n]] for n in range(3)])
    with tinymm.use_backend(backend):
        assert tinymm.gradcheck(lambda x: F.ctc_loss(x, tinymm.tensor(targets), [6, 5, 3], tl,
                                                     blank=0, reduction="sum"), (lp,))


def _torch_pair(torch, r, T, N, C, blank, padded):
    logits = r.standard_normal((T, N, C))
    S = max(1, T // 2)
    tl = r.integers(0, S + 1, N)
    il = r.integers(np.maximum(tl, 1), T + 1)  # some too short for repeats: inf losses
    symbols = [c for c in range(C) if c != blank]
    full = r.choice(symbols, (N, S))
    targets = full if padded else np.concatenate([full[n, :tl[n]] for n in range(N)])
    return logits, targets, il, tl


@settings(deadline=None, max_examples=25)
@given(seed=st.integers(0, 10_000), padded=st.booleans(),
       reduction=st.sampled_from(["none", "sum", "mean"]), zero_infinity=st.booleans(),
       blank=st.sampled_from([0, 2]))
def test_matches_torch(seed, padded, reduction, zero_infinity, blank):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(seed)
    logits, targets, il, tl = _torch_pair(torch, r, 7, 3, 4, blank, padded)
    x = torch.tensor(logits, requires_grad=True)
    want = torch.nn.functional.ctc_loss(x.log_softmax(-1), torch.from_numpy(targets),
                                        torch.from_numpy(il), torch.from_numpy(tl), blank=blank,
                                        reduction=reduction, zero_infinity=zero_infinity)
    X = tinymm.tensor(logits, requires_grad=True)
    got = F.ctc_loss(X.log_softmax(-1), tinymm.tensor(targets), tinymm.tensor(il),
                     tinymm.tensor(tl), blank=blank, reduction=reduction,
                     zero_infinity=zero_infinity)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-10)
    if np.isfinite(want.detach().numpy()).all():
        want.sum().backward()
        got.sum().backward()
        np.testing.assert_allclose(X.grad.numpy(), x.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_float32_numba_matches_torch_and_unbatched():
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(3)
    logits = r.standard_normal((12, 2, 6)).astype(np.float32)
    targets, il, tl = np.array([[1, 2, 2, 5], [3, 3, 4, 1]]), [12, 10], [4, 3]
    x = torch.tensor(logits, requires_grad=True)
    want = torch.nn.CTCLoss()(x.log_softmax(-1), torch.from_numpy(targets), il, tl)
    want.backward()
    X = tinymm.tensor(logits, requires_grad=True)
    with tinymm.use_backend("numba"):
        got = nn.CTCLoss()(X.log_softmax(-1), tinymm.tensor(targets), il, tl)
        got.backward()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-5)
    np.testing.assert_allclose(X.grad.numpy(), x.grad.numpy(), atol=1e-6)
    one = F.ctc_loss(X[:, 0].log_softmax(-1), tinymm.tensor(targets[0]), 12, 4)
    want_one = torch.nn.functional.ctc_loss(x[:, 0].log_softmax(-1),
                                            torch.from_numpy(targets[0]), (12,), (4,))
    assert one.shape == ()
    np.testing.assert_allclose(one.item(), want_one.item(), rtol=1e-5)


def test_infinite_loss_gradient():
    lp = tinymm.tensor(_log_softmax(np.zeros((2, 1, 3))), requires_grad=True)
    target = tinymm.tensor([[1, 1]])  # a repeat needs 3 steps: impossible in 2
    loss = F.ctc_loss(lp, target, [2], [2], reduction="sum")
    assert loss.item() == np.inf
    loss.backward()
    assert np.isnan(lp.grad.numpy()).all()  # NaN, as torch's
    lp.grad = None
    F.ctc_loss(lp, target, [2], [2], reduction="sum", zero_infinity=True).backward()
    assert (lp.grad.numpy() == 0).all()


def test_bad_input_is_refused():
    lp = tinymm.tensor(_log_softmax(np.zeros((4, 2, 3))))
    tg = tinymm.tensor([[1, 2], [2, 1]])
    with pytest.raises(ValueError, match="input_lengths holds 5"):
        F.ctc_loss(lp, tg, [5, 4], [2, 2])
    with pytest.raises(ValueError, match="target_lengths holds 3"):
        F.ctc_loss(lp, tg, [4, 4], [3, 2])
    with pytest.raises(ValueError, match="outside the classes"):
        F.ctc_loss(lp, tg + 5, [4, 4], [2, 2])
    with pytest.raises(ValueError, match="sum\\(target_lengths\\)"):
        F.ctc_loss(lp, tinymm.tensor([1, 2, 1]), [4, 4], [2, 2])
    with pytest.raises(ValueError, match="blank must be a class"):
        F.ctc_loss(lp, tg, [4, 4], [2, 2], blank=3)
    with pytest.raises(ValueError, match="one length per sample"):
        F.ctc_loss(lp, tg, [4], [2, 2])
    with pytest.raises(TypeError, match="integer class indices"):
        F.ctc_loss(lp, tg.float(), [4, 4], [2, 2])
    with pytest.raises(ValueError, match="reduction"):
        F.ctc_loss(lp, tg, [4, 4], [2, 2], reduction="batchmean")
    with pytest.raises(ValueError, match=r"\(T, N, C\)"):
        F.ctc_loss(lp.reshape(-1), tg, [4, 4], [2, 2])


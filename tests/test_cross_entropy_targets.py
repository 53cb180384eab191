"""F.cross_entropy with probability targets, and with class weights and label smoothing at
once, held to PyTorch's values and input gradients (and a float64 gradcheck)."""

import numpy as np
import pytest

import tinymm
import tinymm.nn.functional as F

RNG = np.random.default_rng(0)
X2 = RNG.normal(size=(5, 4)).astype(np.float32)  # (N, C)
X4 = RNG.normal(size=(2, 3, 2, 2)).astype(np.float32)  # (N, C, H, W)
W4 = np.array([0.5, 2.0, 1.0, 0.25], np.float32)
W3 = np.array([1.5, 0.5, 1.0], np.float32)
IDX2 = np.array([0, 3, -100, 1, 3])  # one ignored sample
IDX4 = np.array([[[0, 2], [1, -100]], [[2, 2], [0, 1]]])


def _probabilities(x: np.ndarray) -> np.ndarray:
    e = RNG.random(size=x.shape).astype(np.float32) + 0.1
    return e / e.sum(axis=1, keepdims=True)


P2, P4 = _probabilities(X2), _probabilities(X4)

CASES = {
    "probabilities": (X2, P2, {}),
    "probabilities, weight": (X2, P2, {"weight": W4}),
    "probabilities, weight, smoothing": (X2, P2, {"weight": W4, "label_smoothing": 0.2}),
    "probabilities, sum": (X2, P2, {"reduction": "sum", "label_smoothing": 0.1}),
    "probabilities, none": (X2, P2, {"reduction": "none", "weight": W4}),
    "probabilities, 4-d": (X4, P4, {"weight": W3, "label_smoothing": 0.3}),
    "probabilities, 4-d, none": (X4, P4, {"reduction": "none"}),
    "unbatched probabilities": (X2[0], P2[0], {"weight": W4}),
    "indices, weight, smoothing": (X2, IDX2, {"weight": W4, "label_smoothing": 0.2}),
    "indices, weight, smoothing, sum": (X2, IDX2, {"weight": W4, "label_smoothing": 0.2,
                                                   "reduction": "sum"}),
    "indices, weight, smoothing, none": (X2, IDX2, {"weight": W4, "label_smoothing": 0.4,
                                                    "reduction": "none"}),
    "indices 4-d, weight, smoothing": (X4, IDX4, {"weight": W3, "label_smoothing": 0.1}),
}


def _run(lib, functional, x, target, kwargs):
    xt = lib.tensor(x, requires_grad=True)
    kw = {k: lib.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    loss = functional.cross_entropy(xt, lib.tensor(target), **kw)
    loss.sum().backward()
    return loss.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("name", list(CASES))
def test_cross_entropy_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    x, target, kwargs = CASES[name]
    ours = _run(tinymm, F, x, target, kwargs)
    theirs = _run(torch, torch.nn.functional, x, target, kwargs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["probabilities, weight, smoothing",
                                  "indices, weight, smoothing", "probabilities, 4-d"])
def test_cross_entropy_gradcheck(name):
    x, target, kwargs = CASES[name]
    kw = {k: tinymm.tensor(v.astype(np.float64)) if isinstance(v, np.ndarray) else v
          for k, v in kwargs.items()}
    t = tinymm.tensor(target.astype(np.float64) if target.dtype.kind == "f" else target)
    assert tinymm.gradcheck(lambda a: F.cross_entropy(a, t, **kw), [x.astype(np.float64)])


def test_cross_entropy_target_errors():
    x = tinymm.tensor(X2)
    with pytest.raises(ValueError, match="ignore_index=0 is not supported for probability"):
        F.cross_entropy(x, tinymm.tensor(P2), ignore_index=0)
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\)"):
        F.cross_entropy(x, tinymm.tensor(P2), weight=tinymm.tensor(W3))
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        F.cross_entropy(x, tinymm.tensor(IDX2), label_smoothing=1.5)
    with pytest.raises(ValueError, match="reduction must be"):
        F.cross_entropy(x, tinymm.tensor(P2), reduction="avg")

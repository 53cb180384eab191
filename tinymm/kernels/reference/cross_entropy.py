"""Softmax cross-entropy from logits, fused: derivation.

Dimension letters: N rows (samples), C classes. ``target`` holds one class index per row.
PyTorch's ``F.cross_entropy`` semantics: rows whose target equals ``ignore_index`` contribute
nothing, and ``reduction="mean"`` divides by the number of rows that were *not* ignored.

Label smoothing with strength e spreads e of the target's probability mass evenly over all C
classes, so the target distribution of row n is::

    q[n, c] = (1 - e) * [c == target[n]] + e / C

Forward (log-softmax computed stably, see softmax.py)::

    logp[n, c] = x[n, c] - m[n] - log(sum_j exp(x[n, j] - m[n]))
    loss[n]    = -w[n] * sum_c q[n, c] * logp[n, c]       w[n] = 0 if ignored else 1
    reduction: "none" -> loss (N,);  "sum" -> sum_n loss[n];  "mean" -> sum_n loss[n] / sum_n w[n]

Backward. Since sum_c q[n, c] = 1 and dlogp[n, c]/dx[n, j] = [c == j] - p[n, j]::

    dx[n, j] = w[n] * (p[n, j] - q[n, j]) * s[n]

where s[n] is the upstream gradient of row n's loss: dloss[n] for "none", dloss for "sum",
dloss / sum_n w[n] for "mean". This is why the fused kernel exists: softmax followed by a
separate log and a gather would compute exp, then log, then differentiate through both, while
the fused form is stable and its gradient is one subtraction.
"""

from __future__ import annotations

import numpy as np


def cross_entropy_forward(logits: np.ndarray, target: np.ndarray, ignore_index: int = -100,
                          reduction: str = "mean", label_smoothing: float = 0.0):
    N, C = logits.shape
    shifted = logits - logits.max(axis=1, keepdims=True)  # (N, C), entries <= 0
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, C)
    w = (target != ignore_index).astype(logits.dtype)  # (N,) 1 = counted, 0 = ignored
    safe_target = np.where(w > 0, target, 0)  # an ignored row may hold any value
    nll = -logp[np.arange(N), safe_target]  # (N,) -log p[n, target[n]]
    smooth = -logp.mean(axis=1)  # (N,) (1/C) sum_c -logp[n, c]
    loss = w * ((1 - label_smoothing) * nll + label_smoothing * smooth)  # (N,)
    count = w.sum()
    if reduction == "none":
        out = loss
    elif reduction == "sum":
        out = np.asarray(loss.sum(), dtype=logits.dtype)
    else:  # "mean": 0/0 = nan when every row is ignored, as in PyTorch
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.asarray(loss.sum() / count, dtype=logits.dtype)
    cache = (np.exp(logp), safe_target, w, count, reduction, label_smoothing)
    return out, cache


def cross_entropy_backward(dloss: np.ndarray, cache):
    p, safe_target, w, count, reduction, label_smoothing = cache
    N, C = p.shape
    q = np.full((N, C), label_smoothing / C, dtype=p.dtype)  # (N, C) smoothed target
    q[np.arange(N), safe_target] += 1 - label_smoothing
    if reduction == "none":
        scale = w * dloss  # (N,)
    elif reduction == "sum":
        scale = w * dloss
    elif count > 0:
        scale = w * (dloss / count)
    else:  # "mean" with every row ignored: the loss is nan, its gradient zero (PyTorch's)
        scale = np.zeros_like(w)
    dlogits = (p - q) * scale[:, None]  # (N, C)
    return dlogits.astype(p.dtype, copy=False), None


def correct_count(logits: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(1,) int64: how many rows n have their first maximum at target[n] (NumPy's argmax: a
    NaN counts as the maximum); the accuracy numerator of a classifier, not differentiable."""
    hits = np.argmax(logits, axis=1) == target  # (N,)
    return np.array([np.count_nonzero(hits)], dtype=np.int64)

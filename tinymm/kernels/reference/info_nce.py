"""Symmetric InfoNCE (the CLIP loss) with a learnable temperature: derivation.

Dimension letters: N pairs in the batch, D embedding features. Row n of ``a`` (image
embeddings) and row n of ``b`` (text embeddings) are a matching pair; every other row of the
batch is a negative for it ("in-batch negatives"). The embeddings arrive L2-normalised (the
model normalises them), so their dot products are cosine similarities in [-1, 1].
``logit_scale`` is t = log(1 / temperature), a scalar, learnt like CLIP's.

Forward::

    s        = exp(t)                                    scale = 1 / temperature
    G[i, j]  = sum_d a[i, d] * b[j, d]                   (N, N) similarities
    S        = s * G                                     (N, N) logits
    P[i, j]  = exp(S[i, j]) / sum_k exp(S[i, k])          image i -> text j (row softmax)
    Q[i, j]  = exp(S[i, j]) / sum_k exp(S[k, j])          text j -> image i (column softmax)
    loss     = (1 / 2N) * sum_n ( -log P[n, n] - log Q[n, n] )

i.e. the mean of the cross-entropy of each image over the N texts and of each text over the
N images, both with the diagonal as the target. Row and column log-softmaxes are computed
stably (the maximum is subtracted before the exponential).

Backward. For one row of a softmax cross-entropy, d(-log P[i, i]) / dS[i, j] = P[i, j] -
[i == j]; the column term is the same with Q. With I the identity and g the upstream
gradient of the (scalar) loss::

    dS = g / (2N) * ((P - I) + (Q - I))                  (N, N)
    dG = s * dS
    da = dG @ b                                          (N, D)
    db = dG^T @ a                                        (N, D)
    dt = sum_ij dS[i, j] * S[i, j]                       since dS[i, j] / dt = S[i, j]

The temperature gradient says what the temperature does: dt < 0 (raise the scale) while the
positives' logits are above the softmax-weighted average logit, so a well-separated batch
sharpens its softmax, and a confused one flattens it.
"""

from __future__ import annotations

import numpy as np


def _log_softmax(S: np.ndarray, axis: int) -> np.ndarray:
    shifted = S - S.max(axis=axis, keepdims=True)  # (N, N), entries <= 0 along axis
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def info_nce_forward(a: np.ndarray, b: np.ndarray, logit_scale: np.ndarray):
    N = a.shape[0]
    s = np.exp(logit_scale)  # () scale = 1 / temperature
    G = a @ b.T  # (N, N)
    S = s * G  # (N, N)
    logP = _log_softmax(S, axis=1)  # (N, N) image i -> text j
    logQ = _log_softmax(S, axis=0)  # (N, N) text j -> image i
    diag = np.arange(N)
    loss = -(logP[diag, diag].sum() + logQ[diag, diag].sum()) / (2 * N)
    cache = (a, b, s, S, np.exp(logP), np.exp(logQ))
    return np.asarray(loss, dtype=a.dtype), cache


def info_nce_backward(dloss: np.ndarray, cache):
    a, b, s, S, P, Q = cache
    N = a.shape[0]
    eye = np.eye(N, dtype=a.dtype)  # (N, N)
    dS = (np.asarray(dloss) / (2 * N)) * ((P - eye) + (Q - eye))  # (N, N)
    dG = s * dS  # (N, N)
    da = dG @ b  # (N, D)
    db = dG.T @ a  # (N, D)
    dt = np.asarray((dS * S).sum(), dtype=a.dtype)  # ()
    return da.astype(a.dtype, copy=False), db.astype(a.dtype, copy=False), dt

"""Fusion kernels: the element-wise cores of the fusion layers, derivation.

Dimension letters: B the flattened leading (batch) dimensions, D features, N batch, C channels,
H/W height/width. Every fusion layer in ``tinymm/nn/fusion.py`` is linear projections (the
``linear`` kernels, BLAS) around one of these element-wise cores; the cores are what would
otherwise be four to six separate NumPy passes over (B, D) arrays with a temporary each.

1. Gated fusion (the gated multimodal unit of Arevalo et al., 2017). Inputs are three
   pre-activations of the same shape (B, D): ``g`` (gate), ``ua`` and ``ub`` (the two
   modalities after their projections)::

       s   = sigmoid(g)          ha = tanh(ua)          hb = tanh(ub)
       out = s * ha + (1 - s) * hb                                            (B, D)

   Backward, from ``dout``::

       dg  = dout * (ha - hb) * s * (1 - s)       (d out / d s = ha - hb; sigmoid' = s (1 - s))
       dua = dout * s * (1 - ha^2)                (tanh' = 1 - tanh^2)
       dub = dout * (1 - s) * (1 - hb^2)

2. Low-rank bilinear pooling core (MLB, Kim et al., 2017). A full bilinear map
   ``z_o = a^T W_o b`` needs a (D_a, D_b) matrix per output; factoring ``W_o = U diag(p_o) V^T``
   gives ``z = P^T (tanh(U^T a) * tanh(V^T b))``. With ``pa = U^T a`` and ``pb = V^T b``
   (B, R) from two linear layers, the core is::

       ta = tanh(pa)          tb = tanh(pb)          out = ta * tb                (B, R)
       dpa = dout * tb * (1 - ta^2)                  dpb = dout * ta * (1 - tb^2)

3. FiLM (feature-wise linear modulation, Perez et al., 2018): a conditioning vector scales and
   shifts every channel of a feature map. x (N, C, H, W), gamma (N, C), beta (N, C)::

       out[n, c, y, x] = gamma[n, c] * x[n, c, y, x] + beta[n, c]           (N, C, H, W)
       dx[n, c, y, x]  = dout[n, c, y, x] * gamma[n, c]
       dgamma[n, c]    = sum_{y, x} dout[n, c, y, x] * x[n, c, y, x]         (N, C)
       dbeta[n, c]     = sum_{y, x} dout[n, c, y, x]                          (N, C)
"""

from __future__ import annotations

import numpy as np


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow: exp of a non-positive number only."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def gated_fusion_forward(g, ua, ub):
    s = _sigmoid(g)  # (B, D)
    ha = np.tanh(ua)  # (B, D)
    hb = np.tanh(ub)  # (B, D)
    out = s * ha + (1 - s) * hb  # (B, D)
    return out, (s, ha, hb)


def gated_fusion_backward(dout, cache):
    s, ha, hb = cache
    dg = dout * (ha - hb) * s * (1 - s)
    dua = dout * s * (1 - ha * ha)
    dub = dout * (1 - s) * (1 - hb * hb)
    return dg, dua, dub


def bilinear_pool_forward(pa, pb):
    ta = np.tanh(pa)  # (B, R)
    tb = np.tanh(pb)  # (B, R)
    return ta * tb, (ta, tb)


def bilinear_pool_backward(dout, cache):
    ta, tb = cache
    dpa = dout * tb * (1 - ta * ta)
    dpb = dout * ta * (1 - tb * tb)
    return dpa, dpb


def film_forward(x, gamma, beta):
    out = gamma[:, :, None, None] * x + beta[:, :, None, None]  # (N, C, H, W)
    return out, (x, gamma)


def film_backward(dout, cache):
    x, gamma = cache
    dx = dout * gamma[:, :, None, None]  # (N, C, H, W)
    dgamma = (dout * x).sum(axis=(2, 3))  # (N, C)
    dbeta = dout.sum(axis=(2, 3))  # (N, C)
    return dx, dgamma, dbeta

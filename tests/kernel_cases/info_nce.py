"""Parity cases of the symmetric InfoNCE loss kernel."""

from __future__ import annotations

import numpy as np

from tests.kernel_cases import KernelCase


def _pairs(r: np.random.Generator, d: np.dtype, n: int, dim: int, scale: float,
           noise: float = 0.5):
    a = r.standard_normal((n, dim))
    b = a + noise * r.standard_normal((n, dim))  # correlated pairs, as after some training
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    return (a.astype(d), b.astype(d), np.asarray(np.log(scale), dtype=d)), {}


CASES = [
    KernelCase("info_nce_forward", lambda r, d: _pairs(r, d, 6, 4, 1 / 0.07), "clip-init"),
    KernelCase("info_nce_forward", lambda r, d: _pairs(r, d, 1, 3, 2.0), "one-pair"),
    # CLIP's largest scale; noisy pairs keep the loss O(1), so float32 rounding of the logits
    # (~1e-5 at |S| = 100) stays small relative to it
    KernelCase("info_nce_forward", lambda r, d: _pairs(r, d, 33, 16, 100.0, noise=2.0),
               "sharp", tol={np.float32: 2e-5, np.float64: 1e-12}),
]

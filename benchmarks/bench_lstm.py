"""LSTM (the text encoder's shape: 128 -> 128) forward and forward+backward, PyTorch beside.

N=32 T=16 is the seed model's batch; T=64 shows how the cost grows with length (linearly: the
recurrence is sequential); N=1 shows the per-step overhead that dominates small batches. The
loss is the last hidden state h_n, as the text encoder uses it.
"""

from __future__ import annotations

import numpy as np

import tinymm
from benchmarks.cases import Bench
from tinymm import nn
from tinymm.kernels.numba_cpu.lstm import BLAS_IN_NUMBA

RNG = np.random.default_rng(0)
NOTE = ("input projection of all steps: one NumPy BLAS GEMM; time loop "
        + ("inside one @njit function, per-step h @ W_hh^T via BLAS from numba (SciPy bindings)"
           if BLAS_IN_NUMBA else "in Python, per-step h @ W_hh^T via NumPy BLAS (no SciPy)")
        + "; fused numba cell (vectorised exp); backward: per-step da @ W_hh, then dx/dW as "
        "one GEMM each over all steps")


def _lstm(T, N, D, H, backward):
    x = RNG.standard_normal((T, N, D)).astype(np.float32)

    def make(backend):
        nn.init.seed(0)
        layer = nn.LSTM(D, H)
        tx = tinymm.tensor(x)
        ones = np.ones((1, N, H), np.float32)

        def step():
            _, (h_n, _) = layer(tx)
            if backward:
                h_n.backward(ones)

        return step

    def torch_make():
        import torch

        torch.manual_seed(0)
        layer = torch.nn.LSTM(D, H)
        tx = torch.tensor(x)
        ones = torch.ones(1, N, H)

        def step():
            _, (h_n, _) = layer(tx)
            if backward:
                h_n.backward(ones)

        return step

    flops = 2 * T * N * 4 * H * (D + H) * (3 if backward else 1)
    name = f"LSTM {D}->{H} N={N} T={T} {'fwd+bwd' if backward else 'fwd'}"
    return Bench(name, "lstm", make, flops=flops, torch=torch_make, note=NOTE,
                 repeat=10 if T * N > 512 else 20)


BENCHES = [
    _lstm(16, 32, 128, 128, backward=False),
    _lstm(16, 32, 128, 128, backward=True),
    _lstm(64, 32, 128, 128, backward=False),
    _lstm(64, 32, 128, 128, backward=True),
    _lstm(16, 1, 128, 128, backward=False),
    _lstm(16, 1, 128, 128, backward=True),
]

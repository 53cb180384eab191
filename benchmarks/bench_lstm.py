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
from tinymm.kernels.numba_cpu import _recurrent

RNG = np.random.default_rng(0)


def _note(N: int, H: int, python_loop: bool = False) -> str:
    """How the numba path computes this shape (the time loop's home depends on N)."""
    chunks = _recurrent.row_chunks(N)
    split = ""
    if len(chunks) > 1:
        split = (f"batch cut into {len(chunks)} row chunks run whole on the worker threads "
                 "(BLAS single-threaded), each: ")
        N = chunks[0][1] - chunks[0][0]
    numpy_blas = _recurrent.numpy_blas(np.float32) is not None and not python_loop
    if numpy_blas:
        loop = ("time loop inside one call of the numba step kernel, each step's h @ W_hh^T made "
                "in it with NumPy's own OpenBLAS, without the GIL")
    elif _recurrent.loop_in_numba(N, 4 * H, H) and not python_loop:
        loop = ("time loop inside one @njit function, per-step h @ W_hh^T via BLAS from numba "
                "(SciPy's bindings)")
    else:
        loop = ("time loop in Python" + (" (forced: no BLAS from numba)" if python_loop else "")
                + ", per-step h @ W_hh^T via NumPy BLAS, the step kernels releasing the GIL")
    return (split + "input projection of all steps: one NumPy BLAS GEMM; " + loop + "; fused numba "
            "cell (vectorised exp in the input's precision); backward: per-step da @ W_hh, "
            "then dW (and dx when needed) as one GEMM each over all steps")


def _lstm(T, N, D, H, backward, python_loop=False):
    """``python_loop``: force the time loop into Python (no BLAS called from numba, neither
    SciPy's nor NumPy's) to show the per-step overhead that the in-numba loops save."""
    x = RNG.standard_normal((T, N, D)).astype(np.float32)

    def make(backend):
        nn.init.seed(0)
        layer = nn.LSTM(D, H)
        tx = tinymm.tensor(x)
        ones = np.ones((1, N, H), np.float32)

        def step():
            saved = _recurrent.BLAS_IN_NUMBA, _recurrent.NUMPY_BLAS_IN_NUMBA
            _recurrent.BLAS_IN_NUMBA = saved[0] and not python_loop
            _recurrent.NUMPY_BLAS_IN_NUMBA = saved[1] and not python_loop
            try:
                _, (h_n, _) = layer(tx)
                if backward:
                    h_n.backward(ones)
            finally:
                _recurrent.BLAS_IN_NUMBA, _recurrent.NUMPY_BLAS_IN_NUMBA = saved

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

    # forward: x W_ih^T and h W_hh^T; backward (x needs no gradient, so no dx, as in torch):
    # dW_ih, dW_hh and the per-step da W_hh
    flops = 2 * T * N * 4 * H * ((D + H) + ((D + 2 * H) if backward else 0))
    name = f"LSTM {D}->{H} N={N} T={T} {'fwd+bwd' if backward else 'fwd'}"
    note = _note(N, H, python_loop)
    if python_loop:
        name += " (Python time loop)"
    table = f"LSTM N={N} fwd+bwd" if backward and T == 16 and not python_loop else ""
    return Bench(name, "lstm", make, flops=flops, torch=torch_make, note=note,
                 repeat=10 if T * N > 512 else 20, table=table)


BENCHES = [
    _lstm(16, 32, 128, 128, backward=False),
    _lstm(16, 32, 128, 128, backward=True),
    _lstm(64, 32, 128, 128, backward=False),
    _lstm(64, 32, 128, 128, backward=True),
    _lstm(16, 1, 128, 128, backward=False),
    _lstm(16, 1, 128, 128, backward=True),
    _lstm(16, 1, 128, 128, backward=True, python_loop=True),
]

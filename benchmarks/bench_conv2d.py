"""conv2d at the image encoder's shapes (N=32, 32x32 images, 3x3 kernels, padding 1):
conv A 3->32 and conv B 32->64, each fused with bias + ReLU as the encoder runs them, forward
and forward+backward. Extra rows show the workspace cache's effect (the same conv B
forward+backward with buffer recycling turned off: every im2col/GEMM/gradient buffer is a
fresh allocation whose pages fault on first touch) and the unfused conv2d for comparison.
"""

from __future__ import annotations

import numpy as np

import tinymm
from benchmarks.cases import Bench
from tinymm import functional as F

RNG = np.random.default_rng(0)
N, H, W = 32, 32, 32

NOTE = ("one image per worker thread (BLAS single-threaded in each), in row blocks of at most "
        "640 KiB of col: im2col (numba) into a (C*9, rows*W) buffer in cache, GEMM via NumPy "
        "BLAS (OpenBLAS), bias+ReLU on the copy into the NCHW output; backward: masked dout, "
        "im2col again, dW GEMM per image, dcol GEMM and col2im per row block")


def conv_path(run, winograd: bool):
    """``run`` with the numba backend's conv path set for each call (restored after it):
    Winograd for the 3x3 stride-1 convolutions with enough channels when True (the default),
    im2col for every shape when False (TINYMM_WINOGRAD=0 for a whole process does the same)."""
    from tinymm.kernels.numba_cpu import conv2d as numba_conv

    def run_on_path():
        saved = numba_conv.WINOGRAD
        numba_conv.WINOGRAD = winograd
        try:
            return run()
        finally:
            numba_conv.WINOGRAD = saved

    return run_on_path


def default_uses_winograd(c_in: int) -> bool:
    """Whether the default numba conv path runs a 3x3 stride-1 convolution of c_in input
    channels by Winograd in this process."""
    from tinymm.kernels.numba_cpu import conv2d as numba_conv

    return numba_conv.uses_winograd((N, c_in, H, W), (1, c_in, 3, 3), (1, 1), (1, 1))


WINOGRAD_NOTE = ("Winograd F(4x4, 3x3) per image, transforms in blocks of 8 channels: input "
                 "transform, 36 BLAS GEMMs, output transform; backward by the adjoint "
                 "transforms")


def _conv(label, c_in, c_out, backward, fused=True, workspace=True, im2col=False):
    x = RNG.standard_normal((N, c_in, H, W)).astype(np.float32)
    bound = 1 / np.sqrt(c_in * 9)
    w = RNG.uniform(-bound, bound, (c_out, c_in, 3, 3)).astype(np.float32)
    b = RNG.uniform(-bound, bound, c_out).astype(np.float32)
    dout = RNG.standard_normal((N, c_out, H, W)).astype(np.float32)

    def make(backend):
        tx = tinymm.tensor(x, requires_grad=backward)
        tw = tinymm.tensor(w, requires_grad=True)
        tb = tinymm.tensor(b, requires_grad=True)

        def run():
            if fused:
                y = F.conv2d_relu(tx, tw, tb, padding=1)
            else:
                y = F.relu(F.conv2d(tx, tw, tb, padding=1))
            if backward:
                y.backward(dout)

        if im2col:
            return conv_path(run, winograd=False)
        if workspace:
            return run

        def run_without_workspace():
            from tinymm.kernels.numba_cpu import _workspace

            _workspace.set_enabled(False)
            try:
                run()
            finally:
                _workspace.set_enabled(True)

        return run_without_workspace

    def torch_make(channels_last=False):
        import torch

        fmt = torch.channels_last if channels_last else torch.contiguous_format
        tx = torch.tensor(x).to(memory_format=fmt).requires_grad_(backward)
        tw = torch.tensor(w).to(memory_format=fmt).requires_grad_(True)
        tb = torch.tensor(b, requires_grad=True)
        tdout = torch.tensor(dout).to(memory_format=fmt)

        def run():
            if backward:
                y = torch.relu(torch.nn.functional.conv2d(tx, tw, tb, padding=1))
                y.backward(tdout)
            else:
                with torch.no_grad():
                    torch.relu(torch.nn.functional.conv2d(tx, tw, tb, padding=1))

        return run

    flops = 2 * N * H * W * c_out * c_in * 9 * (3 if backward else 1)
    kind = "fwd+bwd" if backward else "fwd"
    extra = (("" if fused else " unfused conv2d+relu") + ("" if workspace else " no-workspace")
             + (" im2col (TINYMM_WINOGRAD=0)" if im2col else ""))
    winograd = default_uses_winograd(c_in) and not im2col
    note = (WINOGRAD_NOTE if winograd else NOTE) + (
        "" if workspace else "; workspace cache OFF: fresh buffers every call")
    plain = workspace and fused and not im2col
    return Bench(f"conv {label} {c_in}->{c_out} 3x3 pad1 N={N} {H}x{W} +ReLU {kind}{extra}",
                 "conv2d", make, flops=flops, torch=torch_make, note=note,
                 backends=("reference", "numba") if plain else ("numba",),
                 repeat=10 if c_in > 3 else 20,
                 torch_cl=(lambda: torch_make(channels_last=True)) if plain else None,
                 table=f"conv {label} {kind}" if plain and backward else "")


BENCHES = [
    _conv("A", 3, 32, False),
    _conv("A", 3, 32, True),
    _conv("B", 32, 64, False),
    _conv("B", 32, 64, True),
    _conv("B", 32, 64, True, workspace=False),
    _conv("B", 32, 64, True, fused=False),
    _conv("B", 32, 64, False, im2col=True),
    _conv("B", 32, 64, True, im2col=True),
]

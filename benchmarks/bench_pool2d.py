"""max-pool 2x2 (stride 2) on the encoder's (32, 64, 32, 32) feature map, NCHW, forward and
forward+backward, plus the global average pool of the same map."""

from __future__ import annotations

import numpy as np

import tinymm
from benchmarks.cases import Bench
from tinymm import functional as F

RNG = np.random.default_rng(0)
SHAPE = (32, 64, 32, 32)

NOTE = ("numba, ranges of the N*C planes on the thread pool's workers; 2x2/stride-2 forward "
        "unrolled, recording each "
        "window's winner as an int8 index; backward routes dout through it (no read of x); "
        "outputs from the workspace")


def _pool(kind, backward):
    x = RNG.standard_normal(SHAPE).astype(np.float32)
    out_shape = (SHAPE[0], SHAPE[1], 16, 16) if kind == "max" else SHAPE[:2] + (1, 1)
    dout = RNG.standard_normal(out_shape).astype(np.float32)

    def call(module, tx):
        if kind == "max":
            return module.max_pool2d(tx, 2)
        return module.adaptive_avg_pool2d(tx, 1)

    def make(backend):
        tx = tinymm.tensor(x, requires_grad=backward)

        def run():
            y = call(F, tx)
            if backward:
                y.backward(dout)

        return run

    def torch_make(channels_last=False):
        import torch

        fmt = torch.channels_last if channels_last else torch.contiguous_format
        tx = torch.tensor(x).to(memory_format=fmt).requires_grad_(backward)
        tdout = torch.tensor(dout).to(memory_format=fmt)

        def run():
            if backward:
                call(torch.nn.functional, tx).backward(tdout)
            else:
                with torch.no_grad():
                    call(torch.nn.functional, tx)

        return run

    what = "max-pool 2x2" if kind == "max" else "global avg-pool"
    return Bench(f"{what} on {SHAPE} {'fwd+bwd' if backward else 'fwd'}", "pool2d", make,
                 torch=torch_make, note=NOTE, repeat=20,
                 torch_cl=lambda: torch_make(channels_last=True),
                 table="max-pool fwd+bwd" if kind == "max" and backward else "")


BENCHES = [_pool("max", False), _pool("max", True), _pool("avg", False), _pool("avg", True)]

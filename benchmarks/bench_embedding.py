"""Embedding 1000x128 looked up by (32, 16) token ids: the text encoder's first layer."""

from __future__ import annotations

import numpy as np

from benchmarks.cases import Bench
from tinymm import nn

RNG = np.random.default_rng(0)
INDICES = RNG.integers(0, 1000, (32, 16))


def _embedding(backward):
    dout = RNG.standard_normal((32, 16, 128)).astype(np.float32)

    def make(backend):
        nn.init.seed(0)
        layer = nn.Embedding(1000, 128, padding_idx=0)

        def step():
            out = layer(INDICES)
            if backward:
                out.backward(dout)

        return step

    def torch_make():
        import torch

        layer = torch.nn.Embedding(1000, 128, padding_idx=0)
        idx, tdout = torch.tensor(INDICES), torch.tensor(dout)

        def step():
            out = layer(idx)
            if backward:
                out.backward(tdout)

        return step

    return Bench(f"embedding 1000x128 on (32, 16) {'fwd+bwd' if backward else 'fwd'}",
                 "embedding", make, torch=torch_make,
                 note="gather: NumPy take; backward: serial numba scatter-add into a zeroed "
                      "(V, E) gradient (repeats accumulate, padding row skipped)")


BENCHES = [_embedding(False), _embedding(True)]

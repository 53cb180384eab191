"""Foundation kernels at the seed model's shapes: dense layers, cross-entropy, ReLU, softmax."""

from __future__ import annotations

import numpy as np

import tinymm
from benchmarks.cases import Bench
from tinymm import functional as F

RNG = np.random.default_rng(0)


def _arr(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _linear(n, d_in, d_out, backward):
    x, w, b = _arr(n, d_in), _arr(d_out, d_in) * 0.02, _arr(d_out)
    dout = _arr(n, d_out)

    def make(backend):
        tx = tinymm.tensor(x, requires_grad=backward)
        tw = tinymm.tensor(w, requires_grad=True)
        tb = tinymm.tensor(b, requires_grad=True)

        def step():
            y = F.linear(tx, tw, tb)
            if backward:
                y.backward(dout)

        return step

    def torch_make():
        import torch

        tx = torch.tensor(x, requires_grad=backward)
        tw, tb = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
        tdout = torch.tensor(dout)

        def step():
            y = torch.nn.functional.linear(tx, tw, tb)
            if backward:
                y.backward(tdout)

        return step

    flops = 2 * n * d_in * d_out * (3 if backward else 1)
    name = f"linear {d_in}->{d_out} N={n} {'fwd+bwd' if backward else 'fwd'}"
    return Bench(name, "linear", make, flops=flops, torch=torch_make,
                 note="GEMMs via NumPy BLAS (OpenBLAS) from Python; bias add and dbias in numba")


def _cross_entropy(n, c):
    logits, target = _arr(n, c) * 3, RNG.integers(0, c, n)

    def make(backend):
        t = tinymm.tensor(logits, requires_grad=True)

        def step():
            F.cross_entropy(t, target).backward()

        return step

    def torch_make():
        import torch

        t, tt = torch.tensor(logits, requires_grad=True), torch.tensor(target)

        def step():
            torch.nn.functional.cross_entropy(t, tt).backward()

        return step

    return Bench(f"softmax cross-entropy N={n} C={c} fwd+bwd", "cross_entropy", make,
                 torch=torch_make, note="fused numba kernel; backward recomputes p from lse")


def _elementwise(name, stem, shape, ours, theirs):
    x = _arr(*shape)
    dout = _arr(*shape)

    def make(backend):
        t = tinymm.tensor(x, requires_grad=True)

        def step():
            ours(t).backward(dout)

        return step

    def torch_make():
        import torch

        t, td = torch.tensor(x, requires_grad=True), torch.tensor(dout)

        def step():
            theirs(t).backward(td)

        return step

    dims = "x".join(map(str, shape))
    return Bench(f"{name} ({dims}) fwd+bwd", stem, make, torch=torch_make,
                 note="one parallel numba pass forward, one backward")


def _torch_relu(t):
    import torch

    return torch.relu(t)


def _torch_softmax(t):
    import torch

    return torch.softmax(t, dim=-1)


BENCHES = [
    _linear(32, 4096, 128, backward=False),
    _linear(32, 4096, 128, backward=True),
    _linear(32, 128, 128, backward=True),
    _cross_entropy(32, 20),
    _cross_entropy(4096, 1000),
    _elementwise("relu", "activation", (32, 64, 32, 32), F.relu, _torch_relu),
    _elementwise("softmax", "softmax", (32, 4, 16, 64), F.softmax, _torch_softmax),
]

"""One comparison the torch-API tests share: a function written once against a library
(``fn(lib, *tensors)``, run with ``lib`` = tinymm and = torch) gives the same values and the
same input gradients under one random upstream gradient."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm


def same_values_and_grads(fn, arrays, rng, rtol=1e-10, atol=1e-12, value_rtol=None):
    torch = pytest.importorskip("torch")
    ours = [tinymm.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(np.ascontiguousarray(a), requires_grad=True) for a in arrays]
    out, ref = fn(tinymm, *ours), fn(torch, *theirs)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(),
                               rtol=rtol if value_rtol is None else value_rtol, atol=atol)
    g = rng.standard_normal(tuple(ref.shape))
    out.backward(tinymm.tensor(g))
    ref.backward(torch.tensor(g))
    for a, b in zip(ours, theirs):
        if b.grad is None:  # an input the result does not depend on
            assert a.grad is None or not a.grad.numpy().any()
            continue
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol)

"""The Keras 3 oracle for the tests/test_keras_api_*.py files: Keras on the PyTorch
backend, or a skip when Keras or PyTorch is missing or Keras runs on another backend."""

from __future__ import annotations

import os

import pytest


def keras3():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    if keras.backend.backend() != "torch":
        pytest.skip("Keras 3 is installed with another backend than torch")
    return keras


def as_numpy(value):
    """A torch or tinymm tensor (or anything array-like) as a NumPy array."""
    import numpy as np

    return np.asarray(value.detach().cpu()) if hasattr(value, "detach") else np.asarray(value)


def check_op_against_keras(theirs_fn, ours_fn, args, kwargs, differentiable: bool, rng) -> None:
    """``ours_fn`` and Keras's ``theirs_fn`` give the same values (and dtype kind) on ``args``,
    and, when ``differentiable``, the same gradient of sum(op(x) * r) in the first argument."""
    import numpy as np
    import torch

    import tinymm

    theirs_args, ours_args = list(args), list(args)
    if differentiable:
        theirs_args[0] = torch.tensor(args[0], requires_grad=True)
        ours_args[0] = tinymm.tensor(args[0], requires_grad=True)
    theirs, ours = theirs_fn(*theirs_args, **kwargs), ours_fn(*ours_args, **kwargs)
    t, o = as_numpy(theirs), as_numpy(ours)
    assert o.shape == t.shape and o.dtype.kind == t.dtype.kind, (o.dtype, t.dtype)
    np.testing.assert_allclose(o, t, rtol=1e-5, atol=1e-6)
    if differentiable:
        r = rng.standard_normal(t.shape).astype(np.float32)
        (theirs * torch.tensor(r)).sum().backward()
        (ours * tinymm.tensor(r)).sum().backward()
        np.testing.assert_allclose(ours_args[0].grad.numpy(), theirs_args[0].grad.numpy(),
                                   rtol=1e-4, atol=1e-5)

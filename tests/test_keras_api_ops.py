"""keras.ops functions (ops.py and more_ops.py) against Keras 3's on the PyTorch backend:
the same values and dtypes' kinds, and for the differentiable ones the same gradient of
sum(op(x) * r) with respect to the first argument; float64 gradchecks and NumPy closed forms
without Keras; recorded as OpLayers on symbolic inputs."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tests.keras3 import keras3
from tinymm import keras as tk

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4)).astype(np.float32)
B = RNG.standard_normal((3, 4)).astype(np.float32)
P = (RNG.random((3, 4)) + 0.5).astype(np.float32)
I3 = np.array([[2, 0], [1, 3], [0, 0]])


# name: (args, kwargs, differentiable in the first argument)
CASES = {
    "add": ((A, B), {}, True), "subtract": ((A, B), {}, True), "multiply": ((A, B), {}, True),
    "divide": ((A, P), {}, True), "power": ((P, 1.7), {}, True), "negative": ((A,), {}, True),
    "absolute": ((A,), {}, True), "abs": ((A,), {}, True), "square": ((A,), {}, True),
    "sqrt": ((P,), {}, True), "exp": ((A,), {}, True), "log": ((P,), {}, True),
    "log1p": ((P,), {}, True), "sin": ((A,), {}, True), "cos": ((A,), {}, True),
    "tanh": ((A,), {}, True), "sigmoid": ((A,), {}, True), "relu": ((A,), {}, True),
    "gelu": ((A,), {}, True), "silu": ((A,), {}, True), "softplus": ((A,), {}, True),
    "leaky_relu": ((A,), {}, True), "elu": ((A,), {"alpha": 0.5}, True),
    "clip": ((A, -0.5, 0.4), {}, True), "where": ((A > 0, A, B), {}, False),
    "maximum": ((A, B), {}, True), "minimum": ((A, B), {}, True),
    "mean": ((A,), {"axis": 1}, True), "sum": ((A,), {"axis": 0, "keepdims": True}, True),
    "max": ((A,), {"axis": -1}, True), "min": ((A,), {"axis": 0}, True),
    "prod": ((P,), {"axis": 1}, True), "std": ((A,), {"axis": 1}, True),
    "var": ((A,), {"axis": (0, 1)}, True), "argmax": ((A,), {"axis": 1}, False),
    "argmin": ((A,), {"axis": 0}, False), "argsort": ((A,), {}, False),
    "sort": ((A,), {}, True), "cumsum": ((A,), {"axis": 1}, True),
    "all": ((A > -1,), {"axis": 1}, False), "any": ((A > 1,), {}, False),
    "equal": ((I3, 0), {}, False), "not_equal": ((I3, 0), {}, False),
    "greater": ((A, B), {}, False), "less": ((A, B), {}, False),
    "logical_and": ((A > 0, B > 0), {}, False), "logical_or": ((A > 0, B > 0), {}, False),
    "logical_not": ((A > 0,), {}, False),
    "concatenate": (([A, B],), {"axis": 1}, False), "stack": (([A, B],), {"axis": 1}, False),
    "split": ((A, 2), {"axis": 1}, False), "reshape": ((A, (2, 6)), {}, True),
    "transpose": ((A,), {}, True), "expand_dims": ((A, 1), {}, True),
    "squeeze": ((A[:, :1],), {"axis": 1}, True), "tile": ((A, (2, 1)), {}, True),
    "repeat": ((A, 2), {"axis": 0}, True), "take": ((A, I3), {"axis": 1}, True),
    "take_along_axis": ((A, I3), {"axis": 1}, True),
    "one_hot": ((np.array([0, 2, 3]), 4), {}, False), "matmul": ((A, B.T), {}, True),
    "dot": ((A, B.T), {}, True), "einsum": (("ij,kj->ik", A, B), {}, False),
    "norm": ((A,), {"axis": 1}, True), "normalize": ((A,), {}, True),
    "pad": ((A, ((1, 0), (2, 1))), {}, True), "cast": ((A, "float64"), {}, False),
    "isnan": ((np.array([1.0, np.nan]),), {}, False),
    "isfinite": ((np.array([1.0, np.inf]),), {}, False),
    "logsumexp": ((A,), {"axis": 1}, True), "softmax": ((A,), {}, True),
    "log_softmax": ((A,), {"axis": 0}, True), "flip": ((A,), {"axis": 1}, True),
    "roll": ((A, 1), {"axis": 1}, True), "triu": ((A,), {"k": 1}, True),
    "tril": ((A,), {}, True),
    "arange": ((2, 9, 3), {}, False), "ones": (((2, 3),), {}, False),
    "zeros": (((2,),), {}, False), "full": (((2, 2), 1.5), {}, False),
    "eye": ((3,), {"k": 1}, False), "ones_like": ((A,), {}, False),
    "zeros_like": ((I3,), {}, False),
}


def _numpy(value):
    if isinstance(value, (list, tuple)):
        return [_numpy(v) for v in value]
    return np.asarray(value.detach().cpu()) if hasattr(value, "detach") else np.asarray(value)


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_keras(name):
    keras = keras3()
    import torch

    args, kwargs, differentiable = CASES[name]
    theirs_args, ours_args = list(args), list(args)
    if differentiable:
        theirs_args[0] = torch.tensor(args[0], requires_grad=True)
        ours_args[0] = tinymm.tensor(args[0], requires_grad=True)
    theirs = getattr(keras.ops, name)(*theirs_args, **kwargs)
    ours = getattr(tk.ops, name)(*ours_args, **kwargs)
    for t, o in zip(np.atleast_1d(_numpy(theirs)) if isinstance(theirs, list) else [theirs],
                    ours if isinstance(ours, list) else [ours]):
        t, o = _numpy(t), _numpy(o)
        assert o.shape == t.shape and o.dtype.kind == t.dtype.kind, (o.dtype, t.dtype)
        np.testing.assert_allclose(o, t, rtol=1e-5, atol=1e-6)
    if differentiable:
        r = RNG.standard_normal(np.shape(_numpy(theirs))).astype(np.float32)
        (theirs * torch.tensor(r)).sum().backward()
        (ours * tinymm.tensor(r)).sum().backward()
        np.testing.assert_allclose(ours_args[0].grad.numpy(), theirs_args[0].grad.numpy(),
                                   rtol=1e-4, atol=1e-5)


def test_top_k_and_moments_match_keras():
    keras = keras3()
    for t, o in zip(keras.ops.top_k(A, 2), tk.ops.top_k(A, 2)):
        np.testing.assert_allclose(_numpy(o), _numpy(t))
    for t, o in zip(keras.ops.moments(A, axes=[0]), tk.ops.moments(A, axes=[0])):
        np.testing.assert_allclose(_numpy(o), _numpy(t), rtol=1e-5, atol=1e-6)


GRADCHECKED = ["power", "gelu", "prod", "std", "take", "take_along_axis", "normalize",
               "logsumexp", "roll", "pad", "tile", "repeat", "norm", "cumsum"]


@pytest.mark.parametrize("name", GRADCHECKED)
def test_op_gradcheck(name):
    args, kwargs, _ = CASES[name]
    x = tinymm.tensor(np.asarray(args[0], np.float64), requires_grad=True)
    assert tinymm.gradcheck(lambda v: getattr(tk.ops, name)(v, *args[1:], **kwargs), [x])


def test_closed_forms_without_keras():
    np.testing.assert_allclose(tk.ops.std(A, axis=1).numpy(), A.std(axis=1), rtol=1e-5)
    np.testing.assert_array_equal(tk.ops.repeat(np.array([1, 2]), 2).numpy(), [1, 1, 2, 2])
    np.testing.assert_array_equal(tk.ops.tile(np.array([1, 2]), 2).numpy(), [1, 2, 1, 2])
    parts = tk.ops.split(np.arange(6), [1, 4])
    assert [p.numpy().tolist() for p in parts] == [[0], [1, 2, 3], [4, 5]]
    np.testing.assert_array_equal(tk.ops.take(A, [[0, 5]]).numpy(), A.reshape(-1)[[[0, 5]]])
    np.testing.assert_array_equal(tk.ops.roll(np.arange(4), 1).numpy(), [3, 0, 1, 2])
    assert tk.ops.arange(3).numpy().dtype == np.int32
    assert tk.ops.arange(0.0, 1.0, 0.5).numpy().dtype == np.float32
    with pytest.raises(ValueError, match="does not split into 3"):
        tk.ops.split(np.arange(4), 3)
    x = tinymm.tensor(A, requires_grad=True)
    (tk.ops.stop_gradient(x * 2) + x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones_like(A))  # none through the stop


def test_ops_on_symbolic_inputs_record_the_graph():
    inp = tk.Input(shape=(4,))
    out = tk.ops.clip(tk.ops.power(tk.ops.absolute(inp), 2.0), 0.0, 1.0)
    model = tk.Model(inp, tk.ops.sum(out, axis=1))
    np.testing.assert_allclose(model.predict(A), np.clip(A ** 2, 0, 1).sum(1), rtol=1e-6)

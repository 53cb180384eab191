"""keras.ops from tinymm/keras/math_ops.py against Keras 3's on the PyTorch backend: the same
values and dtype kinds, and for the differentiable ones the same gradient of sum(op(x) * r);
float64 gradchecks; NumPy closed forms without Keras; a clear error for bad input."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tests.keras3 import check_op_against_keras, keras3
from tinymm import keras as tk

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4)).astype(np.float32)
B = RNG.standard_normal((3, 4)).astype(np.float32)
P = (RNG.random((3, 4)) + 0.5).astype(np.float32)
V = RNG.standard_normal(4).astype(np.float32)
IMG = RNG.standard_normal((2, 5, 6, 2)).astype(np.float32)
SEQ = RNG.standard_normal((2, 7, 3)).astype(np.float32)
SPECIAL = np.array([1.0, np.nan, np.inf, -np.inf, 0.0], np.float32)

CASES = {  # name: (args, kwargs, differentiable in the first argument)
    "floor": ((A * 3,), {}, False), "ceil": ((A * 3,), {}, False), "sign": ((A,), {}, False),
    "round": ((A * 3,), {}, False), "rsqrt": ((P,), {}, True), "reciprocal": ((P,), {}, True),
    "log2": ((P,), {}, True), "log10": ((P,), {}, True), "expm1": ((A,), {}, True),
    "erf": ((A,), {}, True), "cosh": ((A,), {}, True), "sinh": ((A,), {}, True),
    "tan": ((A * 0.5,), {}, True), "arctan": ((A,), {}, True),
    "hard_sigmoid": ((A * 4,), {}, True), "hard_silu": ((A * 4,), {}, True),
    "selu": ((A,), {}, True), "relu6": ((A * 5,), {}, True), "log_sigmoid": ((A,), {}, True),
    "celu": ((A,), {"alpha": 0.7}, True), "glu": ((A,), {}, True),
    "arctan2": ((A, B), {}, True), "floor_divide": ((A * 3, P), {}, False),
    "mod": ((A * 3, P), {}, True), "amax": ((A,), {"axis": 1}, True),
    "amin": ((A,), {"axis": 0, "keepdims": True}, True),
    "median": ((A,), {"axis": 1}, True), "median_odd": ((A,), {"axis": 0}, True),
    "cumprod": ((A,), {"axis": 1}, True), "diff": ((A,), {"n": 2}, True),
    "average": ((A,), {"axis": 1, "weights": P[0]}, True),
    "count_nonzero": ((np.round(A),), {"axis": 0}, False),
    "isinf": ((SPECIAL,), {}, False), "isclose": ((A, A + 1e-6), {}, False),
    "nan_to_num": ((SPECIAL,), {"posinf": 9.0}, False),
    "moveaxis": ((A.reshape(3, 2, 2),), {"source": 0, "destination": -1}, True),
    "ravel": ((A,), {}, True), "outer": ((V, V[:3]), {}, True),
    "diagonal": ((A,), {"offset": 1}, True), "diag": ((A,), {"k": -1}, True),
    "diag_vector": ((V,), {}, True), "broadcast_to": ((V,), {"shape": (2, 4)}, True),
    "identity": ((3,), {}, False), "linspace": ((0.0, 1.0, 5), {}, False),
    "searchsorted": ((np.sort(V), A), {}, False),
    "bincount": ((np.array([0, 2, 2, 5]),), {"minlength": 7}, False),
    "conv": ((IMG, RNG.standard_normal((3, 2, 2, 4)).astype(np.float32)),
             {"strides": 2, "padding": "same"}, True),
    "conv_1d": ((SEQ, RNG.standard_normal((2, 3, 2)).astype(np.float32)),
                {"dilation_rate": 2}, True),
    "max_pool": ((IMG,), {"pool_size": 2, "strides": (1, 2)}, True),
    "average_pool_1d": ((SEQ,), {"pool_size": 2}, True),
}


def _name(case: str) -> str:
    return case.removesuffix("_odd").removesuffix("_vector").removesuffix("_1d")


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_matches_keras(case):
    keras = keras3()
    args, kwargs, differentiable = CASES[case]
    check_op_against_keras(getattr(keras.ops, _name(case)), getattr(tk.ops, _name(case)), args,
                           kwargs, differentiable, RNG)


GRADCHECKED = ["arctan2", "celu", "glu", "median", "cumprod", "diff", "average", "diagonal",
               "hard_silu", "selu", "log_sigmoid", "conv", "max_pool"]


@pytest.mark.parametrize("case", GRADCHECKED)
def test_op_gradcheck(case):
    args, kwargs, _ = CASES[case]
    x = tinymm.tensor(np.asarray(args[0], np.float64), requires_grad=True)
    rest = [tinymm.tensor(a.astype(np.float64))
            if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in args[1:]]
    assert tinymm.gradcheck(lambda v: getattr(tk.ops, _name(case))(v, *rest, **kwargs), [x])


def test_closed_forms_without_keras():
    np.testing.assert_allclose(tk.ops.cumprod(A).numpy(), np.cumprod(A), rtol=1e-5)
    np.testing.assert_allclose(tk.ops.median(A).numpy(), np.median(A), rtol=1e-6)
    np.testing.assert_allclose(tk.ops.arctan2(A, B).numpy(), np.arctan2(A, B), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(tk.ops.mod(A * 3, -P).numpy(), np.mod(A * 3, -P), rtol=1e-5,
                               atol=1e-6)
    grid = tk.ops.meshgrid(np.arange(3), np.arange(2))
    assert [g.shape for g in grid] == [(2, 3), (2, 3)]
    rows, cols = tk.ops.nonzero(np.eye(3))
    np.testing.assert_array_equal(rows.numpy(), [0, 1, 2])
    assert tk.ops.size(A) == 12 and tk.ops.ndim(A) == 2 and tk.ops.dtype(A) == "float32"
    assert tk.ops.is_tensor(tinymm.tensor(A)) and not tk.ops.is_tensor(A)
    assert bool(tk.ops.allclose(A, A + 1e-9).numpy())
    assert tk.ops.empty((2, 3)).shape == (2, 3)
    values, step = tk.ops.linspace(0, 1, 3, endpoint=False, retstep=True)
    np.testing.assert_allclose(values.numpy(), [0, 1 / 3, 2 / 3], rtol=1e-6)
    assert step == pytest.approx(1 / 3)


def test_bad_input_names_the_op():
    with pytest.raises(ValueError, match="keras.ops.glu: axis -1 must have an even size"):
        tk.ops.glu(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="keras.ops.max_pool: padding must be one of"):
        tk.ops.max_pool(IMG, 2, padding="same")
    with pytest.raises(ValueError, match="keras.ops.conv: expects"):
        tk.ops.conv(np.ones((2, 3), np.float32), np.ones((1, 1), np.float32))
    with pytest.raises(ValueError, match="keras.ops.diag: expects a 1-d or 2-d"):
        tk.ops.diag(np.ones((2, 2, 2), np.float32))

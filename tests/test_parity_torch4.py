"""Differential tests, part four: integer and bool promotion in every binary op and reduction
(``torch.result_type``'s rules: a 0-d tensor or a Python number joins a dimensioned tensor
only when it is of a higher category), integer ``//`` and ``%`` with negatives and by zero,
``pow`` with integer exponents, and reductions over dim tuples, 0-d and empty tensors, on
tinymm and on PyTorch from the same inputs (``m`` is the module a row runs under)."""

import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm
from tests.test_parity_torch import _assert_same

torch = pytest.importorskip("torch")


def _i8(m):
    return m.tensor([-100, 50, 127], dtype=m.int8)


def _u8(m):
    return m.tensor([200, 3, 255], dtype=m.uint8)


def _i32(m):
    return m.tensor([-7, 5, 9], dtype=m.int32)


def _bits(m):
    return m.tensor([True, False, True])


def _f16(m):
    return m.tensor([1.5, 2.0, -3.0], dtype=m.float16)


def _cube(m):
    return m.arange(24.0).reshape(2, 3, 4)


PROMOTION = {
    "int8 + uint8 is int16": lambda m: _i8(m) + _u8(m),
    "uint8 + bool stays uint8": lambda m: _u8(m) + _bits(m),
    "uint8 - uint8 wraps": lambda m: _u8(m) - m.tensor([201, 4, 1], dtype=m.uint8),
    "int8 * int8 wraps": lambda m: _i8(m) * _i8(m),
    "uint8 + Python int stays uint8": lambda m: _u8(m) + 100,
    "int32 + 0-d int64 stays int32": lambda m: _i32(m) + m.tensor(5),
    "int32 + 0-d float32 is float32": lambda m: _i32(m) + m.tensor(5.0),
    "int32 + 0-d float64 is the default float": lambda m: _i32(m) + m.tensor(5.0, dtype=m.float64),
    "float16 + 0-d float64 stays float16": lambda m: _f16(m) + m.tensor(5.0, dtype=m.float64),
    "float16 + float32 tensor": lambda m: _f16(m) + m.tensor([1.0, 2, 3]),
    "float16 + int64 tensor": lambda m: _f16(m) + m.tensor([1, 2, 3]),
    "0-d int + float16": lambda m: m.tensor(2) + _f16(m),
    "bool + float scalar": lambda m: _bits(m) + 1.5,
    "bool + 0-d int": lambda m: _bits(m) + m.tensor(3),
    "bool * True": lambda m: _bits(m) * True,
    "int32 * True": lambda m: _i32(m) * True,
    "int32 / int32 is float32": lambda m: _i32(m) / _i32(m),
    "uint8 / 2": lambda m: _u8(m) / 2,
    "int32 // and % a negative int": lambda m: (_i32(m) // -2, _i32(m) % -2),
    "int32 // and % a float scalar are float32": lambda m: (_i32(m) // 2.5, _i32(m) % 2.5),
    "float // and % an int tensor stay float32": lambda m: (
        m.tensor([5.0, -2]) // m.tensor([2, 3]), m.tensor([5.0, -2]) % m.tensor([2, 3])),
    "float scalar // int tensor": lambda m: 2.5 // m.tensor([2, -3]),
    "int scalar % int tensor": lambda m: 7 % m.tensor([2, -3]),
    "int8 // int8 floors": lambda m: _i8(m) // m.tensor([3, -7, -2], dtype=m.int8),
    "uint8 // and % 0-d int64 stay uint8": lambda m: (_u8(m) // m.tensor(7),
                                                      _u8(m) % m.tensor(7)),
    "float // and % zero": lambda m: (m.tensor([1.0, -1.0, 0.0]) // 0,
                                      m.tensor([1.0, -1.0, 0.0]) % 0),
    "remainder of ints by a float is float32": lambda m: m.remainder(m.tensor([5, -5]), 1.5),
    "remainder int32 by int64 tensor is int64": lambda m: m.remainder(
        _i32(m), m.tensor([3, -3, 4])),
    "fmod int32 by a negative int": lambda m: m.fmod(_i32(m), -3),
    "fmod of ints by a float": lambda m: m.fmod(m.tensor([5, -5]), -1.5),
    "div rounding_mode floor and trunc": lambda m: (
        m.div(m.tensor([-7, 7]), 2, rounding_mode="floor"),
        m.div(m.tensor([-7, 7]), 2, rounding_mode="trunc"),
        m.div(m.tensor([-7.5, 7.5]), -2, rounding_mode="floor")),
    "int32 ** 2 and int32 ** int32": lambda m: (
        _i32(m) ** 2, m.tensor([2, 3, 4], dtype=m.int32) ** m.tensor([3, 2, 0], dtype=m.int32)),
    "int ** float exponent": lambda m: (m.tensor([4, 9]) ** 0.5, m.tensor([4, 9]) ** 2.0),
    "number ** int tensor": lambda m: (2 ** m.tensor([1, 3]), 2.5 ** m.tensor([1, 3])),
    "uint8 ** 2 wraps": lambda m: _u8(m) ** 2,
    "int pow float tensor, float pow int tensor": lambda m: (
        m.tensor([2, 3]).pow(m.tensor([0.5, 2.0])), m.tensor([2.0, 3]).pow(m.tensor([2, 3]))),
    "negation of uint8 wraps": lambda m: -_u8(m),
    "uint8 with an out-of-range Python int wraps": lambda m: (
        _u8(m) + -1, _u8(m) + 300, _u8(m) - 201, _i8(m) + 200),
    "uint8 compared with a negative int": lambda m: (_u8(m) > -1, _u8(m) == -1),
    "uint8 compared with a negative 0-d int tensor": lambda m: (
        m.tensor(-3) < m.tensor([253, 2, 1], dtype=m.uint8), _u8(m) >= m.tensor(-56)),
    "maximum of int32 and 0-d float": lambda m: m.maximum(_i32(m), m.tensor(2.5)),
    "int32 compared with floats": lambda m: (_i32(m) == 5.0, _i32(m) < 5.5),
    "where int32 and 0-d float": lambda m: m.where(_bits(m), _i32(m), m.tensor(1.5)),
    "where int32 and int64": lambda m: m.where(_bits(m), _i32(m), m.tensor([1, 2, 3])),
    "where of Python scalars": lambda m: (m.where(_bits(m), 1, 0), m.where(_bits(m), 1.0, 0)),
    "int32 clamp to a float and a 0-d float": lambda m: (
        _i32(m).clamp(min=0.5), _i32(m).clamp(min=m.tensor(0.5))),
    "int32 add alpha": lambda m: _i32(m).add(m.tensor([1, 1, 1]), alpha=2),
    "in-place int add and mul keep int32": lambda m: (_i32(m).add_(2), _i32(m).mul_(2)),
    "float add_ int tensor": lambda m: m.tensor([1.0]).add_(m.tensor([2])),
    "float to uint8 truncates": lambda m: m.tensor([1.7, 2.2]).to(m.uint8),
    "int32 matmul int32": lambda m: (m.tensor([[1, 2]], dtype=m.int32)
                                     @ m.tensor([[3], [4]], dtype=m.int32)),
    # reductions' dtypes
    "sum of uint8, int8 and int32 is int64": lambda m: (_u8(m).sum(), _i8(m).sum(),
                                                        _i32(m).sum(0)),
    "cumsum of int8 is int64": lambda m: _i8(m).cumsum(0),
    "prod of uint8 and cumprod of int32 are int64": lambda m: (_u8(m).prod(),
                                                               _i32(m).cumprod(0)),
    "max of int32, uint8 with dim, bool": lambda m: (
        _i32(m).max(), tuple(_u8(m).max(0)), _bits(m).max(), _i32(m).amax()),
    "sum of bool over a dim is int64": lambda m: m.tensor([[True, False], [True, True]]).sum(1),
    "sum with dtype and mean with dtype": lambda m: (m.tensor([1, 2]).sum(dtype=m.float64),
                                                     m.tensor([1, 2]).mean(dtype=m.float32)),
    "float16 sum and mean stay float16": lambda m: (_f16(m).sum(), _f16(m).mean()),
    "any and all of ints and floats": lambda m: (
        m.tensor([[0, 1], [0, 0]]).any(1), m.tensor([[0, 1], [1, 1]]).all(1, keepdim=True),
        m.tensor([[0.0, 1]]).any()),
    "median of ints with dim": lambda m: tuple(m.tensor([[3, 1, 2]]).median(1)),
}


@pytest.mark.parametrize("name", sorted(PROMOTION))
def test_promotion_and_integer_arithmetic_match_torch(name):
    _assert_same(PROMOTION[name](tinymm), PROMOTION[name](torch))


_DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
_BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
           "//": operator.floordiv, "%": operator.mod, "==": operator.eq, "<": operator.lt,
           ">=": operator.ge, "maximum": lambda a, b: type(a).maximum(a, b)}


@settings(deadline=None, max_examples=60)
@given(st.sampled_from(_DTYPES), st.sampled_from(_DTYPES), st.sampled_from(sorted(_BINARY)),
       st.sampled_from([((3,), (3,)), ((3,), ()), ((), (3,))]),
       st.lists(st.integers(-4, 4), min_size=3, max_size=3),
       st.lists(st.sampled_from([-3, -2, -1, 1, 2, 3]), min_size=3, max_size=3))
def test_binary_ops_over_dtype_pairs_match_torch(dtype_a, dtype_b, op, shapes, a, b):
    """Every binary op over every pair of dtypes, dimensioned and 0-d: torch's result dtype
    and values (a refusal by torch, such as bool - bool, is not compared)."""
    def run(m):
        x = m.tensor(np.array(a[:shapes[0][0]] if shapes[0] else a[0]).astype(dtype_a))
        y = m.tensor(np.array(b[:shapes[1][0]] if shapes[1] else b[0]).astype(dtype_b))
        return _BINARY[op](x, y)

    try:
        theirs = run(torch)
    except (RuntimeError, TypeError):
        return
    with np.errstate(all="ignore"):
        _assert_same(run(tinymm), theirs, tol=1e-3)


REDUCTIONS = {
    "std and var over a dim tuple": lambda m: (
        _cube(m).std((0, 2)), _cube(m).var((0, 2), keepdim=True)),
    "amax and amin over dim tuples": lambda m: (_cube(m).amax((0, 2)), _cube(m).amin((-1, 0))),
    "sum over a dim list": lambda m: _cube(m).sum([0, -1]),
    "logsumexp and norm over a dim tuple": lambda m: (
        m.logsumexp(_cube(m) / 10, (0, 2)), _cube(m).norm(dim=(0, 2))),
    "count_nonzero over a dim tuple": lambda m: m.count_nonzero(
        m.tensor([[0, 1], [2, 0]]), dim=(0, 1)),
    "mean over every dim keepdim": lambda m: m.ones(2, 3).mean((0, 1), keepdim=True),
    "min with dim keepdim takes the first index": lambda m: tuple(
        m.tensor([[3.0, 1, 1], [0, 0, 2]]).min(1, keepdim=True)),
    "0-d: sum, prod, max and argmax over dim 0": lambda m: (
        m.tensor(3.0).sum(0), m.tensor(3.0).prod(0), m.tensor(3.0).sum(-1, keepdim=True),
        tuple(m.tensor(3.0).max(0)), m.tensor(3.0).argmax(0)),
    "empty: sum, prod and their int dtypes": lambda m: (
        m.zeros(0).sum(), m.zeros(0).prod(), m.zeros(0, dtype=m.int64).prod()),
    "empty: sum and mean over the empty dim": lambda m: (
        m.zeros(2, 0).sum(1, keepdim=True), m.zeros(2, 0).mean(1), m.zeros(2, 0).sum(0)),
    "empty: all, any, cumsum and var": lambda m: (
        m.zeros(0).all(), m.zeros(0).any(), m.zeros(0).cumsum(0), m.zeros(0).var()),
    "empty: max over a dim that is not empty": lambda m: tuple(m.zeros(0, 3).max(1)),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reductions_over_dim_tuples_0d_and_empty_match_torch(name):
    with np.errstate(all="ignore"):
        _assert_same(REDUCTIONS[name](tinymm), REDUCTIONS[name](torch))


_NAN, _INF = float("nan"), float("inf")

EDGES = {
    "norm of a row holding NaN is NaN (p = 2, 0.5 and 3)": lambda m: tuple(
        m.tensor([[3.0, _NAN], [0.0, 0.0], [3.0, 4.0]]).norm(p=p, dim=1) for p in (2, 0.5, 3)),
    "norm of every element with a NaN": lambda m: m.tensor([1.0, _NAN]).norm(),
    "clip_grad_norm_ of a NaN gradient returns NaN": lambda m: _clipped_nan(m),
    "logsumexp with +inf and with every element -inf": lambda m: m.logsumexp(
        m.tensor([[_INF, 1.0], [-_INF, -_INF], [1.0, 2.0], [-_INF, 0.0]]), 1),
    "masked_fill keeps an int tensor int": lambda m: m.tensor([[3, 1], [0, -4]]).masked_fill(
        m.tensor([[True, False], [False, True]]), 2.7),
    "masked_fill keeps a bool tensor bool": lambda m: m.tensor([True, False]).masked_fill(
        m.tensor([True, True]), 0),
    "masked_fill_ of an int tensor with a float": lambda m: m.tensor([3, 1]).masked_fill_(
        m.tensor([True, False]), 2.7),
    "clamp of float32 by 0-d int64 tensors stays float32": lambda m: m.tensor(
        [0.5, 3.5]).clamp(m.tensor(1), m.tensor(3)),
    "clamp of int by a 0-d float tensor": lambda m: m.tensor([0, 5]).clamp(m.tensor(0.5)),
    "arange with an int dtype truncates float arguments": lambda m: (
        m.arange(0, 5, 1.5, dtype=m.int64), m.arange(0, 5.5, dtype=m.int64),
        m.arange(-0.5, 3, 1.5, dtype=m.int32), m.arange(5.7, 0, -1.5, dtype=m.int64)),
    "index_select with a 0-d index keeps the dim": lambda m: m.arange(6.0).reshape(2, 3)
    .index_select(1, m.tensor(2)),
}


def _clipped_nan(m):
    params = [m.nn.Parameter(m.ones(2))]
    params[0].grad = m.tensor([_NAN, 1.0])
    return m.nn.utils.clip_grad_norm_(params, 1.0)


@pytest.mark.parametrize("name", sorted(EDGES))
def test_nan_inf_and_dtype_edges_match_torch(name):
    with np.errstate(all="ignore"):
        _assert_same(EDGES[name](tinymm), EDGES[name](torch))


def test_norm_and_logsumexp_gradients_at_nan_and_inf_match_torch():
    grads = []
    for m in (tinymm, torch):
        x = m.tensor([[3.0, _NAN], [0.0, 0.0], [3.0, 4.0]], requires_grad=True)
        y = m.tensor([[_INF, 1.0], [1.0, 2.0], [-_INF, 0.0]], requires_grad=True)
        with np.errstate(all="ignore"):
            ((x.norm(dim=1) + x.norm(p=0.5, dim=1)).sum() + m.logsumexp(y, 1)[1:].sum()
             ).backward()
        grads.append([x.grad.numpy(), y.grad.numpy()])
    for ours, theirs in zip(*grads):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, equal_nan=True)


REFUSED = {
    "integer // zero": lambda m: m.tensor([1, 2]) // 0,
    "integer % a zero element": lambda m: m.tensor([1, 2]) % m.tensor([3, 0]),
    "integer remainder and fmod by zero": lambda m: m.remainder(m.tensor([1, 2]), 0),
    "fmod of ints by zero": lambda m: m.fmod(m.tensor([1, 2]), 0),
    "max of an empty tensor": lambda m: m.zeros(0).max(),
    "min of an empty int tensor": lambda m: m.zeros(0, dtype=m.int64).min(),
    "argmax of an empty tensor": lambda m: m.zeros(0).argmax(),
    "max over an empty dim": lambda m: m.zeros(2, 0).max(1),
    "mean of an int tensor": lambda m: m.tensor([1, 2]).mean(),
    "an int tensor to a negative integer power": lambda m: m.tensor([2, 3]) ** -1,
    "index_select with a 2-d index": lambda m: m.ones(3, 2).index_select(0, m.tensor([[0]])),
    "arange with a step that truncates to 0": lambda m: m.arange(0, 5, 0.5, dtype=m.int64),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_as_torch(name):
    with pytest.raises(Exception) as theirs:
        REFUSED[name](torch)
    with pytest.raises(Exception) as ours:
        REFUSED[name](tinymm)
    assert isinstance(ours.value, (ValueError, TypeError, RuntimeError, ZeroDivisionError)), (
        theirs.value, ours.value)

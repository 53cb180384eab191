"""CUDA elementwise arithmetic and unary math (derivation: kernels/reference/elementwise.py).

One thread per output element. A binary op reads its operands through broadcast views
(``_strided``: stride 0 on a broadcast axis), so a (3, 1, 4) + (5, 4) sum never materialises
either operand at (3, 5, 4); ``_strided.plan`` merges the axes first, so same-shape operands
are plain 1-d loops. The op is a launch argument (``op`` code, uniform across the grid, so
the branch costs nothing per element); one kernel per arity keeps compile time low.

Backward: one kernel computes both operands' gradients at the output shape in one pass
(reading a, b and the saved output through the same views), then ``reduction.sum_to_shape``
sums each down to its operand's shape where broadcasting stretched it. Add and sub need no
gradient kernel (da = dout, db = +-dout).

Numerics: everything is computed in the input dtype; typed constants (``half``, ``zero``) are
passed in so that float32 arithmetic never mixes with a float64 literal.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from tinymm.kernels.numba_cuda import _strided
from tinymm.kernels.numba_cuda._device import empty, grid_1d, map_1d, require_device
from tinymm.kernels.numba_cuda.reduction import sum_to_shape
from tinymm.kernels.numba_cuda.shape import cast_forward

ADD, SUB, MUL, DIV, POW, MAXIMUM, MINIMUM = range(7)
NEG, EXP, LOG, SQRT, ABS, CLAMP = range(6)
(SIN, COS, TAN, ASIN, ACOS, ATAN, SINH, COSH, LOG1P, EXPM1, LOG2, LOG10, RECIPROCAL,
 RSQRT) = range(14)
MATH_OPS = ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "log1p", "expm1",
            "log2", "log10", "reciprocal", "rsqrt")  # in op-code order
SAVES_OUTPUT = {TAN, EXPM1, RECIPROCAL, RSQRT}  # the backward reads out, the others x


def _binary(a, b, out, shape, sa, sb, op):
    i = cuda.grid(1)
    if i < out.size:
        ia, ib = _strided.offsets2(i, shape, sa, sb)
        x = a[ia]
        y = b[ib]
        if op == ADD:
            r = x + y
        elif op == SUB:
            r = x - y
        elif op == MUL:
            r = x * y
        elif op == DIV:
            r = x / y
        elif op == POW:
            r = x ** y
        elif op == MAXIMUM:
            r = x + y if x != x or y != y else (x if x > y else y)  # NaN propagates
        else:
            r = x + y if x != x or y != y else (x if x < y else y)
        out[i] = r


def _binary_grad(dout, a, b, out, da, db, shape, sa, sb, op, zero, half):
    # dout, out, da, db at the output shape (contiguous); a and b through their views
    i = cuda.grid(1)
    if i < dout.size:
        ia, ib = _strided.offsets2(i, shape, sa, sb)
        g = dout[i]
        x = a[ia]
        y = b[ib]
        if op == MUL:
            da[i] = g * y
            db[i] = g * x
        elif op == DIV:
            da[i] = g / y
            db[i] = -g * x / (y * y)
        elif op == POW:
            da[i] = g * y * x ** (y - (half + half))
            db[i] = g * out[i] * math.log(x) if x > zero else zero
        else:  # MAXIMUM (1) or MINIMUM (-1 via swapped comparisons): ties split in half
            wins_a = x > y if op == MAXIMUM else x < y
            wins_b = y > x if op == MAXIMUM else y < x
            da[i] = g if wins_a else (g * half if x == y else zero)
            db[i] = g if wins_b else (g * half if x == y else zero)


def _unary(x, out, op, lo, hi, has_lo, has_hi):
    i = cuda.grid(1)
    if i < out.size:
        v = x[i]
        if op == NEG:
            r = -v
        elif op == EXP:
            r = math.exp(v)
        elif op == LOG:
            r = math.log(v)
        elif op == SQRT:
            r = math.sqrt(v)
        elif op == ABS:
            r = abs(v)
        else:  # CLAMP: min(max(v, lo), hi); NaN stays NaN
            r = v
            if has_lo and r < lo:
                r = lo
            if has_hi and r > hi:
                r = hi
        out[i] = r


def _unary_grad(dout, saved, dx, op, lo, hi, has_lo, has_hi, zero):
    # saved: the output for exp and sqrt, the input for log, abs and clamp
    i = cuda.grid(1)
    if i < dx.size:
        g = dout[i]
        s = saved[i]
        if op == NEG:
            r = -g
        elif op == EXP:
            r = g * s
        elif op == LOG:
            r = g / s
        elif op == SQRT:
            r = g / (s + s)
        elif op == ABS:
            r = g if s > zero else (-g if s < zero else g * zero)  # sign(0) = 0
        else:  # CLAMP: pass where lo <= x <= hi (NaN fails both tests)
            inside = (not has_lo or s >= lo) and (not has_hi or s <= hi)
            r = g if inside else g * zero
        dx[i] = r


def _math(x, out, op, one):
    i = cuda.grid(1)
    if i < out.size:
        v = x[i]
        if op == SIN:
            r = math.sin(v)
        elif op == COS:
            r = math.cos(v)
        elif op == TAN:
            r = math.tan(v)
        elif op == ASIN:
            r = math.asin(v)
        elif op == ACOS:
            r = math.acos(v)
        elif op == ATAN:
            r = math.atan(v)
        elif op == SINH:
            r = math.sinh(v)
        elif op == COSH:
            r = math.cosh(v)
        elif op == LOG1P:
            r = math.log1p(v)
        elif op == EXPM1:
            r = math.expm1(v)
        elif op == LOG2:
            r = math.log2(v)
        elif op == LOG10:
            r = math.log10(v)
        elif op == RECIPROCAL:
            r = one / v
        else:  # RSQRT
            r = one / math.sqrt(v)
        out[i] = r


def _math_grad(dout, saved, dx, op, one, half, ln2, ln10):
    # saved: the output for tan, expm1, reciprocal and rsqrt (SAVES_OUTPUT), else the input
    i = cuda.grid(1)
    if i < dx.size:
        g = dout[i]
        s = saved[i]
        if op == SIN:
            r = g * math.cos(s)
        elif op == COS:
            r = -g * math.sin(s)
        elif op == TAN:
            r = g * (one + s * s)
        elif op == ASIN:
            r = g / math.sqrt(one - s * s)
        elif op == ACOS:
            r = -g / math.sqrt(one - s * s)
        elif op == ATAN:
            r = g / (one + s * s)
        elif op == SINH:
            r = g * math.cosh(s)
        elif op == COSH:
            r = g * math.sinh(s)
        elif op == LOG1P:
            r = g / (one + s)
        elif op == EXPM1:
            r = g * (s + one)
        elif op == LOG2:
            r = g / (s * ln2)
        elif op == LOG10:
            r = g / (s * ln10)
        elif op == RECIPROCAL:
            r = -g * s * s
        else:  # RSQRT: dout * (-1/2) * out^3
            r = g * -half * s * s * s
        dx[i] = r


_TUP = _strided.TUPLE_SIG
_FL = ("float32", "float64")
PTX_TARGETS = [
    (_binary, tuple(f"void({t}[::1], {t}[::1], {t}[::1], {_TUP}, {_TUP}, {_TUP}, int64)"
                    for t in _FL)),
    (_binary_grad, tuple(f"void({t}[::1], {t}[::1], {t}[::1], {t}[::1], {t}[::1], {t}[::1], "
                         f"{_TUP}, {_TUP}, {_TUP}, int64, {t}, {t})" for t in _FL)),
    (_unary, tuple(f"void({t}[::1], {t}[::1], int64, {t}, {t}, int64, int64)" for t in _FL)),
    (_unary_grad, tuple(f"void({t}[::1], {t}[::1], {t}[::1], int64, {t}, {t}, int64, int64, "
                        f"{t})" for t in _FL)),
    (_math, tuple(f"void({t}[::1], {t}[::1], int64, {t})" for t in _FL)),
    (_math_grad, tuple(f"void({t}[::1], {t}[::1], {t}[::1], int64, {t}, {t}, {t}, {t})"
                       for t in _FL)),
]
binary_kernel = cuda.jit(_binary)
binary_grad_kernel = cuda.jit(_binary_grad)
unary_kernel = cuda.jit(_unary)
unary_grad_kernel = cuda.jit(_unary_grad)
math_kernel = cuda.jit(_math)
math_grad_kernel = cuda.jit(_math_grad)


def _flat(a):
    return a.reshape(a.size)


def _views(name, a, b):
    """Output shape and the kernel (shape, sa, sb) plan of broadcast operands a and b."""
    require_device(name, a=a, b=b)
    if a.dtype != b.dtype:
        raise TypeError(f"cuda {name}: operands must share a dtype, received {a.dtype} and "
                        f"{b.dtype} (cast one first)")
    try:
        shape = tuple(np.broadcast_shapes(tuple(a.shape), tuple(b.shape)))
    except ValueError:
        raise ValueError(f"cuda {name}: shapes {tuple(a.shape)} and {tuple(b.shape)} do not "
                         f"broadcast") from None
    sa = _strided.broadcast_strides(tuple(a.shape), shape)
    sb = _strided.broadcast_strides(tuple(b.shape), shape)
    kshape, (ka, kb) = _strided.plan(shape, sa, sb)
    return shape, kshape, ka, kb


def _binary_forward(name, op, a, b, keep_inputs):
    shape, kshape, ka, kb = _views(name, a, b)
    out = empty(shape, a.dtype)
    if out.size:
        blocks, threads = grid_1d(out.size)
        binary_kernel[blocks, threads](_flat(a), _flat(b), _flat(out), kshape, ka, kb, op)
    cache = (op, a, b, out, shape) if keep_inputs else (op, tuple(a.shape), tuple(b.shape))
    return out, cache


def _binary_backward(name, dout, cache):
    require_device(name, dout=dout)
    op, a, b, out, shape = cache
    _, kshape, ka, kb = _views(name, a, b)
    da = empty(shape, dout.dtype)
    db = empty(shape, dout.dtype)
    if da.size:
        blocks, threads = grid_1d(da.size)
        t = dout.dtype.type
        binary_grad_kernel[blocks, threads](_flat(dout), _flat(a), _flat(b), _flat(out),
                                            _flat(da), _flat(db), kshape, ka, kb, op, t(0),
                                            t(0.5))
    return sum_to_shape(da, tuple(a.shape)), sum_to_shape(db, tuple(b.shape))


def _bounds(dtype, lo, hi):
    """Clamp's kernel arguments: both bounds in the dtype (0 when absent) and two flags."""
    t = dtype.type
    return t(0 if lo is None else lo), t(0 if hi is None else hi), int(lo is not None), int(
        hi is not None)


def _unary_launch(name, op, x, lo=None, hi=None):
    return map_1d(name, unary_kernel, {"x": x}, op, *_bounds(x.dtype, lo, hi))


def _unary_backward(name, op, dout, saved, lo=None, hi=None):
    return (map_1d(name, unary_grad_kernel, {"dout": dout, "saved": saved}, op,
                   *_bounds(saved.dtype, lo, hi), saved.dtype.type(0)),)


# ------------------------------------------------------------------ binary
def add_forward(a, b):
    return _binary_forward("add_forward", ADD, a, b, keep_inputs=False)


def add_backward(dout, cache):
    require_device("add_backward", dout=dout)
    _, a_shape, b_shape = cache
    return sum_to_shape(dout, a_shape), sum_to_shape(dout, b_shape)


def sub_forward(a, b):
    return _binary_forward("sub_forward", SUB, a, b, keep_inputs=False)


def sub_backward(dout, cache):
    require_device("sub_backward", dout=dout)
    _, a_shape, b_shape = cache
    (minus,) = _unary_backward("sub_backward", NEG, dout, dout)
    return sum_to_shape(dout, a_shape), sum_to_shape(minus, b_shape)


def mul_forward(a, b):
    return _binary_forward("mul_forward", MUL, a, b, keep_inputs=True)


def mul_backward(dout, cache):
    return _binary_backward("mul_backward", dout, cache)


def div_forward(a, b):
    return _binary_forward("div_forward", DIV, a, b, keep_inputs=True)


def div_backward(dout, cache):
    return _binary_backward("div_backward", dout, cache)


def pow_forward(a, b):
    return _binary_forward("pow_forward", POW, a, b, keep_inputs=True)


def pow_backward(dout, cache):
    return _binary_backward("pow_backward", dout, cache)


def maximum_forward(a, b):
    return _binary_forward("maximum_forward", MAXIMUM, a, b, keep_inputs=True)


def maximum_backward(dout, cache):
    return _binary_backward("maximum_backward", dout, cache)


def minimum_forward(a, b):
    return _binary_forward("minimum_forward", MINIMUM, a, b, keep_inputs=True)


def minimum_backward(dout, cache):
    return _binary_backward("minimum_backward", dout, cache)


# ------------------------------------------------------------------ unary
def neg_forward(x):
    return _unary_launch("neg_forward", NEG, x), None


def neg_backward(dout, cache):
    return _unary_backward("neg_backward", NEG, dout, dout)


def exp_forward(x):
    out = _unary_launch("exp_forward", EXP, x)
    return out, out


def exp_backward(dout, cache):
    return _unary_backward("exp_backward", EXP, dout, cache)


def log_forward(x):
    return _unary_launch("log_forward", LOG, x), x


def log_backward(dout, cache):
    return _unary_backward("log_backward", LOG, dout, cache)


def sqrt_forward(x):
    out = _unary_launch("sqrt_forward", SQRT, x)
    return out, out


def sqrt_backward(dout, cache):
    return _unary_backward("sqrt_backward", SQRT, dout, cache)


def abs_forward(x):
    return _unary_launch("abs_forward", ABS, x), x


def abs_backward(dout, cache):
    return _unary_backward("abs_backward", ABS, dout, cache)


def clamp_forward(x, min=None, max=None):  # noqa: A002 - PyTorch's argument names
    return _unary_launch("clamp_forward", CLAMP, x, min, max), (x, min, max)


def clamp_backward(dout, cache):
    x, lo, hi = cache
    return _unary_backward("clamp_backward", CLAMP, dout, x, lo, hi)


# ------------------------------------------------------------------ more unary math
def _math_forward(name, op, x):
    out = map_1d(name, math_kernel, {"x": x}, op, x.dtype.type(1))
    return out, (out if op in SAVES_OUTPUT else x)


def _math_backward(name, op, dout, saved):
    t = saved.dtype.type
    return (map_1d(name, math_grad_kernel, {"dout": dout, "saved": saved}, op, t(1), t(0.5),
                   t(np.log(2.0)), t(np.log(10.0))),)


def _math_pair(op: int):
    """The (forward, backward) wrappers of the math op with code ``op``."""
    name = MATH_OPS[op]

    def forward(x):
        return _math_forward(f"{name}_forward", op, x)

    def backward(dout, cache):
        return _math_backward(f"{name}_backward", op, dout, cache)

    forward.__name__, backward.__name__ = f"{name}_forward", f"{name}_backward"
    forward.__qualname__, backward.__qualname__ = forward.__name__, backward.__name__
    forward.__doc__ = f"torch.{name} on the device: one thread per element."
    backward.__doc__ = f"The gradient of torch.{name} (kernels/reference/elementwise.py)."
    return forward, backward


(sin_forward, sin_backward), (cos_forward, cos_backward), (tan_forward, tan_backward), \
    (asin_forward, asin_backward), (acos_forward, acos_backward), \
    (atan_forward, atan_backward), (sinh_forward, sinh_backward), \
    (cosh_forward, cosh_backward), (log1p_forward, log1p_backward), \
    (expm1_forward, expm1_backward), (log2_forward, log2_backward), \
    (log10_forward, log10_backward), (reciprocal_forward, reciprocal_backward), \
    (rsqrt_forward, rsqrt_backward) = (_math_pair(op) for op in range(len(MATH_OPS)))


# ------------------------------------------------------------------ in place
def accumulate(dst, src):
    """dst += src in place: the add kernel with dst as its output (each thread reads and
    writes only its own element). Mixed dtypes add in the wider one and round once into
    dst, as NumPy's in-place add does."""
    require_device("accumulate", dst=dst, src=src)
    if tuple(src.shape) != tuple(dst.shape):
        raise ValueError(f"cuda accumulate: src has shape {tuple(src.shape)}, expected dst's "
                         f"{tuple(dst.shape)}")
    if not dst.size:
        return
    if src.dtype != dst.dtype:
        wide = np.result_type(dst.dtype, src.dtype)
        if dst.dtype == wide:
            accumulate(dst, cast_forward(src, wide)[0])
        else:
            total = cast_forward(dst, wide)[0]
            accumulate(total, src)
            dst.copy_to_device(cast_forward(total, dst.dtype)[0])
        return
    _, kshape, ka, kb = _views("accumulate", dst, src)
    blocks, threads = grid_1d(dst.size)
    binary_kernel[blocks, threads](_flat(dst), _flat(src), _flat(dst), kshape, ka, kb, ADD)

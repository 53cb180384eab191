"""Fuzz the public surface: tinymm.F, the Tensor methods and operators, and the nn layers.

Hypothesis draws shapes (zero-size dimensions and 0-d tensors included), dtypes (float32,
float64, and now and then float16, int, bool or a mix), memory layouts (C order, Fortran
order, strided and negatively strided views shared with the Tensor through ``from_numpy``),
values (NaN, Inf and huge ones planted), out-of-range indices, axes and lengths, and
parameters (strides, paddings, probabilities...). Every draw runs on the reference backend
and on the numba backend, forward and (when the output is a float tensor) backward, and must
end in one of:

* a result: the same shape and dtype on both backends, the same values (where the reference
  is NaN/Inf the other backend must be non-finite too), the same input gradients;
* a ``ValueError`` or ``TypeError`` whose message names the op, the same on both backends
  (or a ``RuntimeError`` naming the op where PyTorch raises one, e.g. ``mean()`` of an
  integer tensor).

Anything else (another exception type, an error that does not say which op, backends that
disagree) fails the draw. Indexing may also raise ``IndexError`` (Python's protocol for
``t[i]``), which must name the op too.

One documented exception: the numba LSTM and RNN cell kernels compile with fastmath
``nnan``/``ninf`` (their vectorised exp is fast because of it), and attention's scores
overflow differently from the reference's for huge inputs, so for those ops a draw whose
inputs hold a finite |x| >= 1e30 must still end cleanly (a result of the right shape and
dtype, or a named error) but its values are not compared. NaN and Inf inputs are compared:
those ops run on the reference kernels then (tests/test_nonfinite_kernels.py).

CI runs a few examples per op; ``TINYMM_FUZZ_EXAMPLES=N`` runs N per op (and, with ``-s``,
prints how many distinct cases ran).
"""

from __future__ import annotations

import os
import warnings
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm
from tinymm import F, nn

EXAMPLES = int(os.environ.get("TINYMM_FUZZ_EXAMPLES", "12"))
BACKENDS = [b for b in ("reference", "numba") if tinymm.backends()[b] is None]
TRIED: Counter = Counter()  # (op, outcome) -> draws, reported at the end of the module

FLOATS = (np.float32, np.float64)
ODD = (np.float16, np.int64, np.int32, np.bool_, np.uint8)


class Raw:
    """An argument passed as a NumPy array (indices, targets, masks), not as a Tensor."""

    def __init__(self, array):
        self.array = array


# ------------------------------------------------------------------ drawing inputs
@st.composite
def dtypes(draw, odd_chance=0.12):
    """Mostly float32/float64; sometimes a dtype the op must refuse or convert."""
    if draw(st.floats(0, 1)) < odd_chance:
        return np.dtype(draw(st.sampled_from(ODD)))
    return np.dtype(draw(st.sampled_from(FLOATS)))


def _layout(draw, a: np.ndarray) -> np.ndarray:
    """The same values in a drawn memory layout."""
    kind = draw(st.sampled_from(["c", "c", "fortran", "strided", "reversed"]))
    if a.ndim == 0 or kind == "c":
        return a
    if kind == "fortran":
        return np.asfortranarray(a)
    axis = draw(st.integers(0, a.ndim - 1))
    if kind == "reversed":  # a view with a negative stride along one axis
        return np.flip(np.flip(a, axis=axis).copy(), axis=axis)
    wide = np.repeat(a, 2, axis=axis)  # every other element along one axis: a strided view
    return wide[tuple(slice(None, None, 2) if i == axis else slice(None) for i in range(a.ndim))]


@st.composite
def arrays(draw, shape, dtype=None, specials=True, scale=1.0):
    """An array of ``shape``: seeded normal values, maybe NaN/Inf/huge ones, a drawn layout."""
    dtype = np.dtype(dtype) if dtype is not None else draw(dtypes())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = np.asarray(rng.standard_normal(shape) * scale)
    if specials and a.size and draw(st.floats(0, 1)) < 0.15:
        flat = a.reshape(-1)
        for _ in range(draw(st.integers(1, 3))):
            flat[draw(st.integers(0, a.size - 1))] = draw(
                st.sampled_from([np.nan, np.inf, -np.inf, 1e30, -1e30]))
    if dtype.kind == "b":
        a = a > 0
    elif dtype.kind in "iu":
        with np.errstate(invalid="ignore"):
            a = np.nan_to_num(a * 3, posinf=0, neginf=0).astype(dtype)
    else:
        with np.errstate(over="ignore"):
            a = a.astype(dtype)
    return _layout(draw, np.asarray(a))  # 0-d stays an array, not a NumPy scalar


def shapes(min_dims=0, max_dims=4, min_side=0, max_side=4):
    return st.lists(st.integers(min_side, max_side), min_size=min_dims, max_size=max_dims
                    ).map(tuple)


def side(lo=0, hi=4):
    return st.integers(lo, hi)


# ------------------------------------------------------------------ running a draw
def _tensorize(value, requires_grad):
    if isinstance(value, Raw):
        return value.array.copy() if isinstance(value.array, np.ndarray) else value.array
    if isinstance(value, np.ndarray):
        wants = requires_grad and value.dtype.type in FLOATS
        return tinymm.from_numpy(_same_layout(value), requires_grad=wants)
    if isinstance(value, list):
        return [_tensorize(v, requires_grad) for v in value]
    return value


def _same_layout(a: np.ndarray) -> np.ndarray:
    """A private copy of ``a`` in the same kind of layout (C, Fortran, strided, reversed)."""
    if a.ndim == 0 or a.flags.c_contiguous:
        return a.copy()
    if a.flags.f_contiguous:
        return np.asfortranarray(a.copy())
    negative = tuple(i for i, st_ in enumerate(a.strides) if st_ < 0)
    if negative:
        return np.flip(np.flip(a, axis=negative).copy(), axis=negative)
    out = np.empty(tuple(2 * n for n in a.shape), a.dtype)[(slice(None, None, 2),) * a.ndim]
    out[...] = a
    return out


def _leaves(values):
    out = []
    for v in values:
        if isinstance(v, tinymm.Tensor) and v.requires_grad:
            out.append(v)
        elif isinstance(v, list):
            out += _leaves(v)
    return out


def _flat_outputs(result):
    if isinstance(result, tinymm.Tensor):
        return [result]
    if isinstance(result, (tuple, list)):
        return [t for r in result for t in _flat_outputs(r)]
    return []


def _run(op: str, fn, inputs, seed: int):
    """Run ``fn`` on fresh Tensors of ``inputs`` on one backend: ("ok", outputs, grads) or
    ("error", exception type, message)."""
    args = [_tensorize(v, requires_grad=True) for v in inputs]
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            nn.init.seed(seed)
            result = fn(*args)
            outs = _flat_outputs(result)
            grads = []
            differentiable = [o for o in outs if o.requires_grad]
            if differentiable:
                rng = np.random.default_rng(seed)
                total = None
                for o in differentiable:
                    up = tinymm.tensor(rng.standard_normal(o.shape).astype(o.dtype))
                    term = (o * up).sum()
                    total = term if total is None else total + term
                total.backward()
                grads = [None if t.grad is None else t.grad.array for t in _leaves(args)]
        return "ok", [o.array for o in outs], grads
    except (ValueError, TypeError, RuntimeError) as err:
        return "error", type(err), str(err)
    except IndexError as err:
        if op != "getitem":
            raise
        return "error", type(err), str(err)


def _close(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs reference {b.shape}"
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} vs reference {b.dtype}"
    if a.dtype.kind not in "fc":
        np.testing.assert_array_equal(a, b, err_msg=what)
        return
    bad_ref = ~np.isfinite(b)
    assert not np.any(np.isfinite(a) & bad_ref), f"{what}: finite where the reference is not"
    ok = ~bad_ref & np.isfinite(a)
    assert np.array_equal(ok, ~bad_ref), f"{what}: non-finite where the reference is finite"
    tol = 2e-3 if a.dtype == np.float32 else 1e-9
    scale = max(float(np.max(np.abs(b[ok]), initial=0.0)), 1.0)
    err = float(np.max(np.abs(a[ok].astype(np.float64) - b[ok]), initial=0.0)) / scale
    assert err <= tol, f"{what}: normwise error {err:.3g} > {tol}"


FASTMATH_OPS = {"lstm", "rnn", "attention", "multihead_attention"}


def _extreme(inputs) -> bool:
    """Whether any float input holds a finite value of magnitude >= 1e30."""
    for v in inputs:
        a = v.array if isinstance(v, Raw) else v
        if isinstance(a, list):
            if _extreme(a):
                return True
        elif isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.size:
            with np.errstate(invalid="ignore", over="ignore"):
                wide = a.astype(np.float64)
                if np.any(np.isfinite(wide) & (np.abs(wide) >= 1e30)):
                    return True
    return False


def check(op: str, fn, inputs, names=None, seed=0):
    """The fuzz contract for one draw (see the module docstring)."""
    names = names or (op,)
    values_unspecified = op in FASTMATH_OPS and _extreme(inputs)
    results = {b: None for b in BACKENDS}
    for backend in BACKENDS:
        with tinymm.use_backend(backend):
            results[backend] = _run(op, fn, inputs, seed)
    ref = results["reference"]
    for backend, got in results.items():
        assert got[0] == ref[0], (f"{op}: {backend} {got[0]} ({got[1:]}) but the reference "
                                  f"{ref[0]} ({ref[1:]})")
    if ref[0] == "error":
        message = ref[2]
        assert any(n in message for n in names), (
            f"{op}: {ref[1].__name__} does not name the op ({'/'.join(names)}): {message}")
        for backend, got in results.items():
            assert got[1] is ref[1] and got[2] == message, f"{op}: {backend} raised differently"
        TRIED[op, "error"] += 1
        return
    for backend, got in results.items():
        if backend == "reference":
            continue
        assert len(got[1]) == len(ref[1])
        assert len(got[2]) == len(ref[2])
        pairs = [(f"output {k}", a, b) for k, (a, b) in enumerate(zip(got[1], ref[1]))]
        pairs += [(f"gradient {k}", a, b) for k, (a, b) in enumerate(zip(got[2], ref[2]))]
        for what, a, b in pairs:
            assert (a is None) == (b is None), f"{op} ({backend}) {what} presence"
            if a is None:
                continue
            if values_unspecified:
                assert (np.shape(a), np.asarray(a).dtype) == (np.shape(b), np.asarray(b).dtype)
            else:
                _close(a, b, f"{op} ({backend}) {what}")
    TRIED[op, "result (values unspecified)" if values_unspecified else "result"] += 1


def fuzz(fn):
    return settings(max_examples=EXAMPLES, deadline=None)(fn)


# ------------------------------------------------------------------ elementwise and softmax
UNARY = {
    "relu": F.relu, "sigmoid": F.sigmoid, "tanh": F.tanh, "silu": F.silu,
    "elu": lambda x: F.elu(x, alpha=0.7), "gelu": F.gelu, "softplus": F.softplus,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@fuzz
@given(data=st.data())
def test_unary_activations(name, data):
    x = data.draw(arrays(data.draw(shapes())))
    check(name, UNARY[name], [x])


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@fuzz
@given(data=st.data())
def test_softmax(name, data):
    x = data.draw(arrays(data.draw(shapes())))
    dim = data.draw(st.integers(-x.ndim - 1, x.ndim))
    fn = getattr(F, name)
    check(name, lambda t: fn(t, dim=dim), [x])


TENSOR_UNARY = {
    "exp": lambda t: t.exp(), "log": lambda t: t.log(), "sqrt": lambda t: t.sqrt(),
    "abs": lambda t: t.abs(), "neg": lambda t: -t, "pow": lambda t: t ** 3,
    "clamp": lambda t: t.clamp(-0.5, 0.7), "float": lambda t: t.float(),
    "double": lambda t: t.double(),
}


@pytest.mark.parametrize("name", sorted(TENSOR_UNARY))
@fuzz
@given(data=st.data())
def test_tensor_elementwise_methods(name, data):
    x = data.draw(arrays(data.draw(shapes())))
    check(name, TENSOR_UNARY[name], [x], names=(name, "Tensor"))


BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b, "pow_tensor": lambda a, b: a.abs() ** b}


@st.composite
def broadcastable(draw):
    """Two shapes that usually broadcast (a size-1 or missing axis) and sometimes do not."""
    shape = draw(shapes(0, 3))
    other = list(shape)
    for i in range(len(other)):
        if draw(st.booleans()):
            other[i] = draw(st.sampled_from([1, other[i], other[i] + 1]))
    if other and draw(st.booleans()):
        other = other[draw(st.integers(0, len(other))):]
    return shape, tuple(other)


@pytest.mark.parametrize("name", sorted(BINARY))
@fuzz
@given(data=st.data())
def test_binary_operators(name, data):
    a_shape, b_shape = data.draw(broadcastable())
    a, b = data.draw(arrays(a_shape)), data.draw(arrays(b_shape))
    check(name, BINARY[name], [a, b], names=(name.split("_")[0], "pow"))


# ------------------------------------------------------------------ reductions and shapes
@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@fuzz
@given(data=st.data())
def test_reductions(name, data):
    x = data.draw(arrays(data.draw(shapes())))
    axis = data.draw(st.one_of(st.none(), st.integers(-x.ndim - 1, x.ndim),
                               st.tuples(st.integers(-2, 2), st.integers(-2, 2))))
    keepdims = data.draw(st.booleans())
    check(name, lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), [x])


@fuzz
@given(data=st.data())
def test_shape_methods(data):
    x = data.draw(arrays(data.draw(shapes())))
    n = x.ndim
    which = data.draw(st.sampled_from(["reshape", "flatten", "permute", "transpose", "unsqueeze",
                                       "squeeze", "getitem", "split", "argmax"]))
    if which == "reshape":
        target = data.draw(st.sampled_from([(-1,), (x.size,), (1, -1), (2, -1), (x.size + 1,),
                                            (-1, -1), ()]))
        fn = lambda t: t.reshape(*target)  # noqa: E731
    elif which == "flatten":
        a, b = data.draw(st.integers(-n - 1, n)), data.draw(st.integers(-n - 1, n))
        fn = lambda t: t.flatten(a, b)  # noqa: E731
    elif which == "permute":
        axes = data.draw(st.permutations(range(n))) if data.draw(st.booleans()) else \
            data.draw(st.lists(st.integers(-n - 1, n), max_size=n + 1))
        fn = lambda t: t.permute(*axes)  # noqa: E731
    elif which == "transpose":
        a, b = data.draw(st.integers(-n - 1, n)), data.draw(st.integers(-n - 1, n))
        fn = lambda t: t.transpose(a, b)  # noqa: E731
    elif which == "unsqueeze":
        d = data.draw(st.integers(-n - 2, n + 1))
        fn = lambda t: t.unsqueeze(d)  # noqa: E731
    elif which == "squeeze":
        d = data.draw(st.one_of(st.none(), st.integers(-n - 1, n)))
        fn = lambda t: t.squeeze(d)  # noqa: E731
    elif which == "getitem":
        index = data.draw(st.one_of(
            st.integers(-5, 5), st.slices(5),
            st.tuples(st.integers(-3, 3), st.slices(4)),
            st.just(Ellipsis), st.just(None),
            st.lists(st.integers(-5, 5), max_size=3).map(np.array)))
        fn = lambda t: t[index]  # noqa: E731
    elif which == "split":
        size = data.draw(st.one_of(st.integers(-1, 4), st.lists(st.integers(-1, 3), max_size=3)))
        axis = data.draw(st.integers(-n - 1, n))
        fn = lambda t: t.split(size, axis=axis)  # noqa: E731
    else:
        axis = data.draw(st.one_of(st.none(), st.integers(-n - 1, n)))
        fn = lambda t: t.argmax(axis=axis)  # noqa: E731
    check(which, fn, [x], names=(which, "index", "Tensor", "split", "squeeze"))


@pytest.mark.parametrize("name", ["cat", "stack"])
@fuzz
@given(data=st.data())
def test_cat_and_stack(name, data):
    shape = data.draw(shapes(0, 3))
    count = data.draw(st.integers(0, 3))
    xs = []
    for _ in range(count):
        s = list(shape)
        if s and data.draw(st.floats(0, 1)) < 0.3:
            s[data.draw(st.integers(0, len(s) - 1))] += 1
        xs.append(data.draw(arrays(tuple(s))))
    axis = data.draw(st.integers(-len(shape) - 2, len(shape) + 1))
    fn = getattr(tinymm, name)
    check(name, lambda *ts: fn(list(ts), axis=axis), xs, names=(name, "concat"))


# ------------------------------------------------------------------ the heavy ops
@fuzz
@given(data=st.data())
def test_linear_and_matmul(data):
    lead = data.draw(shapes(0, 2, 0, 3))
    D, O = data.draw(side(0, 4)), data.draw(side(0, 4))
    x = data.draw(arrays(lead + (D,) if data.draw(st.floats(0, 1)) < 0.9 else lead))
    w = data.draw(arrays((O, D if data.draw(st.floats(0, 1)) < 0.85 else D + 1)))
    if data.draw(st.booleans()):
        b = data.draw(arrays((O if data.draw(st.floats(0, 1)) < 0.9 else O + 1,)))
        check("linear", F.linear, [x, w, b])
    else:
        check("matmul", lambda a, c: F.matmul(a, c.transpose(-1, -2) if c.ndim >= 2 else c),
              [x, w], names=("matmul", "transpose"))


@st.composite
def images(draw, channels=None):
    N, C = draw(side(0, 2)), channels if channels is not None else draw(side(1, 3))
    H, W = draw(side(0, 6)), draw(side(0, 6))
    dims = draw(st.sampled_from([4, 4, 4, 3, 5]))
    shape = (N, C, H, W)[:dims] if dims <= 4 else (N, C, H, W, 1)
    return draw(arrays(shape))


@pytest.mark.parametrize("name", ["conv2d", "conv2d_relu"])
@fuzz
@given(data=st.data())
def test_conv2d(name, data):
    x = data.draw(images())
    C = x.shape[1] if x.ndim > 1 else 1
    O, kh, kw = data.draw(side(1, 3)), data.draw(side(1, 3)), data.draw(side(1, 3))
    Cw = C if data.draw(st.floats(0, 1)) < 0.9 else C + 1
    w = data.draw(arrays((O, Cw, kh, kw), dtype=x.dtype if x.dtype.kind == "f" else None))
    b = data.draw(st.one_of(st.none(), arrays((O,), dtype=w.dtype)))
    stride = data.draw(st.one_of(st.integers(0, 3), st.tuples(side(1, 2), side(1, 2))))
    padding = data.draw(st.one_of(st.integers(-1, 2), st.sampled_from(["same", "valid", "full"]),
                                  st.tuples(side(0, 2), side(0, 2))))
    dilation = data.draw(st.one_of(st.integers(0, 2), st.tuples(side(1, 2), side(1, 2))))
    fn = getattr(F, name)
    check(name, lambda a, c, d=None: fn(a, c, d, stride=stride, padding=padding,
                                        dilation=dilation),
          [x, w] + ([] if b is None else [b]), names=("conv2d",))


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "flatten"])
@fuzz
@given(data=st.data())
def test_pooling(name, data):
    x = data.draw(images())
    if name == "adaptive_avg_pool2d":
        size = data.draw(st.one_of(st.integers(0, 3), st.tuples(side(0, 3), side(1, 3))))
        check(name, lambda t: F.adaptive_avg_pool2d(t, size), [x])
        return
    if name == "flatten":
        a, b = data.draw(st.integers(-5, 4)), data.draw(st.integers(-5, 4))
        check(name, lambda t: F.flatten(t, a, b), [x])
        return
    k = data.draw(st.one_of(st.integers(0, 3), st.tuples(side(1, 3), side(1, 3))))
    stride = data.draw(st.one_of(st.none(), st.integers(0, 3)))
    padding = data.draw(st.integers(-1, 2))
    fn = getattr(F, name)
    check(name, lambda t: fn(t, k, stride=stride, padding=padding), [x])


@fuzz
@given(data=st.data())
def test_embedding(data):
    V, E = data.draw(side(0, 5)), data.draw(side(0, 3))
    weight = data.draw(arrays((V, E)))
    shape = data.draw(shapes(0, 3, 0, 3))
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    idx = rng.integers(-2, V + 2, size=shape) if data.draw(st.floats(0, 1)) < 0.3 else \
        rng.integers(0, max(V, 1), size=shape)
    idx = idx.astype(data.draw(st.sampled_from([np.int64, np.int32, np.int64, np.float32,
                                                np.uint8, np.bool_])))
    padding_idx = data.draw(st.one_of(st.none(), st.integers(-V - 1, V)))
    as_tensor = data.draw(st.booleans())
    check("embedding", lambda i, w: F.embedding(i, w, padding_idx=padding_idx),
          [idx if as_tensor else Raw(idx), weight])


@fuzz
@given(data=st.data())
def test_cross_entropy(data):
    N, C = data.draw(side(0, 4)), data.draw(side(0, 4))
    dims = data.draw(st.sampled_from([2, 2, 1, 3]))
    logits = data.draw(arrays((N, C, 2)[:dims] if dims != 1 else (C,)))
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    target = rng.integers(-1, C + 1, size=(N,)) if data.draw(st.floats(0, 1)) < 0.3 else \
        rng.integers(0, max(C, 1), size=(N,))
    if data.draw(st.floats(0, 1)) < 0.2:
        target = target.astype(data.draw(st.sampled_from([np.float32, np.int32, np.bool_])))
    if data.draw(st.floats(0, 1)) < 0.15:
        target = target[:-1] if target.size else np.zeros(1, np.int64)
    reduction = data.draw(st.sampled_from(["mean", "sum", "none", "avg"]))
    smoothing = data.draw(st.sampled_from([0.0, 0.1, 1.0, -0.1, 1.5, float("nan")]))
    ignore = data.draw(st.sampled_from([-100, 0, 1]))
    check("cross_entropy",
          lambda z, t: F.cross_entropy(z, t, ignore_index=ignore, reduction=reduction,
                                       label_smoothing=smoothing), [logits, Raw(target)])


@fuzz
@given(data=st.data())
def test_scaled_dot_product_attention(data):
    N, h = data.draw(side(0, 2)), data.draw(side(1, 2))
    Lq, Lk, d = data.draw(side(0, 3)), data.draw(side(0, 3)), data.draw(side(0, 3))
    dt = data.draw(dtypes())
    q = data.draw(arrays((N, h, Lq, d), dtype=dt))
    k = data.draw(arrays((N, h, Lk, d if data.draw(st.floats(0, 1)) < 0.9 else d + 1), dtype=dt))
    v = data.draw(arrays((N, h, Lk, data.draw(side(0, 3))), dtype=dt))
    mask = None
    if data.draw(st.booleans()):
        mshape = data.draw(st.sampled_from([(Lq, Lk), (N, 1, Lq, Lk), (1, Lk), (Lq, Lk + 1)]))
        mask = Raw(data.draw(arrays(mshape, dtype=data.draw(st.sampled_from(
            [np.bool_, np.bool_, dt, np.int64])), specials=False)))
    causal = data.draw(st.booleans())
    scale = data.draw(st.sampled_from([None, 0.5, 0.0, -1.0, float("nan")]))
    names = ("scaled_dot_product_attention", "attention")
    if mask is None:
        check("attention", lambda a, b, c: F.scaled_dot_product_attention(
            a, b, c, is_causal=causal, scale=scale), [q, k, v], names=names)
    else:
        check("attention", lambda a, b, c, m: F.scaled_dot_product_attention(
            a, b, c, attn_mask=m, is_causal=causal, scale=scale), [q, k, v, mask], names=names)


@pytest.mark.parametrize("name", ["gated_fusion", "bilinear_pool", "film"])
@fuzz
@given(data=st.data())
def test_fusion_ops(name, data):
    B, D = data.draw(side(0, 3)), data.draw(side(0, 4))

    def maybe_off(shape):
        s = list(shape)
        if s and data.draw(st.floats(0, 1)) < 0.15:
            s[data.draw(st.integers(0, len(s) - 1))] += 1
        return tuple(s)

    if name == "film":
        x = data.draw(images())
        C = x.shape[1] if x.ndim > 1 else 1
        inputs = [x, data.draw(arrays(maybe_off((x.shape[0] if x.ndim else 1, C)))),
                  data.draw(arrays(maybe_off((x.shape[0] if x.ndim else 1, C))))]
    elif name == "gated_fusion":
        inputs = [data.draw(arrays(maybe_off((B, D)))) for _ in range(3)]
    else:
        inputs = [data.draw(arrays(maybe_off((B, D)))) for _ in range(2)]
    check(name, getattr(F, name), inputs)


@fuzz
@given(data=st.data())
def test_dropout(data):
    x = data.draw(arrays(data.draw(shapes())))
    p = data.draw(st.sampled_from([0.0, 0.3, 1.0, -0.1, 1.1]))
    training = data.draw(st.booleans())
    check("dropout", lambda t: F.dropout(t, p=p, training=training), [x])


# ------------------------------------------------------------------ nn layers
@pytest.mark.parametrize("cls", ["LSTM", "RNN"])
@fuzz
@given(data=st.data())
def test_recurrent_layers(cls, data):
    T, N, D, H = data.draw(side(0, 4)), data.draw(side(0, 3)), data.draw(side(1, 3)), \
        data.draw(side(1, 3))
    batch_first = data.draw(st.booleans())
    dt = data.draw(dtypes())
    shape = (N, T, D) if batch_first else (T, N, D)
    if data.draw(st.floats(0, 1)) < 0.15:
        shape = data.draw(st.sampled_from([shape[:2], shape + (1,), shape[:2] + (D + 1,)]))
    x = data.draw(arrays(shape, dtype=dt))
    lengths = None
    if data.draw(st.booleans()):
        rng = np.random.default_rng(data.draw(st.integers(0, 100)))
        lengths = rng.integers(-1 if data.draw(st.floats(0, 1)) < 0.2 else 1, T + 2,
                               size=N if data.draw(st.floats(0, 1)) < 0.9 else N + 1)
    layers = data.draw(st.integers(1, 2))
    bidirectional = data.draw(st.booleans())
    seed = data.draw(st.integers(0, 100))
    kind = getattr(nn, cls)

    def run(t):
        nn.init.seed(seed)
        layer = kind(D, H, num_layers=layers, batch_first=batch_first,
                     bidirectional=bidirectional,
                     dtype=dt if dt.kind == "f" and dt.itemsize >= 4 else np.float32)
        return layer(t, lengths=lengths)

    check(cls.lower(), run, [x], names=(cls.lower(), cls))


@fuzz
@given(data=st.data())
def test_multihead_attention_layer(data):
    E, heads = data.draw(st.sampled_from([(4, 2), (4, 1), (3, 2), (0, 1)]))
    N, L, S = data.draw(side(0, 2)), data.draw(side(0, 3)), data.draw(side(0, 3))
    dt = data.draw(dtypes())
    q = data.draw(arrays((N, L, E), dtype=dt))
    kv = data.draw(arrays((N, S, E if data.draw(st.floats(0, 1)) < 0.9 else E + 1), dtype=dt))
    seed = data.draw(st.integers(0, 100))

    def run(a, b):
        nn.init.seed(seed)
        layer = nn.MultiheadAttention(E, heads, batch_first=True)
        if dt == np.float64:
            layer = layer.double()
        return layer(a, b, b)

    check("multihead_attention", run, [q, kv],
          names=("MultiheadAttention", "multihead", "attention", "embed_dim"))


@pytest.mark.parametrize("cls", ["Linear", "Conv2d", "MaxPool2d", "Embedding"])
@fuzz
@given(data=st.data())
def test_layers(cls, data):
    seed = data.draw(st.integers(0, 100))
    if cls == "Linear":
        x = data.draw(arrays(data.draw(shapes(0, 3)) + (3,)))
        make = lambda: nn.Linear(3, 2)  # noqa: E731
    elif cls == "Conv2d":
        x = data.draw(images(channels=data.draw(st.sampled_from([2, 2, 3]))))
        make = lambda: nn.Conv2d(2, 3, 3, padding=data_padding)  # noqa: E731
        data_padding = data.draw(st.sampled_from([0, 1, "same"]))
    elif cls == "MaxPool2d":
        x = data.draw(images())
        make = lambda: nn.MaxPool2d(2)  # noqa: E731
    else:
        rng = np.random.default_rng(seed)
        x = Raw(rng.integers(-1, 6, size=data.draw(shapes(0, 3, 0, 3))))
        make = lambda: nn.Embedding(5, 3, padding_idx=0)  # noqa: E731

    def run(t):
        nn.init.seed(seed)
        layer = make()
        if isinstance(t, tinymm.Tensor) and t.dtype == np.float64:
            layer = layer.double()
        return layer(t)

    check(cls, run, [x], names=(cls, cls.lower(), "conv2d", "max_pool2d", "embedding", "linear"))


def test_report_cases_tried():
    """Prints how many draws ran, per outcome (run with -s to see it)."""
    total = sum(TRIED.values())
    ops = sorted({op for op, _ in TRIED})
    kinds = Counter()
    for (_, kind), count in TRIED.items():
        kinds[kind] += count
    print(f"\nfuzz: {total} draws over {len(ops)} ops: "
          + ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())))

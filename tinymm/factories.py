"""Tensor factories with ``torch``'s names and defaults: filled, ranged and random tensors.

Default dtypes as PyTorch: the default float dtype (float32 unless ``set_default_dtype``
changed it) for ``zeros``/``ones``/``rand``/``randn``/``linspace`` and for ``arange``/``full``
given a float, int64 for integer ``arange``/``full``/``randint``/
``randperm``. Every random draw comes from ``tinymm.random.default_generator`` (reseed with
``tinymm.manual_seed``) unless ``generator=`` names another.
"""

from __future__ import annotations

import numpy as np

from tinymm import dtypes as _dt
from tinymm.devices import as_device, defer_index_check
from tinymm.kernels.numba_cuda import device as _cuda
from tinymm.random import generator_of, rng_of
from tinymm.tensor import Tensor, from_data, shape_args


def _make(array: np.ndarray, dtype, requires_grad: bool, device) -> Tensor:
    if dtype is not None and array.dtype != np.dtype(dtype):
        array = array.astype(dtype)
    return from_data(array, device=device, requires_grad=requires_grad, copy=False)


def _default(dtype, fill) -> np.dtype:
    if dtype is not None:
        return np.dtype(dtype)
    if isinstance(fill, bool):
        return np.dtype(np.bool_)
    return _dt.DEFAULT_INT if isinstance(fill, int) else _dt.DEFAULT_FLOAT


# A cuda request is made on the device: filled and ranged values by kernels, random draws
# from the generator's xoroshiro128+ states (no host copy; the numbers differ from the CPU's,
# as in PyTorch: see tinymm.random).
def _is_cuda(device) -> bool:
    return device is not None and as_device(device, "factory").type == "cuda"


def _drawn(array, dtype, requires_grad: bool = False) -> Tensor:
    """A cuda Tensor of the device array ``array``, cast on the device to ``dtype``."""
    out = Tensor._make(array)
    if dtype is not None and out.dtype != np.dtype(dtype):
        out = out.to(np.dtype(dtype))
    return out.requires_grad_(requires_grad) if requires_grad else out


# ---------------------------------------------------------------- filled
def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    array = np.zeros(shape_args(size), dtype or _dt.DEFAULT_FLOAT)
    return _make(array, None, requires_grad, device)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    array = np.ones(shape_args(size), dtype or _dt.DEFAULT_FLOAT)
    return _make(array, None, requires_grad, device)


empty = zeros  # tinymm's "uninitialised" memory is zeros: reproducible


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    dtype = _default(dtype, fill_value)
    return _make(np.full(shape_args((size,)), fill_value, dtype), None, requires_grad, device)


def eye(n: int, m: int | None = None, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    return _make(np.eye(n, m, dtype=dtype or _dt.DEFAULT_FLOAT), None, requires_grad, device)


def _like(x: Tensor, fill, dtype, requires_grad) -> Tensor:
    dtype = x.dtype if dtype is None else dtype
    if x.is_cuda:  # filled on the device by a kernel (no transfer)
        out = Tensor._make(_cuda.full(tuple(x.shape), fill, dtype))
        return out.requires_grad_(True) if requires_grad else out
    return _make(np.full(x.shape, fill, dtype), None, requires_grad, x.device)


def zeros_like(x, dtype=None, requires_grad: bool = False) -> Tensor:
    return _like(x, 0, dtype, requires_grad)


def ones_like(x, dtype=None, requires_grad: bool = False) -> Tensor:
    return _like(x, 1, dtype, requires_grad)


def full_like(x, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    return _like(x, fill_value, dtype, requires_grad)


empty_like = zeros_like


# ---------------------------------------------------------------- ranges
def arange(start, end=None, step=1, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """[start, end) in steps of ``step`` (``arange(n)`` is 0..n-1); float if any argument
    is a float, else int64. An integer ``dtype`` truncates float arguments first, as torch."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    values = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    floating = any(isinstance(v, float) for v in values)
    dtype = np.dtype(dtype) if dtype is not None else (
        _dt.DEFAULT_FLOAT if floating else _dt.DEFAULT_INT)
    if floating and dtype.kind in "iu":  # torch truncates the arguments to the integer type
        values, floating = [int(v) for v in values], False  # (0, 5, 1.5) is 0, 1, 2, 3, 4
        if values[2] == 0:
            raise ValueError(f"arange: step {step} truncates to 0 for dtype {dtype}")
    array = np.arange(*values, dtype=np.float64 if floating else np.int64)
    return _make(array, dtype, requires_grad, device)


def linspace(start, end, steps: int, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from start to end inclusive, as PyTorch computes them:
    step = (end - start) / (steps - 1) in the output dtype, the first half as
    start + i * step and the second as end - (steps - 1 - i) * step, each with one rounding
    (PyTorch's CPU kernel uses a fused multiply-add; for float32 the float64 product and sum
    are exact, so rounding them once to float32 gives the same bits)."""
    if steps < 0:
        raise ValueError(f"linspace: steps must be non-negative, got {steps}")
    dtype = np.dtype(dtype or _dt.DEFAULT_FLOAT)
    work = dtype if dtype.kind == "f" else np.dtype(np.float64)
    lo, hi = work.type(start), work.type(end)
    if steps <= 1 and _is_cuda(device):
        return _drawn(_cuda.full((steps,), lo, work), dtype, requires_grad)
    if steps <= 1:
        return _make(np.array([lo] * steps, work), dtype, requires_grad, device)
    step = np.float64((hi - lo) / work.type(steps - 1))
    if _is_cuda(device):  # computed on the device (no transfer)
        values = _cuda.linspace(np.float64(lo), np.float64(hi), step, steps)
        return _drawn(values, dtype, requires_grad)
    i = np.arange(steps, dtype=np.float64)
    first = np.float64(lo) + step * i  # (steps,)
    second = np.float64(hi) - step * (steps - 1 - i)
    out = np.where(np.arange(steps) < steps // 2, first, second).astype(work)
    return _make(out, dtype, requires_grad, device)


# ---------------------------------------------------------------- random
def _draw_float(kind: str, shape, generator, dtype, requires_grad: bool) -> Tensor:
    dtype = np.dtype(dtype or _dt.DEFAULT_FLOAT)
    draw = dtype if dtype == np.float64 else np.dtype(np.float32)
    states = generator_of(generator).cuda_states()
    return _drawn(_cuda.random_draw(states, "fill", kind, shape, draw), dtype, requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform on [0, 1)."""
    if _is_cuda(device):
        return _draw_float("uniform", shape_args(size), generator, dtype, requires_grad)
    array = rng_of(generator).random(shape_args(size))
    return _make(array, dtype or _dt.DEFAULT_FLOAT, requires_grad, device)


def randn(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal."""
    if _is_cuda(device):
        return _draw_float("normal", shape_args(size), generator, dtype, requires_grad)
    array = rng_of(generator).standard_normal(shape_args(size))
    return _make(array, dtype or _dt.DEFAULT_FLOAT, requires_grad, device)


def randint(low, high=None, size=None, generator=None, dtype=None, device=None,
            requires_grad: bool = False) -> Tensor:
    """Integers uniform on [low, high) (``randint(high, size)`` starts at 0)."""
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    if size is None:
        raise TypeError("randint: missing the size argument, e.g. randint(0, 10, (3,))")
    if _is_cuda(device):
        states = generator_of(generator).cuda_states()
        array = _cuda.random_draw(states, "randint", int(low), int(high), shape_args((size,)))
        return _drawn(array, dtype or np.int64, requires_grad)
    array = rng_of(generator).integers(low, high, shape_args((size,)))
    return _make(array, dtype or np.int64, requires_grad, device)


def randperm(n: int, generator=None, dtype=None, device=None) -> Tensor:
    if _is_cuda(device):
        states = generator_of(generator).cuda_states()
        return _drawn(_cuda.random_draw(states, "randperm", int(n)), dtype or np.int64)
    return _make(rng_of(generator).permutation(n), dtype or np.int64, False, device)


def normal(mean=0.0, std=1.0, size=None, generator=None, dtype=None, device=None) -> Tensor:
    """Normal samples: tensor means/stds broadcast (one sample each), or scalars with
    ``size``; on the device of a tensor mean/std (or ``device``)."""
    m = mean.array if isinstance(mean, Tensor) else mean
    s = std.array if isinstance(std, Tensor) else std
    shape = shape_args((size,)) if size is not None else np.broadcast_shapes(
        tuple(np.shape(m) if not isinstance(mean, Tensor) else mean.shape),
        tuple(np.shape(s) if not isinstance(std, Tensor) else std.shape))
    like = mean if isinstance(mean, Tensor) else std if isinstance(std, Tensor) else None
    dtype = dtype or (like.dtype if like is not None else _dt.DEFAULT_FLOAT)
    if _is_cuda(device if like is None else like.device):  # no gradient, as on the host
        z = randn(shape, generator=generator, dtype=dtype, device="cuda")
        return (z * (std.detach() if isinstance(std, Tensor) else std)
                + (mean.detach() if isinstance(mean, Tensor) else mean))
    return _make(rng_of(generator).normal(m, s, shape), dtype, False, device)


def rand_like(x: Tensor, generator=None, dtype=None) -> Tensor:
    return rand(x.shape, generator=generator, dtype=dtype or x.dtype, device=x.device)


def randn_like(x: Tensor, generator=None, dtype=None) -> Tensor:
    return randn(x.shape, generator=generator, dtype=dtype or x.dtype, device=x.device)


def randint_like(x: Tensor, low, high=None, generator=None, dtype=None) -> Tensor:
    if high is None:
        low, high = 0, low
    return randint(low, high, x.shape, generator=generator, dtype=dtype or x.dtype,
                   device=x.device)


def bernoulli(p, generator=None) -> Tensor:
    """1 with probability p (elementwise), else 0, in p's dtype (on p's device)."""
    if isinstance(p, Tensor) and p.is_cuda:
        states = generator_of(generator).cuda_states()
        return _drawn(_cuda.random_draw(states, "bernoulli", p.detach().array), None)
    probs = p.array if isinstance(p, Tensor) else np.asarray(p, np.float32)
    draw = rng_of(generator).random(probs.shape) < probs
    return _make(draw, probs.dtype, False, None)


def _multinomial_cuda(probs: Tensor, num_samples: int, replacement: bool, generator) -> Tensor:
    """multinomial on the device; the weights are checked on the device and a bad one is
    reported at the next copy to the host (tinymm.devices.defer_index_check)."""
    rows = (probs.reshape(1, -1) if probs.ndim == 1 else probs).detach().to(np.float64)
    bad = rows.isfinite().logical_not().any() | (rows < 0).any() | (rows.sum(1) <= 0).any()
    flags = bad.to(np.int64).reshape(1)
    if not replacement:
        few = (rows > 0).to(np.int64).sum(1).min() < num_samples
        flags = flags + few.to(np.int64).reshape(1) * 2
    defer_index_check(flags.array, None, lambda b: None if b is None or b[1] == 0 else (
        _MULTINOMIAL_VALUES if b[1] & 1 else _few_nonzero(num_samples)))
    states = generator_of(generator).cuda_states()
    out = _drawn(_cuda.random_draw(states, "multinomial", _cuda.copy(rows.array),
                                   int(num_samples), bool(replacement)), None)
    return out if probs.ndim > 1 else out.reshape(-1)


_MULTINOMIAL_VALUES = ("multinomial: probabilities must be finite, non-negative and have a "
                       "positive sum in every row")


def _few_nonzero(num_samples: int) -> str:
    return (f"multinomial: cannot draw {num_samples} samples without replacement "
            "from a row with fewer nonzero weights")


def multinomial(probs, num_samples: int, replacement: bool = False, generator=None) -> Tensor:
    """Indices drawn from each row of ``probs`` (unnormalised weights), (R, num_samples)
    int64; a 1-D ``probs`` gives (num_samples,)."""
    if isinstance(probs, Tensor) and probs.is_cuda:
        return _multinomial_cuda(probs, num_samples, replacement, generator)
    weights = probs.array if isinstance(probs, Tensor) else np.asarray(probs)
    rows = np.atleast_2d(weights).astype(np.float64)  # (R, C)
    if (rows < 0).any() or not np.isfinite(rows).all() or (rows.sum(1) <= 0).any():
        raise ValueError(_MULTINOMIAL_VALUES)
    if not replacement and num_samples > (rows > 0).sum(1).min():
        raise ValueError(_few_nonzero(num_samples))
    rng = rng_of(generator)
    out = np.stack([rng.choice(rows.shape[1], num_samples, replace=replacement, p=r / r.sum())
                    for r in rows])
    device = probs.device if isinstance(probs, Tensor) else None
    return _make(out if weights.ndim > 1 else out[0], np.int64, False, device)

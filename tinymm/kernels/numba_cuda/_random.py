"""Random draws on the device: xoroshiro128+ states kept on the GPU, one per thread.

A generator's device side is one array of ``N_STATES`` xoroshiro128+ states
(``numba.cuda.random.xoroshiro128p_dtype``). ``seed_states`` writes them on the device (no
transfer): state k is two splitmix64 outputs of ``seed`` and k, the seeding the algorithm's
authors recommend, so every state starts at its own point of the 2^128 - 1 period. Every
draw launches exactly ``N_STATES`` threads; thread k owns state k and walks the elements
k, k + N_STATES, ... (a grid-stride loop), advancing its state in place. So the states move
on with every call, the same seed gives the same numbers, and no two threads share a state.

The numbers are not the CPU's (NumPy's PCG64 there), as PyTorch's cuda streams differ from its
CPU streams. The generator's steps are written here as inline device functions (numba-cuda's
own ``numba.cuda.random`` ones are generic ``jit`` functions that need a GPU to compile, so
they give no PTX on a machine without one); the state layout is numba-cuda's
``xoroshiro128p_dtype``. Uniform draws: float32 in [0, 1) from the top 24 bits, float64 from
the top 53; normals by Marsaglia's polar method (log and sqrt only, in the draw's
precision). Integers on [low, low + span) take the 64-bit output modulo span (a bias below
span / 2^64).

randperm draws one random key per element (62 random bits, ``randint``) and sorts them with
the bitonic network of ``_sort`` (parallel; ties, with probability about n^2 / 2^63, go by
index): the sorting permutation is uniform over the n! orders. multinomial is one thread per
row: each sample walks the row's cumulative weights to the first one above u * total; without
replacement the drawn weight is set to zero in the caller's float64 scratch copy before the
next sample.
"""

from __future__ import annotations

import math

import numpy as np
from numba import boolean, cuda, float32, float64, from_dtype, int64, uint64, void
from numba.cuda.random import xoroshiro128p_dtype

from tinymm.kernels.numba_cuda._device import SIMULATOR, THREADS_PER_BLOCK, empty, flat
from tinymm.kernels.numba_cuda._sort import sort_rows

N_STATES = 64 if SIMULATOR else 32768  # a multiple of THREADS_PER_BLOCK
GOLDEN = 0x9E3779B97F4A7C15


@cuda.jit(device=True, inline="always")
def _splitmix64(z):
    z = (z ^ (z >> uint64(30))) * uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> uint64(27))) * uint64(0x94D049BB133111EB)
    return z ^ (z >> uint64(31))


@cuda.jit(device=True, inline="always")
def _rotl(x, k):
    return (x << uint64(k)) | (x >> uint64(64 - k))


@cuda.jit(device=True, inline="always")
def xoroshiro128p_next(states, k):
    """The next 64 bits of state k (xoroshiro128+), advancing it in place."""
    s0 = states[k]["s0"]
    s1 = states[k]["s1"]
    result = s0 + s1
    s1 ^= s0
    states[k]["s0"] = _rotl(s0, 55) ^ s1 ^ (s1 << uint64(14))
    states[k]["s1"] = _rotl(s1, 36)
    return result


@cuda.jit(device=True, inline="always")
def xoroshiro128p_uniform_float32(states, k):
    """[0, 1) from the top 24 bits."""
    return float32(xoroshiro128p_next(states, k) >> uint64(40)) * float32(2.0 ** -24)


@cuda.jit(device=True, inline="always")
def xoroshiro128p_uniform_float64(states, k):
    """[0, 1) from the top 53 bits."""
    return float64(xoroshiro128p_next(states, k) >> uint64(11)) * float64(2.0 ** -53)


def _make_normal(uniform, kind):
    @cuda.jit(device=True, inline="always")
    def normal(states, k):
        # Marsaglia's polar method: (u, v) uniform in the unit disc, z = u sqrt(-2 ln s / s)
        one = kind(1.0)
        while True:
            u = kind(2.0) * uniform(states, k) - one
            v = kind(2.0) * uniform(states, k) - one
            s = u * u + v * v
            if s < one and s > kind(0.0):
                return u * math.sqrt(kind(-2.0) * math.log(s) / s)
    return normal


xoroshiro128p_normal_float32 = _make_normal(xoroshiro128p_uniform_float32, float32)
xoroshiro128p_normal_float64 = _make_normal(xoroshiro128p_uniform_float64, float64)


def _seed_states(states, seed):
    k = cuda.grid(1)
    if k < states.size:
        base = seed + uint64(2 * k + 1) * uint64(GOLDEN)
        s0 = _splitmix64(base)
        s1 = _splitmix64(base + uint64(GOLDEN))
        if s0 == 0 and s1 == 0:  # the one state xoroshiro cannot leave
            s1 = uint64(1)
        states[k]["s0"] = s0
        states[k]["s1"] = s1


def _make_fill(draw):
    def fill(states, out):
        # out flat; out[i] = draw(state i % N_STATES)
        k = cuda.grid(1)
        if k < states.size:
            for i in range(k, out.size, states.size):
                out[i] = draw(states, k)
    return fill


_uniform32 = _make_fill(xoroshiro128p_uniform_float32)
_uniform64 = _make_fill(xoroshiro128p_uniform_float64)
_normal32 = _make_fill(xoroshiro128p_normal_float32)
_normal64 = _make_fill(xoroshiro128p_normal_float64)


def _randint(states, out, low, span):
    # out flat int64; low + (64 random bits mod span)
    k = cuda.grid(1)
    if k < states.size:
        for i in range(k, out.size, states.size):
            out[i] = low + int64(xoroshiro128p_next(states, k) % span)


def _bernoulli_mask(uniform, zero):
    def bernoulli(states, p, out):
        # out[i] = 1 with probability p[i], else 0 (p's dtype)
        k = cuda.grid(1)
        if k < states.size:
            for i in range(k, out.size, states.size):
                out[i] = zero + 1 if uniform(states, k) < p[i] else zero
    return bernoulli


def _dropout_mask(uniform, zero):
    def dropout(states, out, p, scale):
        # out[i] = scale with probability 1 - p (kept), else 0
        k = cuda.grid(1)
        if k < states.size:
            for i in range(k, out.size, states.size):
                out[i] = scale if uniform(states, k) >= p else zero
    return dropout


_bernoulli32 = _bernoulli_mask(xoroshiro128p_uniform_float32, float32(0))
_bernoulli64 = _bernoulli_mask(xoroshiro128p_uniform_float64, float64(0))
_dropout32 = _dropout_mask(xoroshiro128p_uniform_float32, float32(0))
_dropout64 = _dropout_mask(xoroshiro128p_uniform_float64, float64(0))


def _multinomial(states, weights, out, replacement):
    # weights (R, C) float64 scratch, out (R, S) int64; one thread per row
    k = cuda.grid(1)
    if k < states.size:
        for r in range(k, weights.shape[0], states.size):
            for s in range(out.shape[1]):
                total = 0.0
                for c in range(weights.shape[1]):
                    total += weights[r, c]
                target = xoroshiro128p_uniform_float64(states, k) * total
                acc = 0.0
                pick = -1
                for c in range(weights.shape[1]):
                    if weights[r, c] > 0.0:
                        pick = c  # the last positive weight catches rounding at the end
                        acc += weights[r, c]
                        if acc > target:
                            break
                out[r, s] = pick
                if not replacement:
                    weights[r, pick] = 0.0


seed_kernel = cuda.jit(_seed_states)
FILL = {("uniform", "float32"): cuda.jit(_uniform32), ("uniform", "float64"): cuda.jit(_uniform64),
        ("normal", "float32"): cuda.jit(_normal32), ("normal", "float64"): cuda.jit(_normal64)}
BERNOULLI = {"float32": cuda.jit(_bernoulli32), "float64": cuda.jit(_bernoulli64)}
DROPOUT = {"float32": cuda.jit(_dropout32), "float64": cuda.jit(_dropout64)}
randint_kernel = cuda.jit(_randint)
multinomial_kernel = cuda.jit(_multinomial)

_ST = from_dtype(xoroshiro128p_dtype)[::1]  # the states' numba type
PTX_TARGETS = [
    (_seed_states, (void(_ST, uint64),)),
    (_uniform32, (void(_ST, float32[::1]),)),
    (_uniform64, (void(_ST, float64[::1]),)),
    (_normal32, (void(_ST, float32[::1]),)),
    (_normal64, (void(_ST, float64[::1]),)),
    (_randint, (void(_ST, int64[::1], int64, uint64),)),
    (_bernoulli32, (void(_ST, float32[::1], float32[::1]),)),
    (_bernoulli64, (void(_ST, float64[::1], float64[::1]),)),
    (_dropout32, (void(_ST, float32[::1], float32, float32),)),
    (_dropout64, (void(_ST, float64[::1], float64, float64),)),
    (_multinomial, (void(_ST, float64[:, ::1], int64[:, ::1], boolean),)),
]


def _launch(kernel, states, *args) -> None:
    # the simulator runs the kernel on NumPy scalars: the 64-bit wrap-around is intended
    with np.errstate(over="ignore"):
        kernel[N_STATES // THREADS_PER_BLOCK, THREADS_PER_BLOCK](states, *args)


def seed_states(seed: int):
    """A new device array of N_STATES xoroshiro128+ states for ``seed`` (no transfer)."""
    states = cuda.device_array(N_STATES, dtype=xoroshiro128p_dtype)
    _launch(seed_kernel, states, np.uint64(int(seed) % 2**64))
    return states


def _float_kind(dtype) -> str:
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"cuda random: expected a float32 or float64 dtype, received {dtype}")
    return dtype.name


def fill(states, kind: str, shape, dtype):
    """A new device array of ``shape``: uniform [0, 1) or standard normal draws."""
    out = empty(shape, dtype)
    if out.size:
        _launch(FILL[kind, _float_kind(dtype)], states, flat(out))
    return out


def randint(states, low: int, high: int, shape):
    """A new int64 device array of integers uniform on [low, high)."""
    if high <= low:
        raise ValueError(f"randint: expected low < high, received low={low}, high={high}")
    out = empty(shape, np.int64)
    if out.size:
        _launch(randint_kernel, states, flat(out), np.int64(low), np.uint64(high - low))
    return out


def bernoulli(states, p):
    """A new device array like ``p`` (a float device array): 1 with probability p, else 0."""
    out = empty(tuple(p.shape), p.dtype)
    if out.size:
        _launch(BERNOULLI[_float_kind(p.dtype)], states, flat(p), flat(out))
    return out


def dropout_mask(states, shape, p: float, dtype):
    """A new device array of ``shape``: 1 / (1 - p) with probability 1 - p, else 0 (all 0
    for p = 1)."""
    out = empty(shape, dtype)
    kind = _float_kind(dtype)
    if out.size:
        scale = out.dtype.type(1.0 / (1.0 - p) if p < 1.0 else 0.0)
        _launch(DROPOUT[kind], states, flat(out), out.dtype.type(p), scale)
    return out


def randperm(states, n: int):
    """A new int64 device array: a random permutation of 0 .. n-1."""
    keys = randint(states, 0, 2**62, (1, int(n)))  # (1, n) random keys
    return sort_rows(keys)[1].reshape(int(n))


def multinomial(states, weights, num_samples: int, replacement: bool):
    """A new (R, num_samples) int64 device array: indices drawn from each row of the float64
    device array ``weights`` (R, C), which the draws without replacement overwrite."""
    out = empty((weights.shape[0], int(num_samples)), np.int64)
    if out.size:
        _launch(multinomial_kernel, states, weights, out, bool(replacement))
    return out

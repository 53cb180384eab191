"""CUDA scans along one dim, extremes with their index and stream compaction (derivation:
kernels/reference/scan.py).

Every op views x as ``(outer, n, inner)``: ``dim`` of size n, ``outer`` the product of the
axes before it and ``inner`` of those after. A line is one (o, j): elements
``base + r * inner`` for r = 0 .. n-1, ``base = o * n * inner + j``.

Scans (cumsum, cumprod, cummax/cummin): one block per line, of w threads: the power of two
that covers the line, at most ``SCAN_THREADS`` (a short line leaves no thread idle). The line
is cut into tiles of w elements; each tile is scanned in shared memory by Hillis-Steele
doubling (log2(w) steps: at step s every thread t >= s combines the value s places back into
its own, a barrier between the reads and the writes), then combined with the carry: the scan
of every earlier tile. So a line of any length is scanned in ceil(n / w) tiles. Each element
travels with an index (-1 for the padding past the end of the line); the combine is
associative (reference/scan.py), the sum and product ignore the index, and the
cummax/cummin combine keeps the later index on ties. Float sums and products are added in
tree order, so they may differ from the reference's left-to-right order by rounding. Shared
memory and barriers only (no warp shuffles), so the simulator runs the same code.
``reverse`` scans each line from its end (cumsum's backward).

That layout reads a line's elements inner apart, so for inner > 1 a warp's loads fall in as
many memory segments as it has threads. For inner >= COLUMN_MIN the scans use columns
instead: thread g owns column col = g % (outer * inner) (one (o, j)) and chunk c = g //
(outer * inner) of its line (chunk_len consecutive r), and walks it sequentially; the 32
threads of a warp hold consecutive columns, so at every step they read (and write) 32
consecutive elements: coalesced. The chunks (as many as keep about COLUMN_THREADS threads
busy, at most MAX_CHUNKS, each at least MIN_CHUNK long) make a long line parallel: pass 1
scans every chunk on its own and records its total; pass 2 gives each chunk c > 0 the carry
(the combine of totals 0 .. c-1, read coalesced across columns) and combines it into every
element of the chunk. In the column layout sums and products are taken left to right
within a chunk.

cumprod backward: one thread per element i of a line computes prod_{k < i} x_k and the sum
over j >= i of dout_j times the running product of x_{i+1} .. x_j (O(n) work per element),
which divides by nothing, so a zero in the line is exact.

max_dim (max/min with dim, argmax/argmin): one thread per line walks r = 0 .. n-1 keeping the
first extreme (a NaN wins and stays, as NumPy's argmax); consecutive threads have consecutive
j, so for inner > 1 the reads are coalesced. Contiguous long lines (inner = 1, n >=
SCAN_THREADS: a row's argmax, or argmax over every element) take a block per line instead:
each thread keeps the first extreme of a strided share, and a shared-memory tree picks among
the candidates by the same rule (the lower index on ties; the first NaN). Its backward
writes dvalues at the index.

masked_select and nonzero: an inclusive cumsum of the flat mask gives each kept element its
place (pos_i - 1); one thread per element writes its value (masked_select; the backward reads
it back) or its coordinates, unravelled over the mask's shape (nonzero) there. The caller
passes the count, which sizes the output.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, float32, float64, int64

from tinymm.kernels.numba_cuda import _strided
from tinymm.kernels.numba_cuda._device import (
    SIMULATOR,
    empty,
    flat,
    grid_1d,
    require_device,
    zeros,
)
from tinymm.kernels.numba_cuda.gather import gather_backward

SUM, PROD, MAX, MIN = range(4)
MAXDIM = _strided.MAXDIM
SCAN_THREADS = 8 if SIMULATOR else 256  # a power of two (the doubling steps)
COLUMN_MIN = 4 if SIMULATOR else 32  # inner sizes from a warp's width up scan by columns
COLUMN_THREADS = 64 if SIMULATOR else 32768  # threads the column chunks aim to keep busy
MIN_CHUNK, MAX_CHUNKS = (2, 4) if SIMULATOR else (16, 64)


@cuda.jit(device=True, inline="always")
def _combine(v, i, w, j, op):
    """The scan of (v, i) then (w, j); an index < 0 marks an empty operand."""
    if j < 0:
        return v, i
    if i < 0:
        return w, j
    if op == SUM:
        return v + w, j
    if op == PROD:
        return v * w, j
    if w != w:  # NaN: the later NaN takes over
        return w, j
    if v != v:
        return v, i
    if (op == MAX and w >= v) or (op == MIN and w <= v):
        return w, j  # ties: the later index
    return v, i


def _make_scan(nbtype):
    def scan_lines(x, out, idx, n, inner, op, reverse):
        # x, out flat (outer * n * inner); idx like out for MAX/MIN (else unused)
        vals = cuda.shared.array(SCAN_THREADS, nbtype)
        ids = cuda.shared.array(SCAN_THREADS, int64)
        t = cuda.threadIdx.x
        width = cuda.blockDim.x  # a power of two, at most SCAN_THREADS
        line = cuda.blockIdx.x
        o = line // inner
        base = o * n * inner + (line - o * inner)
        carry_v = nbtype(0)
        carry_i = -1
        for start in range(0, n, width):
            r = start + t
            at = base + ((n - 1 - r) if reverse else r) * inner
            v = nbtype(x[at]) if r < n else nbtype(0)
            i = r if r < n else -1
            vals[t] = v
            ids[t] = i
            cuda.syncthreads()
            step = 1
            while step < width:
                pv = v
                pi = i
                if t >= step:
                    pv = vals[t - step]
                    pi = ids[t - step]
                cuda.syncthreads()
                if t >= step:
                    v, i = _combine(pv, pi, v, i, op)
                    vals[t] = v
                    ids[t] = i
                cuda.syncthreads()
                step *= 2
            v, i = _combine(carry_v, carry_i, v, i, op)
            if r < n:
                out[at] = v
                if op >= MAX:
                    idx[at] = i
            carry_v, carry_i = _combine(carry_v, carry_i, vals[width - 1], ids[width - 1],
                                        op)
            cuda.syncthreads()  # every thread has read the tile before the next overwrites it

    return scan_lines


def _make_column_scan(nbtype):
    def column_chunks(x, out, idx, tot_v, tot_i, n, inner, chunk_len, op, reverse):
        # pass 1: thread g scans chunk g // cols of column g % cols; its total -> tot[c, col]
        g = cuda.grid(1)
        cols = tot_v.shape[1]
        if g < tot_v.size:
            c = g // cols
            col = g - c * cols
            o = col // inner
            base = o * n * inner + (col - o * inner)
            v = nbtype(0)
            i = -1
            for r in range(c * chunk_len, min(n, (c + 1) * chunk_len)):
                at = base + ((n - 1 - r) if reverse else r) * inner
                v, i = _combine(v, i, nbtype(x[at]), r, op)
                out[at] = v
                if op >= MAX:
                    idx[at] = i
            tot_v[c, col] = v
            tot_i[c, col] = i

    def column_carry(out, idx, tot_v, tot_i, n, inner, chunk_len, op, reverse):
        # pass 2: chunk c > 0 combines the totals of chunks 0 .. c-1 into its elements
        g = cuda.grid(1)
        cols = tot_v.shape[1]
        if cols <= g < tot_v.size:
            c = g // cols
            col = g - c * cols
            o = col // inner
            base = o * n * inner + (col - o * inner)
            carry_v = tot_v[0, col]
            carry_i = tot_i[0, col]
            for k in range(1, c):
                carry_v, carry_i = _combine(carry_v, carry_i, tot_v[k, col], tot_i[k, col], op)
            for r in range(c * chunk_len, min(n, (c + 1) * chunk_len)):
                at = base + ((n - 1 - r) if reverse else r) * inner
                w, j = _combine(carry_v, carry_i, out[at], idx[at] if op >= MAX else r, op)
                out[at] = w
                if op >= MAX:
                    idx[at] = j

    return column_chunks, column_carry


def _cumprod_grad(x, dout, dx, n, inner, one):
    e = cuda.grid(1)
    if e < dx.size:
        o = e // (n * inner)
        rest = e - o * n * inner
        i = rest // inner
        base = o * n * inner + (rest - i * inner)
        before = one
        for k in range(i):
            before *= x[base + k * inner]
        run = one
        total = dout[base + i * inner]
        for k in range(i + 1, n):
            run *= x[base + k * inner]
            total += dout[base + k * inner] * run
        dx[e] = before * total


def _arg_extreme(x, values, idx, n, inner, largest):
    # one thread per line (o, j): the first maximum (minimum); a NaN wins and stays
    i = cuda.grid(1)
    if i < values.size:
        o = i // inner
        base = o * n * inner + (i - o * inner)
        best = x[base]
        where = 0
        for r in range(1, n):
            v = x[base + r * inner]
            if best == best and (v != v or (v > best if largest else v < best)):
                best = v
                where = r
        values[i] = best
        idx[i] = where


@cuda.jit(device=True, inline="always")
def _takes_over(v, r, best, where, largest):
    """True when candidate (v, r) replaces (best, where) as the first extreme (where < 0:
    no candidate yet; a NaN wins; ties and NaNs go to the lower index)."""
    if where < 0:
        return r >= 0
    if r < 0:
        return False
    if best != best or v != v:
        return v != v and (best == best or r < where)
    if v == best:
        return r < where
    return v > best if largest else v < best


def _make_line_extreme(nbtype):
    def line_extreme(x, values, idx, n, largest):
        # x (lines * n,) flat; values, idx (lines,): one block per line
        vals = cuda.shared.array(SCAN_THREADS, nbtype)
        ids = cuda.shared.array(SCAN_THREADS, int64)
        t = cuda.threadIdx.x
        line = cuda.blockIdx.x
        best = x[line * n]
        where = -1
        for r in range(t, n, SCAN_THREADS):
            v = x[line * n + r]
            if _takes_over(v, r, best, where, largest):
                best, where = v, r
        vals[t] = best
        ids[t] = where
        cuda.syncthreads()
        half = SCAN_THREADS // 2
        while half > 0:
            if t < half and _takes_over(vals[t + half], ids[t + half], vals[t], ids[t],
                                        largest):
                vals[t] = vals[t + half]
                ids[t] = ids[t + half]
            cuda.syncthreads()
            half //= 2
        if t == 0:
            values[line] = vals[0]
            idx[line] = ids[0]

    return line_extreme


def _put_line(dvalues, idx, dx, n, inner):
    # dx (outer * n * inner) zeroed; dvalues, idx (outer * inner)
    i = cuda.grid(1)
    if i < dvalues.size:
        o = i // inner
        r = idx[i]
        if 0 <= r < n:
            dx[(o * n + r) * inner + (i - o * inner)] = dvalues[i]


def _compact(x, mask, pos, out):
    i = cuda.grid(1)
    if i < x.size and mask[i]:
        j = pos[i] - 1
        if 0 <= j < out.size:
            out[j] = x[i]


def _coordinates(mask, pos, out, shape, ndim):
    # out (count, ndim): element i's coordinates over shape (padded to MAXDIM) at row pos_i - 1
    i = cuda.grid(1)
    if i < mask.size and mask[i]:
        j = pos[i] - 1
        if 0 <= j < out.shape[0]:
            q = i
            for k in range(MAXDIM - 1, MAXDIM - 1 - ndim, -1):
                m = shape[k]
                r = q // m
                out[j, k - (MAXDIM - ndim)] = q - r * m
                q = r


def _expand(dout, mask, pos, dx):
    i = cuda.grid(1)
    if i < dx.size:
        j = pos[i] - 1
        dx[i] = dout[j] if mask[i] and 0 <= j < dout.size else 0


_FL = ("float32", "float64")
_VALUES = ("float32", "float64", "int64")
PTX_TARGETS = [
    (_cumprod_grad, tuple(f"void({t}[::1], {t}[::1], {t}[::1], int64, int64, {t})" for t in _FL)),
    (_arg_extreme, tuple(f"void({t}[::1], {t}[::1], int64[::1], int64, int64, boolean)"
                         for t in _VALUES)),
    (_put_line, tuple(f"void({t}[::1], int64[::1], {t}[::1], int64, int64)" for t in _FL)),
    (_compact, tuple(f"void({t}[::1], boolean[::1], int64[::1], {t}[::1])" for t in _VALUES)),
    (_coordinates, (f"void(boolean[::1], int64[::1], int64[:, ::1], {_strided.TUPLE_SIG}, "
                     "int64)",)),
    (_expand, tuple(f"void({t}[::1], boolean[::1], int64[::1], {t}[::1])" for t in _FL)),
]
_SCANS, _COLUMNS, _LINE_EXTREME = {}, {}, {}
for _nbt in (float32, float64, int64):
    _fn = _make_scan(_nbt)
    _fn.__name__ = f"scan_lines_{_nbt.name}"
    _inputs = ("boolean", _nbt.name) if _nbt is int64 else (_nbt.name,)
    PTX_TARGETS.append((_fn, tuple(f"void({t}[::1], {_nbt.name}[::1], int64[::1], int64, int64, "
                                   "int64, boolean)" for t in _inputs)))
    _SCANS[np.dtype(_nbt.name)] = cuda.jit(_fn)
    _chunks, _carry = _make_column_scan(_nbt)
    _chunks.__name__, _carry.__name__ = f"column_chunks_{_nbt.name}", f"column_carry_{_nbt.name}"
    _tot = f"{_nbt.name}[:, ::1], int64[:, ::1]"
    PTX_TARGETS.append((_chunks, tuple(f"void({t}[::1], {_nbt.name}[::1], int64[::1], {_tot}, "
                                       "int64, int64, int64, int64, boolean)" for t in _inputs)))
    PTX_TARGETS.append((_carry, (f"void({_nbt.name}[::1], int64[::1], {_tot}, int64, int64, "
                                 "int64, int64, boolean)",)))
    _COLUMNS[np.dtype(_nbt.name)] = (cuda.jit(_chunks), cuda.jit(_carry))
    _fn = _make_line_extreme(_nbt)
    _fn.__name__ = f"line_extreme_{_nbt.name}"
    PTX_TARGETS.append((_fn, (f"void({_nbt.name}[::1], {_nbt.name}[::1], int64[::1], int64, "
                              "boolean)",)))
    _LINE_EXTREME[np.dtype(_nbt.name)] = cuda.jit(_fn)
cumprod_grad_kernel = cuda.jit(_cumprod_grad)
arg_extreme_kernel = cuda.jit(_arg_extreme)
put_line_kernel = cuda.jit(_put_line)
compact_kernel = cuda.jit(_compact)
expand_kernel = cuda.jit(_expand)
coordinates_kernel = cuda.jit(_coordinates)


def _lines(shape, dim):
    """(outer, n, inner) of ``shape`` around ``dim``."""
    shape = tuple(int(s) for s in shape)
    return (int(np.prod(shape[:dim], dtype=np.int64)), shape[dim],
            int(np.prod(shape[dim + 1:], dtype=np.int64)))


def _scan(x, dim, op, out_dtype, reverse=False):
    """(out, idx) of the scan ``op`` of x along dim; idx is None for SUM and PROD."""
    outer, n, inner = _lines(x.shape, dim)
    out = empty(tuple(x.shape), out_dtype)
    idx = empty(tuple(x.shape), np.int64) if op >= MAX else empty((1,), np.int64)
    if out.size and inner >= COLUMN_MIN:
        _scan_columns(x, out, idx, (outer, n, inner), op, reverse)
    elif out.size:
        width = min(SCAN_THREADS, 1 << max(n - 1, 0).bit_length())  # short lines: fewer threads
        _SCANS[np.dtype(out_dtype)][outer * inner, width](
            flat(x), flat(out), flat(idx), n, inner, op, bool(reverse))
    return out, (idx if op >= MAX else None)


def column_layout(outer: int, n: int, inner: int) -> tuple[int, int]:
    """(chunks, chunk_len) of the column scans of an (outer, n, inner) view."""
    cols = outer * inner
    chunks = max(1, min(MAX_CHUNKS, -(-COLUMN_THREADS // cols), n // MIN_CHUNK))
    chunk_len = -(-n // chunks)
    return -(-n // chunk_len), chunk_len


def _scan_columns(x, out, idx, lines, op, reverse) -> None:
    """The scan by columns (see the module docstring): pass 1, then pass 2 when chunked."""
    outer, n, inner = lines
    chunks, chunk_len = column_layout(outer, n, inner)
    tot_v = empty((chunks, outer * inner), out.dtype)  # (chunks, cols) each chunk's total
    tot_i = empty((chunks, outer * inner), np.int64)
    first, carry = _COLUMNS[np.dtype(out.dtype)]
    blocks, threads = grid_1d(tot_v.size)
    first[blocks, threads](flat(x), flat(out), flat(idx), tot_v, tot_i, n, inner, chunk_len,
                           op, bool(reverse))
    if chunks > 1:
        carry[blocks, threads](flat(out), flat(idx), tot_v, tot_i, n, inner, chunk_len, op,
                               bool(reverse))


def cumsum_forward(x, dim):
    require_device("cumsum_forward", x=x)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.int64)
    return _scan(x, dim, SUM, dtype)[0], (dim,)


def cumsum_backward(dout, cache):
    require_device("cumsum_backward", dout=dout)
    (dim,) = cache
    return (_scan(dout, dim, SUM, dout.dtype, reverse=True)[0],)


def cumprod_forward(x, dim):
    require_device("cumprod_forward", x=x)
    return _scan(x, dim, PROD, x.dtype)[0], (x, dim)


def cumprod_lines(x, reverse=False):
    """The inclusive running products along the last axis of the C-contiguous (L, n) device
    array x (``reverse``: from each line's end: the suffix products), a new (L, n) array."""
    require_device("cumprod_lines", x=x)
    return _scan(x, x.ndim - 1, PROD, x.dtype, reverse=reverse)[0]


def cumprod_backward(dout, cache):
    require_device("cumprod_backward", dout=dout)
    x, dim = cache
    _, n, inner = _lines(x.shape, dim)
    dx = empty(tuple(x.shape), dout.dtype)
    if dx.size:
        blocks, threads = grid_1d(dx.size)
        cumprod_grad_kernel[blocks, threads](flat(x), flat(dout), flat(dx), n, inner,
                                             dout.dtype.type(1))
    return (dx,)


def cummax_forward(x, dim, largest=True):
    require_device("cummax_forward", x=x)
    values, index = _scan(x, dim, MAX if largest else MIN, x.dtype)
    return (values, index), (tuple(x.shape), index, dim)  # gather_backward's cache


def cummax_backward(dout, cache):
    dvalues = dout[0] if isinstance(dout, tuple) else dout
    return (gather_backward(dvalues, cache)[0],)


def max_dim_forward(x, dim, keepdim=False, largest=True):
    require_device("max_dim_forward", x=x)
    outer, n, inner = _lines(x.shape, dim)
    kept = tuple(x.shape[:dim]) + (1,) + tuple(x.shape[dim + 1:])
    values = empty(kept, x.dtype)
    idx = empty(kept, np.int64)
    if values.size and inner == 1 and n >= SCAN_THREADS:  # a block per contiguous line
        _LINE_EXTREME[np.dtype(x.dtype)][values.size, SCAN_THREADS](
            flat(x), flat(values), flat(idx), n, bool(largest))
    elif values.size:
        blocks, threads = grid_1d(values.size)
        arg_extreme_kernel[blocks, threads](flat(x), flat(values), flat(idx), n, inner,
                                            bool(largest))
    cache = (tuple(x.shape), idx, dim)
    if not keepdim:
        squeezed = kept[:dim] + kept[dim + 1:]
        values, idx = values.reshape(squeezed), idx.reshape(squeezed)
    return (values, idx), cache


def max_dim_backward(dout, cache):
    dvalues = dout[0] if isinstance(dout, tuple) else dout
    require_device("max_dim_backward", dvalues=dvalues)
    shape, idx, dim = cache
    _, n, inner = _lines(shape, dim)
    dx = zeros(shape, dvalues.dtype)
    if dvalues.size:
        blocks, threads = grid_1d(dvalues.size)
        put_line_kernel[blocks, threads](flat(dvalues), flat(idx), flat(dx), n, inner)
    return (dx,)


def masked_select_forward(x, mask, count):
    require_device("masked_select_forward", x=x, mask=mask)
    pos = _scan(flat(mask), 0, SUM, np.int64)[0]  # (x.size,) inclusive
    out = empty((int(count),), x.dtype)
    if x.size:
        blocks, threads = grid_1d(x.size)
        compact_kernel[blocks, threads](flat(x), flat(mask), pos, out)
    return out, (tuple(x.shape), mask, pos)


def masked_select_backward(dout, cache):
    require_device("masked_select_backward", dout=dout)
    shape, mask, pos = cache
    dx = empty(shape, dout.dtype)
    if dx.size:
        blocks, threads = grid_1d(dx.size)
        expand_kernel[blocks, threads](dout, flat(mask), pos, flat(dx))
    return dx, None


def nonzero_forward(mask, count):
    require_device("nonzero_forward", mask=mask)
    if mask.ndim > MAXDIM:
        raise ValueError(f"cuda nonzero_forward: at most {MAXDIM} dims, got {mask.ndim}")
    out = empty((int(count), mask.ndim), np.int64)  # (count, ndim)
    if mask.size and out.size:
        pos = _scan(flat(mask), 0, SUM, np.int64)[0]
        shape = (1,) * (MAXDIM - mask.ndim) + tuple(int(n) for n in mask.shape)
        blocks, threads = grid_1d(mask.size)
        coordinates_kernel[blocks, threads](flat(mask), pos, out, shape, mask.ndim)
    return out, None


def nonzero_backward(dout, cache):
    return (None,)

"""Row gathers and row scatter-adds by an int64 device index: what the embedding lookup
(``embedding.py``) and getitem with a device row index (``shape.py``) share.

x and out are flat views of C-contiguous arrays of rows of ``row`` elements each; ``n`` rows
in x. One thread per element of the gathered side, so consecutive threads touch consecutive
elements of one row (coalesced). Options:

* ``wrap`` (an int flag): a negative index counts from the end, as NumPy's (getitem); without
  it a negative index is out of range (the embedding's rule).
* ``skip`` (scatter only): the row that receives nothing (the embedding's padding_idx, after
  wrapping); -1 for none.

An index still outside [0, n) gathers a zero row and adds nothing (the ops check indices on
the device and report a bad one at the next copy to the host). The scatter adds with
``cuda.atomic.add``, because repeated indices add into one row at the same time (a plain
``+=`` would lose updates); the order of those additions is not fixed, so float sums may
differ from the reference by rounding.
"""

from __future__ import annotations

from numba import cuda

from tinymm.kernels.numba_cuda._device import grid_1d


@cuda.jit(device=True, inline=True)
def _source_row(idx, t, n, row, wrap):
    """(v, offset): the row that element t of the gathered side belongs to (wrapped when
    ``wrap``; maybe outside [0, n)) and t's offset inside its row."""
    p = t // row
    v = idx[p]
    if wrap and v < 0:
        v = v + n
    return v, t - p * row


def _gather_rows(x, idx, out, n, row, wrap):
    # out (P * row,) = rows idx (P,) of x (n * row,)
    t = cuda.grid(1)
    if t < out.size:
        v, e = _source_row(idx, t, n, row, wrap)
        if 0 <= v < n:
            out[t] = x[v * row + e]
        else:
            out[t] = 0


def _scatter_add_rows(dout, idx, dx, n, row, wrap, skip):
    # dx (n * row,) += dout (P * row,) at rows idx (P,), repeats accumulating
    t = cuda.grid(1)
    if t < dout.size:
        v, e = _source_row(idx, t, n, row, wrap)
        if v != skip and 0 <= v < n:
            cuda.atomic.add(dx, v * row + e, dout[t])


PTX_TARGETS = [
    (_gather_rows, tuple(f"void({t}[::1], int64[::1], {t}[::1], int64, int64, int64)"
                         for t in ("float32", "float64", "int64", "boolean"))),
    (_scatter_add_rows, tuple(f"void({t}[::1], int64[::1], {t}[::1], int64, int64, int64, "
                              "int64)" for t in ("float32", "float64"))),
]
gather_rows_kernel = cuda.jit(_gather_rows)
scatter_add_rows_kernel = cuda.jit(_scatter_add_rows)


def gather_rows(x, idx, out, row: int, wrap: bool) -> None:
    """out (flat) = the rows ``idx`` (flat, int64) of x (flat, ``row`` elements a row)."""
    if out.size:
        blocks, threads = grid_1d(out.size)
        gather_rows_kernel[blocks, threads](x, idx, out, x.size // max(row, 1), row, int(wrap))


def scatter_add_rows(dout, idx, dx, row: int, wrap: bool, skip: int = -1) -> None:
    """dx (flat) += dout (flat) at the rows ``idx``; row ``skip`` gets nothing."""
    if dout.size:
        blocks, threads = grid_1d(dout.size)
        scatter_add_rows_kernel[blocks, threads](dout, idx, dx, dx.size // max(row, 1), row,
                                                 int(wrap), skip)

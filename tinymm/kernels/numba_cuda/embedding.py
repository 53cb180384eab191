"""CUDA embedding lookup (derivation: kernels/reference/embedding.py).

Dimension letters: V vocabulary, E embedding size, P the flattened index positions.

* Forward, a row gather: one thread per output element (p, e) copies weight[indices[p], e];
  consecutive threads copy consecutive e of one row (coalesced reads and writes).
* Backward, a scatter-add: one thread per dout element (p, e) adds dout[p, e] into
  dweight[indices[p], e] with ``cuda.atomic.add``, because two positions with the same index
  add into the same row at the same time and a plain ``+=`` would lose one of the updates
  (the GPU form of the reference's buffered-indexing trap). Positions whose index is
  ``padding_idx`` add nothing, so that row stays zero. The order of the atomic additions is
  not fixed, so float sums may differ from the reference by rounding.
Indices are int64 device arrays. The op checks them against [0, V) on the device and reports
a bad one at the next copy to the host (``ops/_checks.check_bounds``), so both kernels guard
them: an index outside [0, V) reads and writes nothing of the weight.
"""

from __future__ import annotations

from numba import cuda

from tinymm.kernels.numba_cuda._device import empty, grid_1d, require_device, zeros


def _gather_rows(indices, weight, out, E):
    # indices (P,), weight (V * E,), out (P * E,); an index outside [0, V) gives a zero row
    t = cuda.grid(1)
    if t < out.size:
        p = t // E
        e = t - p * E
        v = indices[p]
        if 0 <= v < weight.size // E:
            out[t] = weight[v * E + e]
        else:
            out[t] = 0


def _scatter_add_rows(indices, dout, dweight, E, padding_idx):
    # indices (P,), dout (P * E,), dweight (V * E,) zeroed; padding_idx < 0 means none; an
    # index outside [0, V) adds nothing
    t = cuda.grid(1)
    if t < dout.size:
        p = t // E
        v = indices[p]
        if v != padding_idx and 0 <= v < dweight.size // E:
            cuda.atomic.add(dweight, v * E + (t - p * E), dout[t])


_FL = ("float32", "float64")
PTX_TARGETS = [
    (_gather_rows, tuple(f"void(int64[::1], {t}[::1], {t}[::1], int64)" for t in _FL)),
    (_scatter_add_rows, tuple(f"void(int64[::1], {t}[::1], {t}[::1], int64, int64)"
                              for t in _FL)),
]
gather_rows_kernel = cuda.jit(_gather_rows)
scatter_add_rows_kernel = cuda.jit(_scatter_add_rows)


def embedding_forward(indices, weight, padding_idx=None):
    require_device("embedding_forward", indices=indices, weight=weight)
    if indices.dtype != "int64":
        raise TypeError(f"cuda embedding_forward: indices must be an int64 device array, "
                        f"received {indices.dtype} (cast with the cast_forward kernel)")
    V, E = weight.shape
    lead = tuple(indices.shape)
    flat_idx = indices.reshape(indices.size)  # (P,)
    out = empty(lead + (E,), weight.dtype)  # (..., E)
    if out.size:
        blocks, threads = grid_1d(out.size)
        gather_rows_kernel[blocks, threads](flat_idx, weight.reshape(weight.size),
                                            out.reshape(out.size), E)
    return out, (flat_idx, (V, E), padding_idx)


def embedding_backward(dout, cache):
    require_device("embedding_backward", dout=dout)
    flat_idx, (V, E), padding_idx = cache
    dweight = zeros((V, E), dout.dtype)  # (V, E)
    pad = -1 if padding_idx is None else int(padding_idx) % V  # PyTorch allows negative
    if dout.size:
        blocks, threads = grid_1d(dout.size)
        scatter_add_rows_kernel[blocks, threads](flat_idx, dout.reshape(dout.size),
                                                 dweight.reshape(dweight.size), E, pad)
    return None, dweight

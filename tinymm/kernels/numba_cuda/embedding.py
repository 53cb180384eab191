"""CUDA embedding lookup (derivation: kernels/reference/embedding.py).

Dimension letters: V vocabulary, E embedding size, P the flattened index positions.

* Forward, a row gather (``_rows.gather_rows``): one thread per output element (p, e)
  copies weight[indices[p], e]; consecutive threads copy consecutive e of one row
  (coalesced reads and writes).
* Backward, a scatter-add (``_rows.scatter_add_rows``): one thread per dout element (p, e)
  adds dout[p, e] into dweight[indices[p], e] with ``cuda.atomic.add``, because two
  positions with the same index add into the same row at the same time and a plain ``+=``
  would lose one of the updates (the GPU form of the reference's buffered-indexing trap).
  Positions whose index is ``padding_idx`` add nothing (``skip``), so that row stays zero.
  The order of the atomic additions is not fixed, so float sums may differ from the
  reference by rounding.
Indices are int64 device arrays. The op checks them against [0, V) on the device and reports
a bad one at the next copy to the host (``ops/_checks.check_bounds``), so both kernels guard
them: an index outside [0, V) reads and writes nothing of the weight.
"""

from __future__ import annotations

from tinymm.kernels.numba_cuda._device import empty, require_device, zeros
from tinymm.kernels.numba_cuda._rows import gather_rows, scatter_add_rows


def embedding_forward(indices, weight, padding_idx=None):
    require_device("embedding_forward", indices=indices, weight=weight)
    if indices.dtype != "int64":
        raise TypeError(f"cuda embedding_forward: indices must be an int64 device array, "
                        f"received {indices.dtype} (cast with the cast_forward kernel)")
    V, E = weight.shape
    lead = tuple(indices.shape)
    flat_idx = indices.reshape(indices.size)  # (P,)
    out = empty(lead + (E,), weight.dtype)  # (..., E)
    gather_rows(weight.reshape(weight.size), flat_idx, out.reshape(out.size), E, wrap=False)
    return out, (flat_idx, (V, E), padding_idx)


def embedding_backward(dout, cache):
    require_device("embedding_backward", dout=dout)
    flat_idx, (V, E), padding_idx = cache
    dweight = zeros((V, E), dout.dtype)  # (V, E)
    pad = -1 if padding_idx is None else int(padding_idx) % V  # PyTorch allows negative
    scatter_add_rows(dout.reshape(dout.size), flat_idx, dweight.reshape(dweight.size), E,
                     wrap=False, skip=pad)
    return None, dweight

"""The parallel layouts of the cuda kernels in the simulator (run by
tests/test_cuda_parallel.py in a subprocess with NUMBA_ENABLE_CUDASIM=1).

1. Every check of tests/cuda_layouts.py (the bitonic sort and top-k, prod's block per line,
   the column scans, max/min's block per line) against the reference.
2. The scans' access pattern, measured: every read of x inside the kernels is recorded with
   the reading thread, and for each warp (32 threads of a block) and step (a thread's k-th
   read) the number of 128-byte segments the warp's loads touch is counted: at most 2
   (coalesced) for the column layout, where the line layout it replaces touches one per
   thread.
Prints one line with the counts; any failure raises.
"""

from __future__ import annotations

import threading
from collections import defaultdict

import numpy as np
from numba.cuda.simulator.cudadrv import devicearray as _simulated

import tests.cuda_simulator_check  # noqa: F401  (patches the simulator first)
from tests.cuda_layouts import RNG, check_extremes, check_prod, check_scans, check_sort
from tinymm.kernels.numba_cuda import _device, scan


def _segments_per_warp_step(run, source) -> int:
    """The most 128-byte segments of ``source`` one warp's k-th reads touch, over warps and
    k, while ``run()`` launches kernels (the simulator runs one Python thread per CUDA
    thread, so each read is recorded with its thread)."""
    reads = defaultdict(list)  # (block, thread) -> flat indices read from source, in order
    base = source._ary.__array_interface__["data"][0]
    original = _simulated.FakeWithinKernelCUDAArray.__getitem__

    def recording(self, idx):
        if self._item._ary.__array_interface__["data"][0] == base and isinstance(idx, int):
            me = threading.current_thread()
            reads[(me.blockIdx.x, me.threadIdx.x)].append(idx)
        return original(self, idx)

    _simulated.FakeWithinKernelCUDAArray.__getitem__ = recording
    try:
        run()
    finally:
        _simulated.FakeWithinKernelCUDAArray.__getitem__ = original
    steps = defaultdict(set)  # (block, warp, k) -> segments touched
    for (block, thread), indices in reads.items():
        for k, i in enumerate(indices):
            steps[(block, thread // 32, k)].add(i * source.dtype.itemsize // 128)
    return max(len(v) for v in steps.values())


def check_access_pattern() -> tuple[int, int]:
    """(segments per warp step of the column layout, of the line layout) for a cumsum along
    dim 0 of a (16, 32) float32 array (inner = 32: one warp's columns)."""
    x = _device.to_device(RNG.standard_normal((16, 32)).astype(np.float32))
    columns = _segments_per_warp_step(lambda: scan.cumsum_forward(x, 0), x)
    kept = scan.COLUMN_MIN
    scan.COLUMN_MIN = 10**9  # the line layout, for the comparison
    try:
        lines = _segments_per_warp_step(lambda: scan.cumsum_forward(x, 0), x)
    finally:
        scan.COLUMN_MIN = kept
    assert columns <= 2 < lines, (columns, lines)
    return columns, lines


if __name__ == "__main__":
    sorts = check_sort()
    prods = check_prod()
    scans = check_scans() + check_extremes()
    columns, lines = check_access_pattern()
    print(f"{sorts} bitonic sorts match NumPy's stable order on the simulated device; "
          f"{prods} block-per-line products match the reference forward and backward; "
          f"{scans} column scans and line extremes match the reference; a warp's loads of a "
          f"dim-0 scan touch {columns} segment(s) per step by columns, {lines} by lines")

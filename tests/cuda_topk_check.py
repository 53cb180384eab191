"""The cuda topk's two paths in the simulator against the reference (a script; run by
tests/test_cuda_topk.py under NUMBA_ENABLE_CUDASIM=1): short rows on a thread each, and
rows of LONG_ROW or more on a block each (the shared-memory tournament), on rows full of
ties, NaN and infinities, both ends, k from 1 to past one block of threads."""

from __future__ import annotations

import numpy as np

import tests.cuda_simulator_check  # noqa: F401  (patches the simulator first)
import tinymm
from tinymm.kernels.numba_cuda import _device
from tinymm.kernels.numba_cuda import index as cuda_index


def check_paths() -> int:
    ref, gpu = tinymm.get_backend("reference"), tinymm.get_backend("cuda")
    rng = np.random.default_rng(1)
    checked = 0
    for long_row, m in ((False, 37), (True, cuda_index.LONG_ROW + 45)):
        x = rng.integers(-3, 4, (2, m)).astype(np.float32)  # few values: many ties
        for value, share in ((np.nan, 0.05), (-np.inf, 0.05), (np.inf, 0.02)):
            x[rng.random(x.shape) < share] = value
        for k in (1, 3, cuda_index.ROW_THREADS + 2):
            for largest in (True, False):
                (want_v, want_i), _ = ref.topk_forward(x, k, largest)
                (got_v, got_i), _ = gpu.topk_forward(_device.to_device(x), k, largest)
                np.testing.assert_array_equal(_device.to_host(got_i), want_i,
                                              err_msg=f"long={long_row} k={k} {largest}")
                np.testing.assert_array_equal(_device.to_host(got_v), want_v)
                checked += 1
    return checked


if __name__ == "__main__":
    print(f"{check_paths()} cuda topk calls (thread- and block-per-row) match the reference")

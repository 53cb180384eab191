"""Numba kernels under Numba's bounds checking: every array access checked, so an
out-of-bounds read or write raises IndexError instead of reading garbage or corrupting memory.

Runs in a subprocess with ``NUMBA_BOUNDSCHECK=1`` and its own ``NUMBA_CACHE_DIR`` (a temporary
directory), so the bounds-checked compilations never replace the cached fast kernels. The
subprocess first proves the flag is on (a deliberate out-of-bounds read must raise), then runs
the parity cases of a few kernels (small shapes, from tests/kernel_cases) forward and
backward against the reference, in float32. ``TINYMM_BOUNDSCHECK_ALL=1`` runs every kernel's
cases in both float dtypes (minutes: every kernel compiles anew).
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the kernels whose index arithmetic is most error-prone (gathers and scatters by index,
# pooling windows over padding, class-index targets); each compiles anew with checks on
KERNELS = ["embedding_forward", "max_pool2d_forward", "cross_entropy_forward"]

_SCRIPT = """
import sys
import numpy as np
from numba import njit

@njit
def _read_past_the_end(a):
    return a[a.shape[0]]

try:
    _read_past_the_end(np.zeros(3))
except IndexError:
    pass
else:
    sys.exit("NUMBA_BOUNDSCHECK is not in effect: an out-of-bounds read did not raise")

import tinymm
from tests.kernel_cases import all_cases
from tests.test_kernel_parity import FALLBACKS, _arrays, assert_close

wanted = set(sys.argv[1].split(",")) if sys.argv[1] != "all" else None
dtypes = (np.float32,) if wanted is not None else (np.float32, np.float64)
ref, fast = tinymm.get_backend("reference"), tinymm.get_backend("numba")
count = 0
for case in all_cases():
    if (wanted is not None and case.kernel not in wanted) or case.kernel in FALLBACKS["numba"]:
        continue
    for dtype in dtypes:
        args, kwargs = case.make(np.random.default_rng(7), np.dtype(dtype))
        ref_out, ref_cache = getattr(ref, case.kernel)(*args, **kwargs)
        out, cache = getattr(fast, case.kernel)(*[a.copy() if isinstance(a, np.ndarray) else a
                                                  for a in args], **kwargs)
        assert_close(out, ref_out, case.tol[dtype], case.id)
        rng = np.random.default_rng(11)
        douts = tuple(rng.standard_normal(a.shape).astype(a.dtype) if a.dtype.kind == "f"
                      else None for a in _arrays(ref_out))
        dout = douts if isinstance(ref_out, tuple) else douts[0]
        backward = case.kernel.replace("_forward", "_backward")
        assert_close(getattr(fast, backward)(dout, cache), getattr(ref, backward)(dout, ref_cache),
                     case.tol[dtype], backward)
        count += 1
print(f"boundscheck: {count} cases ok")
"""


def test_numba_kernels_under_bounds_checking(tmp_path):
    kernels = "all" if os.environ.get("TINYMM_BOUNDSCHECK_ALL") == "1" else ",".join(KERNELS)
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"),
               PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, kernels], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "boundscheck:" in proc.stdout and " 0 cases" not in proc.stdout
    print(proc.stdout.strip())

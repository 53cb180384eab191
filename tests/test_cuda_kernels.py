"""CUDA kernels without a GPU: the simulator against the reference, and a PTX compile.

* Simulator: a subprocess with NUMBA_ENABLE_CUDASIM=1 (it must be set before numba is
  imported) runs every cuda-backend kernel on tiny shapes and compares with the reference,
  forward and backward.
* PTX: every kernel in every kernels/numba_cuda module's ``PTX_TARGETS`` is compiled for a real
  architecture (sm_90) with numba-cuda's NVRTC path, so a kernel that only works in the
  simulator (Python semantics the CUDA target rejects) fails here.
Both skip when numba-cuda is not installed (pip install 'tinymm[cuda]').
"""

import importlib
import os
import pkgutil
import subprocess
import sys

import pytest

pytest.importorskip("numba_cuda", reason="numba-cuda not installed (pip install 'tinymm[cuda]')")

SIMULATOR_CHECK = r"""
import numpy as np
import tinymm
from tinymm.kernels import CONTRACT
cuda_backend = tinymm.get_backend("cuda")
ref = tinymm.get_backend("reference")
names = sorted(n for n in cuda_backend.kernels if n.endswith("_forward"))
assert names, "the cuda backend has no kernels"
rng = np.random.default_rng(0)
for name in names:
    for dtype in (np.float32, np.float64):
        x = (rng.standard_normal((3, 37)) * 3).astype(dtype)
        out, cache = cuda_backend.kernels[name](x.copy())
        ref_out, ref_cache = ref.kernels[name](x.copy())
        tol = 1e-6 if dtype == np.float32 else 1e-12  # normwise, as tests/test_kernel_parity.py
        assert np.abs(out - ref_out).max() <= tol * np.abs(ref_out).max(), name
        dout = rng.standard_normal(x.shape).astype(dtype)
        back = name.replace("_forward", "_backward")
        (dx,) = cuda_backend.kernels[back](dout, cache)
        (ref_dx,) = ref.kernels[back](dout, ref_cache)
        assert np.abs(dx - ref_dx).max() <= tol * np.abs(ref_dx).max(), back
missing = [n for n in CONTRACT if n not in cuda_backend.kernels]
try:
    getattr(cuda_backend, missing[0])
    raise SystemExit("a missing cuda kernel silently fell back")
except NotImplementedError:
    pass
print("checked", len(names))
"""


def test_cuda_kernels_in_simulator_match_reference():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    proc = subprocess.run([sys.executable, "-c", SIMULATOR_CHECK], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "checked" in proc.stdout


def _ptx_targets():
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return []
    import tinymm.kernels.numba_cuda as pkg

    targets = []
    for info in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        for fn, signatures in getattr(module, "PTX_TARGETS", []):
            for sig in signatures:
                targets.append(pytest.param(fn, sig, id=f"{info.name}.{fn.__name__}[{sig}]"))
    return targets


@pytest.mark.parametrize("fn,signature", _ptx_targets())
def test_kernel_compiles_to_ptx_for_sm90(fn, signature):
    from numba import cuda

    try:
        ptx, _ = cuda.compile_ptx(fn, signature, cc=(9, 0))
    except Exception as exc:  # NVRTC missing is an environment problem, not a kernel bug
        if "nvrtc" in str(exc).lower() or "libnvvm" in str(exc).lower():
            pytest.skip(f"no CUDA compiler library: {exc}")
        raise
    assert ".target sm_90" in ptx and ".entry" in ptx

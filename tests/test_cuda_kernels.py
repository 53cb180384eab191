"""CUDA kernels without a GPU: the simulator against the reference, and a PTX compile.

* Simulator: one subprocess with NUMBA_ENABLE_CUDASIM=1 (it must be set before numba is
  imported) runs tests/cuda_simulator_check.py: every cuda-backend kernel on the tiny parity
  cases of tests/kernel_cases (sizes that are not multiples of the blocks and tiles), forward
  and backward, against the reference; every GEMM variant; the no-hidden-copies rules.
* PTX: every kernel in every kernels/numba_cuda module's ``PTX_TARGETS`` is compiled for two
  real architectures (sm_80 and sm_90) with numba-cuda's NVRTC/libNVVM path, so a kernel that
  only works in the simulator (Python semantics the CUDA target rejects) fails here.
Both skip when numba-cuda is not installed (pip install 'tinymm[cuda]').
"""

import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba_cuda", reason="numba-cuda not installed (pip install 'tinymm[cuda]')")

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURES = [(8, 0), (9, 0)]


def test_cuda_kernels_in_simulator_match_reference():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "tests.cuda_simulator_check"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
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


def test_every_cuda_kernel_is_a_ptx_target():
    import tinymm.kernels.numba_cuda as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        listed = {fn for fn, _ in getattr(module, "PTX_TARGETS", [])}
        for name, value in vars(module).items():
            is_kernel = (type(value).__name__ == "CUDADispatcher"
                         and not value.targetoptions.get("device", False)  # not a device fn
                         and value.py_func.__module__ == module.__name__)  # defined here
            if is_kernel:
                assert value.py_func in listed, f"{info.name}.{name} is not in PTX_TARGETS"


@pytest.mark.parametrize("cc", ARCHITECTURES, ids=lambda cc: f"sm_{cc[0]}{cc[1]}")
@pytest.mark.parametrize("fn,signature", _ptx_targets())
def test_kernel_compiles_to_ptx(fn, signature, cc):
    from numba import cuda

    try:
        ptx, _ = cuda.compile_ptx(fn, signature, cc=cc)
    except Exception as exc:  # NVRTC missing is an environment problem, not a kernel bug
        if "nvrtc" in str(exc).lower() or "libnvvm" in str(exc).lower():
            pytest.skip(f"no CUDA compiler library: {exc}")
        raise
    assert f".target sm_{cc[0]}{cc[1]}" in ptx and ".entry" in ptx

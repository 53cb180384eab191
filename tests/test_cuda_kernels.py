"""CUDA kernels without a GPU: the simulator against the reference, and a PTX compile.

* Simulator: one subprocess with NUMBA_ENABLE_CUDASIM=1 (it must be set before numba is
  imported) runs tests/cuda_simulator_check.py: every cuda-backend kernel on the tiny parity
  cases of tests/kernel_cases (sizes that are not multiples of the blocks and tiles), forward
  and backward, against the reference; every GEMM variant; the no-hidden-copies rules.
* PTX: every kernel in every kernels/numba_cuda module's ``PTX_TARGETS`` is compiled for two
  real architectures (sm_80 and sm_90) with numba-cuda's NVRTC/libNVVM path, so a kernel that
  only works in the simulator (Python semantics the CUDA target rejects) fails here; the
  float32 signatures' PTX must hold no float64 instruction.
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
                name = f"{info.name}.{fn.__name__}"
                targets.append(pytest.param(fn, sig, name, id=f"{name}[{sig}]"))
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


# float32 kernels whose PTX holds float64 instructions for a stated reason
FLOAT64_BY_DESIGN = {
    "shape._cast": "it converts to and from float64",
    "elementwise._math": "libdevice's sinf/cosf/tanf reduce huge arguments in double precision",
    "elementwise._math_grad": "libdevice's sinf/cosf reduce huge arguments in double precision",
}


def _compile(fn, signature) -> dict:
    """{cc: PTX} of one kernel signature for every architecture in ARCHITECTURES.

    numba-cuda types and lowers a kernel to NVVM IR (most of the time) and then compiles that
    IR for one architecture; its ``_compile_pyfunc_with_fixup`` (the step ``compile_ptx``
    runs first) returns the code library, which gives the PTX for each architecture from the
    one lowering. A numba-cuda without it gets one ``compile_ptx`` per architecture."""
    from numba import cuda
    from numba.cuda import compiler

    lower = getattr(compiler, "_compile_pyfunc_with_fixup", None)
    if lower is None:
        return {cc: cuda.compile_ptx(fn, signature, cc=cc)[0] for cc in ARCHITECTURES}
    library, _ = lower(fn, signature, device=False, abi="numba", cc=ARCHITECTURES[0])
    return {cc: library.get_asm_str(cc=cc) for cc in ARCHITECTURES}


@pytest.mark.parametrize("fn,signature,name", _ptx_targets())
def test_kernel_compiles_to_ptx(fn, signature, name):
    """Every kernel signature compiles for sm_80 and sm_90; a float32 one holds no float64
    instruction (a Python literal such as ``1 - s`` would promote its arithmetic to double
    precision, a fraction of the fp32 rate), except the kernels in FLOAT64_BY_DESIGN."""
    try:
        ptx = _compile(fn, signature)
    except Exception as exc:  # NVRTC missing is an environment problem, not a kernel bug
        if "nvrtc" in str(exc).lower() or "libnvvm" in str(exc).lower():
            pytest.skip(f"no CUDA compiler library: {exc}")
        raise
    for (major, minor), code in ptx.items():
        assert f".target sm_{major}{minor}" in code and ".entry" in code
    if "float32" not in str(signature) or name in FLOAT64_BY_DESIGN:
        return
    f64 = [line.strip() for line in ptx[ARCHITECTURES[-1]].splitlines()
           if ".f64" in line and not line.strip().startswith(("//", ".reg"))]
    assert not f64, f"{name}: {len(f64)} float64 instructions, e.g. {f64[:3]}"

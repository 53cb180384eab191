"""What the machine and the installation are: BLAS, Numba threading, CUDA, the kernel cache.

``tinymm info`` prints ``info_lines()``; the benchmark harness records the same facts beside
every figure.
"""

from __future__ import annotations

import os
import platform


def threading_layer() -> str:
    try:
        import numba
        from numba import njit, prange

        @njit(parallel=True, cache=False)
        def _touch(a):  # a trivial parallel kernel makes numba pick its threading layer
            for i in prange(a.size):
                a[i] += 1

        import numpy as np

        _touch(np.zeros(4))
        return f"{numba.threading_layer()} ({numba.get_num_threads()} threads)"
    except Exception as exc:  # pragma: no cover - reported, not raised
        return f"unknown ({exc})"


def blas() -> str:
    """NumPy's BLAS: name and version, and for its bundled OpenBLAS the core whose kernels it
    runs (``openblas_core``)."""
    import numpy as np

    try:
        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        text = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # pragma: no cover - older numpy
        text = "unknown"
    core = openblas_core()
    return text if core is None else f"{text}, {core}"


def cpu_flags(path: str = "/proc/cpuinfo") -> frozenset:
    """The first processor's flags in /proc/cpuinfo ("avx2", "avx512f", ...); empty where
    the file is missing (not Linux) or has no flags line."""
    try:
        with open(path, encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def openblas_core(flags: frozenset | None = None) -> str | None:
    """Which kernels NumPy's bundled OpenBLAS runs, and why: "<core> kernels (OpenBLAS's
    choice for this CPU)", or "(OPENBLAS_CORETYPE=<value> in the environment)" where that
    variable chose them when the library loaded, with a hint when it chose kernels without
    AVX-512 on a CPU whose ``flags`` (``cpu_flags()``) have it; None where NumPy bundles no
    OpenBLAS that names its core. The core sets the vector width of every NumPy GEMM: an
    AVX-512 CPU whose OpenBLAS runs the Haswell (AVX2) kernels gets about half its sgemm
    rate (benchmarks/RESULTS.md, stop 32)."""
    from tinymm.kernels.numba_cpu._threads import AVX512_CORES, numpy_openblas_core

    core = numpy_openblas_core()
    if core is None:
        return None
    forced = os.environ.get("OPENBLAS_CORETYPE")
    if forced is None:
        return f"{core} kernels (OpenBLAS's choice for this CPU)"
    why = f"OPENBLAS_CORETYPE={forced} in the environment"
    if core not in AVX512_CORES and "avx512f" in (cpu_flags() if flags is None else flags):
        why += ("; this CPU has AVX-512, which these kernels do not use: without the variable "
                "OpenBLAS chooses for the CPU")
    return f"{core} kernels ({why})"


def cuda_status() -> str:
    try:
        from numba import cuda
    except ImportError:
        return "numba-cuda not installed (pip install 'tinymm[cuda]')"
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return "numba-cuda installed; running in the CUDA simulator (NUMBA_ENABLE_CUDASIM=1)"
    try:
        if cuda.is_available():
            gpu = cuda.get_current_device()
            name = gpu.name.decode() if isinstance(gpu.name, bytes) else gpu.name
            return f"numba-cuda installed; GPU: {name}"
    except Exception as exc:
        return f"numba-cuda installed; CUDA driver error: {exc}"
    return "numba-cuda installed; no GPU found (NUMBA_ENABLE_CUDASIM=1 runs the simulator)"


def cache_dir() -> str:
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return env
    import tinymm.kernels.numba_cpu as pkg

    return os.path.join(os.path.dirname(pkg.__file__), "__pycache__") + " (next to the sources)"


def info_lines() -> list[str]:
    import numba
    import numpy as np

    import tinymm
    from tinymm.backend import coverage, current_backend, get_backend

    lines = [
        f"tinymm {tinymm.__version__}",
        f"python {platform.python_version()} on {platform.machine()} ({os.cpu_count()} CPUs)",
        f"numpy {np.__version__} (BLAS: {blas()})",
        f"numba {numba.__version__} (threading layer: {threading_layer()})",
        f"kernel cache: {cache_dir()}",
        f"CUDA: {cuda_status()}",
        "backends:",
    ]
    for name, why in tinymm.backends().items():
        if why is None:
            b = get_backend(name)
            extra = f", falls back to reference for {len(b.fallbacks)}" if b.fallbacks else ""
            lines.append(f"  {name:<10} available ({len(b.kernels)} kernels{extra})")
        else:
            lines.append(f"  {name:<10} unavailable: {why}")
    lines.append("kernel coverage (native implementations of the CONTRACT):")
    for name, counts in coverage().items():
        text = "package not installed" if counts is None else f"{counts[0]} of {counts[1]}"
        lines.append(f"  {name:<10} {text}")
    lines.append(f"active backend: {current_backend().name} "
                 f"(set with tinymm.use_backend or TINYMM_BACKEND)")
    return lines

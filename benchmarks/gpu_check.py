"""One-command device check for the cuda backend, for a machine with a real NVIDIA GPU.

    python -m benchmarks.gpu_check [--out benchmarks/GPU_RESULTS.md] [--repeat 15]
    NUMBA_ENABLE_CUDASIM=1 python -m benchmarks.gpu_check --smoke --out /tmp/x.md   # dry run

What it does, in order, and what lands in the markdown table written to ``--out``:

1. Device: name, compute capability, SM count, and two ceilings measured here without cuBLAS:
   memory bandwidth (a device-to-device copy kernel over 512 MiB, bytes read + written per
   second) and fp32 throughput (a kernel of 8 independent multiply-add chains per thread, in
   registers, over enough blocks to fill every SM).
2. Parity: every parity case of tests/kernel_cases whose kernel the cuda backend implements,
   float32 and float64, forward and then backward with the same upstream gradient, against the
   reference backend; normwise relative error against the case's tolerance. Then the checks
   of tests/cuda_layouts.py at the GPU's own block widths (one row each, pass or the error).
   Any failure makes the exit status 1 (the rest still runs and is reported).
3. Kernel timings with CUDA events: median milliseconds over ``--repeat`` calls after two
   warm-up calls (the first compiles), GFLOP/s or GB/s and their fraction of the measured
   ceilings. When a CUDA build of PyTorch imports, the same work in PyTorch (cuBLAS/cuDNN with
   TF32 off: ``torch.backends.cuda.matmul.allow_tf32 = False`` and
   ``torch.backends.cudnn.allow_tf32 = False``) is timed alongside, as a ratio.
4. A full training step (forward, backward, Adam) of the seed VQA model at batch 32 and 128 on
   the cuda device, next to the same step on tinymm's CPU backend, when the Tensor device
   plumbing exists (``tinymm.tensor(x, device="cuda")``, ``Module.to("cuda")``); otherwise the
   section says why it was skipped.

Without a GPU it stops at once with exit status 2 and says what to do. ``--smoke`` runs every
part on tiny shapes with one repeat and a subset of the parity cases, and accepts the
simulator: it proves the script runs end to end (tests/test_gpu_check.py), its numbers mean
nothing. Kernels the cuda backend does not implement yet are listed as missing, not timed.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path(__file__).resolve().parent / "GPU_RESULTS.md"
SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
# Parity cases run by --smoke: cheap in the simulator, one per kind of kernel.
SMOKE_PARITY = ("relu_forward", "softmax_forward", "cross_entropy_forward",
                "gated_fusion_forward", "film_forward")


# --- 0. can this machine run it? ---------------------------------------------------------------

def preflight(smoke: bool) -> str | None:
    """None when the check can run here, else the reason (printed, exit status 2)."""
    try:
        from numba import cuda
    except ImportError:
        return "numba-cuda is not installed: pip install 'tinymm[cuda]'"
    if SIMULATOR:
        if smoke:
            return None
        return ("NUMBA_ENABLE_CUDASIM=1 is set: the simulator's timings mean nothing. Unset it on "
                "a GPU machine, or add --smoke for a dry run of the script")
    try:
        available = cuda.is_available()
    except Exception as exc:  # driver problems surface here
        return f"the CUDA driver failed: {exc}"
    if not available:
        return ("no CUDA GPU found: this check needs an NVIDIA GPU and its driver. For a dry run "
                "without one: NUMBA_ENABLE_CUDASIM=1 python -m benchmarks.gpu_check --smoke")
    return None


# --- 1. the device and its measured ceilings ----------------------------------------------------

cuda = None  # numba.cuda, imported by _ceiling_kernels() once preflight() has passed
float32 = None


def _copy(src, dst):
    """dst = src with a grid-stride loop: a fixed grid covers any size."""
    i = cuda.grid(1)
    stride = cuda.gridsize(1)
    while i < src.size:
        dst[i] = src[i]
        i += stride


def _fma_chains(out, iters):
    """8 independent multiply-add chains per thread in registers: the FMA pipelines never wait."""
    i = cuda.grid(1)
    b = float32(0.999)
    c = float32(1e-4)
    a0 = float32(i % 7) * float32(1e-3)
    a1 = a0 + float32(1)
    a2 = a0 + float32(2)
    a3 = a0 + float32(3)
    a4 = a0 + float32(4)
    a5 = a0 + float32(5)
    a6 = a0 + float32(6)
    a7 = a0 + float32(7)
    for _ in range(iters):
        a0 = a0 * b + c
        a1 = a1 * b + c
        a2 = a2 * b + c
        a3 = a3 * b + c
        a4 = a4 * b + c
        a5 = a5 * b + c
        a6 = a6 * b + c
        a7 = a7 * b + c
    if i < out.size:  # the result is stored, so the compiler cannot drop the loop
        out[i] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7


def _ceiling_kernels():
    """(copy, fma) kernels; the module-level names the kernels use are bound here."""
    global cuda, float32
    import numba
    from numba import cuda as numba_cuda

    cuda, float32 = numba_cuda, numba.float32
    return cuda.jit(_copy), cuda.jit(_fma_chains)


class Timer:
    """Median milliseconds of ``fn()``: CUDA events on a GPU, wall clock in the simulator."""

    def __init__(self, repeat: int, warmup: int = 2, wall: bool = False):
        self.repeat = repeat
        self.warmup = warmup
        self.wall = wall or SIMULATOR  # wall clock: the simulator, or work on the host

    def __call__(self, fn) -> float:
        from numba import cuda

        for _ in range(self.warmup):  # the first call compiles, the second warms caches
            fn()
        cuda.synchronize()
        times = []
        for _ in range(self.repeat):
            if self.wall:
                t0 = time.perf_counter()
                fn()
                cuda.synchronize()
                times.append((time.perf_counter() - t0) * 1e3)
            else:
                start, end = cuda.event(), cuda.event()
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
        return statistics.median(times)


def device_info(timer: Timer, smoke: bool) -> dict:
    info: dict = {"simulator": SIMULATOR}
    copy, fma = _ceiling_kernels()
    dev = cuda.get_current_device()
    name = getattr(dev, "name", "simulator" if SIMULATOR else "unknown")
    info["name"] = name.decode() if isinstance(name, bytes) else str(name)
    info["cc"] = getattr(dev, "compute_capability", None)
    sms = getattr(dev, "MULTIPROCESSOR_COUNT", None)
    info["sms"] = sms
    n = 1024 if smoke else 128 * 1024 * 1024  # float32 elements: 512 MiB per buffer
    src = cuda.device_array(n, np.float32)
    dst = cuda.device_array(n, np.float32)
    copy, fma = _ceiling_kernels()
    blocks = 4 if smoke else (sms or 64) * 32
    ms = timer(lambda: copy[blocks, 256](src, dst))
    info["bandwidth_gbs"] = 2 * n * 4 / (ms * 1e6)
    iters = 4 if smoke else 65536
    threads, blocks = (8, 1) if smoke else (256, (sms or 64) * 8)
    out = cuda.device_array(threads * blocks, np.float32)
    ms = timer(lambda: fma[blocks, threads](out, iters))
    info["fp32_gflops"] = 2 * 8 * iters * threads * blocks / (ms * 1e6)
    return info


# --- 2. parity on the device ---------------------------------------------------------------------

def _flat(value) -> list:
    if value is None:
        return [None]
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _flat(v)]
    return [value]


def _normwise(got, want) -> float:
    """max |got - want| / max |want| over every array pair (NaN where both agree is ignored)."""
    from tinymm.kernels.numba_cuda import _device

    worst = 0.0
    for g, w in zip(_flat(got), _flat(want)):
        if w is None or g is None:
            if (w is None) != (g is None):
                return math.inf
            continue
        g = _device.to_host(g) if _device.is_device_array(g) else np.asarray(g)
        w = np.asarray(w)
        if g.shape != w.shape or g.dtype != w.dtype:
            return math.inf
        if w.dtype.kind != "f":
            worst = max(worst, 0.0 if np.array_equal(g, w) else math.inf)
            continue
        if not np.array_equal(np.isnan(g), np.isnan(w)):
            return math.inf
        g, w = np.nan_to_num(g, nan=0.0), np.nan_to_num(w, nan=0.0)
        finite = np.isfinite(w)
        if not np.array_equal(g[~finite], w[~finite]):
            return math.inf
        scale = max(float(np.max(np.abs(w[finite]), initial=0.0)), 1e-30)
        err = float(np.max(np.abs(g[finite].astype(np.float64) - w[finite]), initial=0.0))
        worst = max(worst, err / scale)
    return worst


def _to_device(value):
    from tinymm.kernels.numba_cuda import _device

    if isinstance(value, np.ndarray):
        return _device.to_device(value)
    if isinstance(value, (tuple, list)):
        return type(value)(_to_device(v) for v in value)
    return value


def parity(smoke: bool) -> list[dict]:
    """One row per (case, dtype): forward and backward errors against the reference."""
    import tinymm
    from tests.kernel_cases import all_cases

    cuda_backend = tinymm.get_backend("cuda")
    ref = tinymm.get_backend("reference")
    rows = []
    seen: set[str] = set()
    for case in all_cases():
        if case.kernel not in cuda_backend.kernels:
            continue
        if smoke and (case.kernel not in SMOKE_PARITY or case.kernel in seen):
            continue
        seen.add(case.kernel)
        for dtype in ((np.float64,) if smoke else (np.float32, np.float64)):
            row = {"case": case.id, "dtype": np.dtype(dtype).name, "tol": case.tol[dtype]}
            try:
                args, kwargs = case.make(np.random.default_rng(7), np.dtype(dtype))
                ref_out, ref_cache = getattr(ref, case.kernel)(*args, **kwargs)
                out, cache = getattr(cuda_backend, case.kernel)(
                    *_to_device(list(args)), **{k: _to_device(v) for k, v in kwargs.items()})
                row["forward"] = _normwise(out, ref_out)
                grad_rng = np.random.default_rng(11)
                douts = tuple(grad_rng.standard_normal(np.shape(a)).astype(dtype)
                              for a in _flat(ref_out))
                dout = douts if isinstance(ref_out, tuple) else douts[0]
                backward = case.kernel.replace("_forward", "_backward")
                with np.errstate(divide="ignore", invalid="ignore"):
                    ref_grads = getattr(ref, backward)(dout, ref_cache)
                grads = getattr(cuda_backend, backward)(_to_device(dout), cache)
                row["backward"] = _normwise(grads, ref_grads)
                row["ok"] = max(row["forward"], row["backward"]) <= row["tol"]
            except Exception as exc:  # reported in the table, counted as a failure
                row["error"] = f"{type(exc).__name__}: {exc}"
                row["ok"] = False
            rows.append(row)
    return rows + layout_parity(smoke)


def layout_parity(smoke: bool) -> list[dict]:
    """One row per check of tests/cuda_layouts.py: the layouts that only start at a GPU's
    block widths (the bitonic sort and top-k, prod and max/min with a block per line, the
    column scans), which the small kernel cases above do not reach (--smoke: the first)."""
    from tests.cuda_layouts import LAYOUT_CHECKS

    rows = []
    for name, check in list(LAYOUT_CHECKS.items())[:1 if smoke else None]:
        row = {"case": f"layout: {name}", "dtype": "all", "tol": 0.0}
        try:
            row["case"] += f" ({check()} cases)"
            row["ok"] = True
        except Exception as exc:  # reported in the table, counted as a failure
            row["error"] = f"{type(exc).__name__}: {exc}"[:300]
            row["ok"] = False
        rows.append(row)
    return rows


# --- 3. kernel timings ---------------------------------------------------------------------------

@dataclass
class Work:
    """One timed piece of work: ``make(cuda_backend, rng)`` returns a zero-argument callable."""

    name: str
    kernels: tuple[str, ...]  # CONTRACT names it needs (missing -> listed, not timed)
    make: object
    flops: float | None = None  # per call
    bytes: float | None = None  # moved per call (for bandwidth-bound work)
    torch: object | None = None  # (torch module, rng) -> zero-argument callable
    extra: dict = field(default_factory=dict)


def _dev(rng, *shape, dtype=np.float32, scale=1.0):
    from tinymm.kernels.numba_cuda import _device

    return _device.to_device((rng.standard_normal(shape) * scale).astype(dtype))


def _torch_tensor(torch, rng, *shape, scale=1.0, grad=False):
    t = torch.tensor((rng.standard_normal(shape) * scale).astype(np.float32), device="cuda")
    return t.requires_grad_(grad)


def works(smoke: bool) -> list[Work]:
    """The timed work, at the seed model's shapes (or tiny ones with --smoke)."""
    S = 4096 if not smoke else 9  # square GEMM side
    L = dict(T=16, N=32, D=128, H=128) if not smoke else dict(T=2, N=2, D=3, H=5)
    A = dict(N=32, h=4, Lq=16, Lk=64, d=32) if not smoke else dict(N=1, h=1, Lq=3, Lk=5, d=4)
    rows, cols = (8192, 1000) if not smoke else (3, 9)
    conv = dict(N=32, C=32, O=64, H=32) if not smoke else dict(N=1, C=2, O=3, H=5)
    fuse = 32 * 64 * 256 if not smoke else 37
    out: list[Work] = []

    def gemm_work(variant):
        def make(backend, rng):
            from tinymm.kernels.numba_cuda import _gemm

            a, b = _dev(rng, 1, S, S), _dev(rng, 1, S, S)
            return lambda: _gemm.gemm(a, b, variant=variant)
        return make

    def torch_gemm(torch, rng):
        a, b = _torch_tensor(torch, rng, S, S), _torch_tensor(torch, rng, S, S)
        return lambda: a @ b

    from tinymm.kernels.numba_cuda import _gemm

    for variant in _gemm.VARIANTS:
        out.append(Work(f"sgemm {variant} {S}^3", ("matmul_forward",), gemm_work(variant),
                        flops=2.0 * S ** 3, torch=torch_gemm, extra={"variant": variant}))

    def conv_make(backend, rng):
        x = _dev(rng, conv["N"], conv["C"], conv["H"], conv["H"])
        w = _dev(rng, conv["O"], conv["C"], 3, 3, scale=0.1)
        b = _dev(rng, conv["O"])
        dout = _dev(rng, conv["N"], conv["O"], conv["H"], conv["H"])

        def run():
            y, cache = backend.conv2d_forward(x, w, b, 1, 1)
            backend.conv2d_backward(dout, cache)
        return run

    def conv_torch(torch, rng):
        x = _torch_tensor(torch, rng, conv["N"], conv["C"], conv["H"], conv["H"], grad=True)
        w = _torch_tensor(torch, rng, conv["O"], conv["C"], 3, 3, scale=0.1, grad=True)
        b = _torch_tensor(torch, rng, conv["O"], grad=True)
        dout = _torch_tensor(torch, rng, conv["N"], conv["O"], conv["H"], conv["H"])

        def run():
            torch.nn.functional.conv2d(x, w, b, padding=1).backward(dout)
        return run

    conv_flops = 3 * 2.0 * conv["N"] * conv["O"] * conv["C"] * 9 * conv["H"] ** 2
    out.append(Work(f"conv2d {conv['C']}->{conv['O']} 3x3 N={conv['N']} {conv['H']}^2 fwd+bwd",
                    ("conv2d_forward",), conv_make, flops=conv_flops, torch=conv_torch))

    def lstm_make(backend, rng):
        T, N, D, H = L["T"], L["N"], L["D"], L["H"]
        x = _dev(rng, N, T, D, scale=0.5)
        wih, whh = _dev(rng, 4 * H, D, scale=0.1), _dev(rng, 4 * H, H, scale=0.1)
        bih, bhh = _dev(rng, 4 * H), _dev(rng, 4 * H)
        grads = (_dev(rng, N, T, H), _dev(rng, N, H), _dev(rng, N, H))

        def run():
            _, cache = backend.lstm_forward(x, None, None, wih, whh, bih, bhh, batch_first=True)
            backend.lstm_backward(grads, cache)
        return run

    def lstm_torch(torch, rng):
        T, N, D, H = L["T"], L["N"], L["D"], L["H"]
        layer = torch.nn.LSTM(D, H, batch_first=True).cuda()
        x = _torch_tensor(torch, rng, N, T, D, grad=True)
        dout = _torch_tensor(torch, rng, N, T, H)

        def run():
            y, _ = layer(x)
            y.backward(dout)
        return run

    lstm_flops = 3 * 2.0 * L["T"] * L["N"] * 4 * L["H"] * (L["D"] + L["H"])
    out.append(Work(f"LSTM T={L['T']} N={L['N']} {L['D']}->{L['H']} fwd+bwd",
                    ("lstm_forward",), lstm_make, flops=lstm_flops, torch=lstm_torch))

    def attention_make(backend, rng):
        N, h, Lq, Lk, d = A["N"], A["h"], A["Lq"], A["Lk"], A["d"]
        q, k, v = _dev(rng, N, h, Lq, d), _dev(rng, N, h, Lk, d), _dev(rng, N, h, Lk, d)
        dout = _dev(rng, N, h, Lq, d)

        def run():
            _, cache = backend.scaled_dot_product_attention_forward(q, k, v)
            backend.scaled_dot_product_attention_backward((dout, None), cache)
        return run

    def attention_torch(torch, rng):
        N, h, Lq, Lk, d = A["N"], A["h"], A["Lq"], A["Lk"], A["d"]
        q = _torch_tensor(torch, rng, N, h, Lq, d, grad=True)
        k = _torch_tensor(torch, rng, N, h, Lk, d, grad=True)
        v = _torch_tensor(torch, rng, N, h, Lk, d, grad=True)
        dout = _torch_tensor(torch, rng, N, h, Lq, d)

        def run():
            torch.nn.functional.scaled_dot_product_attention(q, k, v).backward(dout)
        return run

    att_flops = 3.5 * 2 * 2.0 * A["N"] * A["h"] * A["Lq"] * A["Lk"] * A["d"]
    out.append(Work(f"SDPA N={A['N']} h={A['h']} q{A['Lq']} x kv{A['Lk']} d{A['d']} fwd+bwd",
                    ("scaled_dot_product_attention_forward",), attention_make, flops=att_flops,
                    torch=attention_torch))

    def softmax_make(backend, rng):
        x = _dev(rng, rows, cols, scale=3)
        return lambda: backend.softmax_forward(x)

    def softmax_torch(torch, rng):
        x = _torch_tensor(torch, rng, rows, cols, scale=3)
        return lambda: torch.softmax(x, dim=-1)

    out.append(Work(f"softmax ({rows}, {cols}) fwd", ("softmax_forward",), softmax_make,
                    bytes=2.0 * rows * cols * 4, torch=softmax_torch))

    def ce_make(backend, rng):
        from tinymm.kernels.numba_cuda import _device

        x = _dev(rng, rows, cols, scale=3)
        target = _device.to_device(rng.integers(0, cols, rows))
        dloss = _device.to_device(np.ones((), np.float32))

        def run():
            _, cache = backend.cross_entropy_forward(x, target)
            backend.cross_entropy_backward(dloss, cache)
        return run

    def ce_torch(torch, rng):
        x = _torch_tensor(torch, rng, rows, cols, scale=3, grad=True)
        target = torch.tensor(rng.integers(0, cols, rows), device="cuda")

        def run():
            torch.nn.functional.cross_entropy(x, target).backward()
        return run

    out.append(Work(f"cross_entropy ({rows}, {cols}) fwd+bwd", ("cross_entropy_forward",),
                    ce_make, bytes=4.0 * rows * cols * 4, torch=ce_torch))

    def gated_make(backend, rng):
        g, ua, ub, dout = (_dev(rng, fuse) for _ in range(4))

        def run():
            _, cache = backend.gated_fusion_forward(g, ua, ub)
            backend.gated_fusion_backward(dout, cache)
        return run

    out.append(Work(f"gated fusion ({fuse},) fwd+bwd", ("gated_fusion_forward",), gated_make,
                    bytes=(6 + 7) * fuse * 4.0))

    def gru_make(backend, rng):
        T, N, D, H = L["T"], L["N"], L["D"], L["H"]
        x = _dev(rng, N, T, D, scale=0.5)
        wih, whh = _dev(rng, 3 * H, D, scale=0.1), _dev(rng, 3 * H, H, scale=0.1)
        bih, bhh = _dev(rng, 3 * H), _dev(rng, 3 * H)
        grads = (_dev(rng, N, T, H), _dev(rng, N, H))

        def run():
            _, cache = backend.gru_forward(x, None, wih, whh, bih, bhh, batch_first=True)
            backend.gru_backward(grads, cache)
        return run

    def gru_torch(torch, rng):
        T, N, D, H = L["T"], L["N"], L["D"], L["H"]
        layer = torch.nn.GRU(D, H, batch_first=True).cuda()
        x = _torch_tensor(torch, rng, N, T, D, grad=True)
        dout = _torch_tensor(torch, rng, N, T, H)

        def run():
            y, _ = layer(x)
            y.backward(dout)
        return run

    out.append(Work(f"GRU T={L['T']} N={L['N']} {L['D']}->{L['H']} fwd+bwd", ("gru_forward",),
                    gru_make, flops=lstm_flops * 3 / 4, torch=gru_torch))

    bn = (32, 64, 32, 32) if not smoke else (2, 3, 2, 3)

    def bn_make(backend, rng):
        x, dout = _dev(rng, *bn), _dev(rng, *bn)
        w, b = _dev(rng, bn[1]), _dev(rng, bn[1])

        def run():
            _, cache = backend.batch_norm_forward(x, w, b, None, None)
            backend.batch_norm_backward(dout, cache)
        return run

    def bn_torch(torch, rng):
        x = _torch_tensor(torch, rng, *bn, grad=True)
        w, b = _torch_tensor(torch, rng, bn[1], grad=True), _torch_tensor(torch, rng, bn[1],
                                                                          grad=True)
        dout = _torch_tensor(torch, rng, *bn)

        def run():
            torch.nn.functional.batch_norm(x, None, None, w, b, training=True).backward(dout)
        return run

    out.append(Work(f"batch_norm {bn} train fwd+bwd", ("batch_norm_forward",), bn_make,
                    bytes=6.0 * math.prod(bn) * 4, torch=bn_torch))
    return out


def timings(works_list: list[Work], timer: Timer, torch) -> list[dict]:
    import tinymm

    cuda_backend = tinymm.get_backend("cuda")
    rows = []
    for work in works_list:
        row = {"name": work.name}
        missing = [k for k in work.kernels if k not in cuda_backend.kernels]
        if missing:
            row["error"] = f"missing in the cuda backend: {', '.join(missing)}"
            rows.append(row)
            continue
        try:
            row["ms"] = timer(work.make(cuda_backend, np.random.default_rng(0)))
            if work.flops:
                row["gflops"] = work.flops / (row["ms"] * 1e6)
            if work.bytes:
                row["gbs"] = work.bytes / (row["ms"] * 1e6)
        except Exception as exc:
            row["error"] = f"{type(exc).__name__}: {exc}"
        if torch is not None and work.torch is not None and "ms" in row:
            try:
                torch_fn = work.torch(torch, np.random.default_rng(0))
                row["torch_ms"] = _torch_timer(torch, torch_fn, timer.repeat)
            except Exception as exc:
                row["torch_error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
    return rows


def _torch_timer(torch, fn, repeat: int) -> float:
    fn()
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def cuda_torch():
    """PyTorch with CUDA and TF32 off, or None (not installed, CPU build, or the simulator)."""
    if SIMULATOR:
        return None
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return torch


# --- 4. a full training step ---------------------------------------------------------------------

def train_steps(smoke: bool, timer: Timer) -> dict:
    """Seed-model training step: ms per step on "cuda" and on the CPU backend, and the
    host<->device transfers of one cuda step; or the reason the part was skipped."""
    import tinymm

    try:
        probe = tinymm.tensor(np.zeros(2, np.float32), device="cuda")
        if not str(probe.device).startswith("cuda"):
            raise ValueError(f"the tensor landed on {probe.device}")
    except Exception as exc:
        return {"skipped": f"no cuda Tensor device ({type(exc).__name__}: {exc})"}
    results: dict = {}
    batch_sizes = (2,) if smoke else (32, 128)
    devices = ("cuda",) if smoke else ("cuda", "cpu")
    for batch in batch_sizes:
        for device in devices:
            key = f"{device} N={batch}"
            try:
                step = _train_step(tinymm, batch, device, smoke)
                if device == "cuda":  # the first step (compiles): count its transfers
                    tinymm.cuda.reset_transfer_stats()
                    started = time.perf_counter()
                    step()
                    first_ms = (time.perf_counter() - started) * 1e3
                    moved = tinymm.cuda.transfer_stats()
                    results[f"{key} transfers per step"] = (
                        f"{moved['h2d_count']} in ({moved['h2d_bytes']} B), "
                        f"{moved['d2h_count']} out ({moved['d2h_bytes']} B)")
                    if smoke:  # one simulated step proves the path; a second adds nothing
                        results[key] = first_ms
                        continue
                else:
                    step()  # compiles (or loads) the CPU kernels
                results[key] = Timer(timer.repeat, timer.warmup - 1, wall=device == "cpu")(step)
            except Exception as exc:
                results[key] = f"failed: {type(exc).__name__}: {exc}"
    return results


def _batches(batch: int, pool: int, smoke: bool, config):
    """``pool`` distinct batches (fresh data every step: see shared/NOTES.md on denormals)."""
    if smoke:  # random arrays with the tiny config's shapes
        rng = np.random.default_rng(0)
        S, T = config.image_size, 5
        return [{"image": rng.random((batch, 3, S, S)).astype(np.float32),
                 "tokens": rng.integers(1, config.vocab_size, (batch, T)),
                 "lengths": np.full(batch, T), "answer": rng.integers(0, config.num_answers,
                                                                      batch)}
                for _ in range(pool)]
    from tinymm.data import ShapesVQA

    data = ShapesVQA(batch * pool, seed=123)
    return [data.batch(np.arange(i * batch, (i + 1) * batch)) for i in range(pool)]


def _train_step(tinymm, batch: int, device: str, smoke: bool):
    from tinymm.models import MultimodalConfig, MultimodalVQA

    if smoke:  # the seed architecture at toy widths: the simulator runs one thread at a time
        config = MultimodalConfig(fusion="multiply", image_size=4, conv1_channels=2,
                                  conv2_channels=2, embed_dim=4, hidden_size=4, fused_dim=4,
                                  head_hidden=4, num_heads=2)
    else:
        config = MultimodalConfig(fusion="multiply")
    tinymm.nn.init.seed(0)
    model = MultimodalVQA(config).to(device)
    optimizer = tinymm.optim.Adam(model.parameters(), lr=1e-3)
    pool = 2 if smoke else 8
    batches = _batches(batch, pool, smoke, config)
    state = {"i": 0}

    def step():
        b = batches[state["i"] % pool]
        state["i"] += 1
        logits = model(tinymm.tensor(b["image"], device=device),
                       tinymm.tensor(b["tokens"], device=device), b["lengths"])
        loss = tinymm.F.cross_entropy(logits, tinymm.tensor(b["answer"], device=device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()  # the scalar loss comes back to the host, as in training

    return step


# --- the report ----------------------------------------------------------------------------------

def _f(value, spec=".3g") -> str:
    return "" if value is None else format(value, spec)


def render(info: dict, parity_rows: list[dict], timing_rows: list[dict], train: dict,
           torch, smoke: bool, seconds: float) -> str:
    torch_line = (f"torch {torch.__version__}, TF32 off" if torch
                  else "none (no CUDA build of torch here)")
    lines = ["# tinymm GPU check", ""]
    if smoke:
        lines += ["**Smoke run** (tiny shapes, one repeat" +
                  (", numba-cuda simulator" if info["simulator"] else "") +
                  "): the numbers below only prove the script runs.", ""]
    lines += [f"- device: {info['name']}, compute capability {info['cc']}, {info['sms']} SMs",
              f"- measured copy bandwidth: {_f(info['bandwidth_gbs'], '.4g')} GB/s; measured "
              f"fp32 FMA-loop throughput: {_f(info['fp32_gflops'], '.4g')} GFLOP/s",
              f"- PyTorch column: {torch_line}",
              f"- host: {platform.platform()}, Python {platform.python_version()}; "
              f"run took {seconds:.0f} s", ""]
    failed = [r for r in parity_rows if not r.get("ok")]
    lines += [f"## Parity against the reference ({len(parity_rows) - len(failed)} of "
              f"{len(parity_rows)} pass)", "",
              "| case | dtype | forward err | backward err | tol | ok |",
              "|---|---|---|---|---|---|"]
    for r in parity_rows:
        lines.append(f"| {r['case']} | {r['dtype']} | {_f(r.get('forward'))} | "
                     f"{_f(r.get('backward'))} | {r['tol']:g} | "
                     f"{'yes' if r.get('ok') else 'NO ' + r.get('error', '')} |")
    peak, bw = info["fp32_gflops"], info["bandwidth_gbs"]
    lines += ["", "## Kernel timings (median ms, CUDA events)", "",
              "| work | tinymm ms | GFLOP/s (% of FMA peak) | GB/s (% of copy) | torch ms | "
              "tinymm / torch |", "|---|---|---|---|---|---|"]
    for r in timing_rows:
        if "ms" not in r:
            lines.append(f"| {r['name']} | {r.get('error', '')} | | | | |")
            continue
        gf = f"{r['gflops']:.4g} ({100 * r['gflops'] / peak:.0f}%)" if "gflops" in r else ""
        gb = f"{r['gbs']:.4g} ({100 * r['gbs'] / bw:.0f}%)" if "gbs" in r else ""
        tm = _f(r.get("torch_ms")) or r.get("torch_error", "")
        ratio = f"{r['ms'] / r['torch_ms']:.2f}" if "torch_ms" in r else ""
        lines.append(f"| {r['name']} | {r['ms']:.3f} | {gf} | {gb} | {tm} | {ratio} |")
    lines += ["", "## Training step of the seed model (multiply fusion, Adam)", ""]
    if "skipped" in train:
        lines.append(f"Skipped: {train['skipped']}.")
    else:
        lines += ["| device, batch | ms per step |", "|---|---|"]
        cuda_ms = {k: v for k, v in train.items() if isinstance(v, float)}
        for key, value in train.items():
            cell = f"{value:.2f}" if isinstance(value, float) else value
            lines.append(f"| {key} | {cell} |")
        for batch in (32, 128):
            gpu, cpu = cuda_ms.get(f"cuda N={batch}"), cuda_ms.get(f"cpu N={batch}")
            if gpu and cpu:
                lines.append(f"| speed-up at N={batch}, cuda vs tinymm's CPU backend | "
                             f"{cpu / gpu:.1f}x |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=(
        "cuda backend parity and timings on a real GPU; writes a markdown table"))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown file to write")
    parser.add_argument("--repeat", type=int, default=15, help="timed calls per kernel")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny shapes, one repeat, parity subset; accepts the simulator")
    parser.add_argument("--no-train", action="store_true", help="skip the training-step part")
    args = parser.parse_args(argv)
    reason = preflight(args.smoke)
    if reason is not None:
        print(f"gpu_check: {reason}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    # the simulator compiles nothing: its smoke run times each work once, without a warm-up
    timer = (Timer(1, warmup=0 if SIMULATOR else 1) if args.smoke else Timer(args.repeat))
    torch = cuda_torch()
    print("gpu_check: measuring the device's ceilings", flush=True)
    info = device_info(timer, args.smoke)
    print("gpu_check: parity against the reference", flush=True)
    parity_rows = parity(args.smoke)
    print("gpu_check: kernel timings", flush=True)
    timing_rows = timings(works(args.smoke), timer, torch)
    train = {"skipped": "--no-train"} if args.no_train else None
    if train is None:
        print("gpu_check: training steps", flush=True)
        try:
            train = train_steps(args.smoke, timer)
        except Exception:
            train = {"skipped": "it failed: " + traceback.format_exc(limit=2).replace("\n", " ")}
    report = render(info, parity_rows, timing_rows, train, torch, args.smoke,
                    time.perf_counter() - t0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    print(f"gpu_check: wrote {args.out}")
    return 0 if all(r.get("ok") for r in parity_rows) else 1


if __name__ == "__main__":
    sys.exit(main())

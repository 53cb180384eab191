"""Where one training step of the seed model goes, kernel by kernel (numba backend, N=32).

``python -m benchmarks.profile_step [--fusion multiply] [--steps 20]`` builds the step of
``bench_train.py``, warms it up, then wraps every kernel of the numba backend with a timer
and reports, per kernel, its calls per step and its wall and process-CPU milliseconds per
step (CPU summed over all threads, so a kernel that keeps both cores busy shows about twice
its wall time). "outside kernels" is the rest of the step: autograd bookkeeping, the
optimizer's Python and anything not routed through a kernel.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict


def _label(name: str, args: tuple) -> str:
    """The kernel's name, and for convolutions and pools the channels of its first argument
    (conv A and conv B are one kernel at two shapes): the input's C for a forward, the
    output gradient's O for a backward."""
    if name.startswith(("conv2d", "max_pool")) and hasattr(args[0], "shape"):
        letter = "O" if name.endswith("_backward") else "C"
        return f"{name} {letter}={args[0].shape[1]}"
    return name


def _wrap(table: dict, stats: dict) -> None:
    """Replace each kernel of ``table`` by a timer around it (the kernel dict is shared)."""
    for name, fn in list(table.items()):
        def timed(*args, _fn=fn, _name=name, **kwargs):
            w0, c0 = time.perf_counter(), time.process_time()
            try:
                return _fn(*args, **kwargs)
            finally:
                entry = stats[_label(_name, args)]
                entry[0] += 1
                entry[1] += time.perf_counter() - w0
                entry[2] += time.process_time() - c0
        table[name] = timed


def profile(fusion: str, steps: int) -> str:
    import tinymm
    from benchmarks.bench_train import _case
    from tinymm.backend import get_backend

    with tinymm.use_backend("numba"):
        step = _case(fusion).make("numba")
        for _ in range(5):
            step()
        stats: dict = defaultdict(lambda: [0, 0.0, 0.0])
        _wrap(get_backend("numba").kernels, stats)
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    lines = [f"train step {fusion} N=32, numba, {steps} steps: "
             f"{1e3 * wall / steps:.1f} ms wall, {1e3 * cpu / steps:.1f} ms CPU per step",
             f"{'kernel':<34}{'calls':>6}{'wall ms':>9}{'CPU ms':>9}"]
    k_wall = k_cpu = 0.0
    for name, (calls, w, c) in sorted(stats.items(), key=lambda kv: -kv[1][1]):
        k_wall += w
        k_cpu += c
        lines.append(f"{name:<34}{calls / steps:>6.0f}{1e3 * w / steps:>9.2f}"
                     f"{1e3 * c / steps:>9.2f}")
    lines.append(f"{'outside kernels':<34}{'':>6}{1e3 * (wall - k_wall) / steps:>9.2f}"
                 f"{1e3 * (cpu - k_cpu) / steps:>9.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fusion", default="multiply")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)
    print(profile(args.fusion, args.steps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

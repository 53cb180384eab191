"""The benchmark harness: time every ``Bench`` per backend, next to PyTorch and the machine.

    python -m benchmarks                      # everything (also: tinymm bench)
    python -m benchmarks --only conv2d,lstm   # some stems
    python -m benchmarks --compile-times      # also cold JIT compile and cached load
    python -m benchmarks --list

For each case and backend it reports:

* warm run: median, min and max milliseconds over ``--repeat`` calls after two warm-up calls
  (the first call compiles or loads kernels and is excluded);
* first call in this process (JIT compile or cache load included);
* with ``--compile-times``: for the numba backend, a fresh subprocess with an empty
  ``NUMBA_CACHE_DIR`` (cold compile) and a second one reusing it (cached load), each timing
  import + first call;
* GFLOP/s where the case defines its FLOPs, and ratios: numba / PyTorch, reference / numba.

PyTorch's column is timed in a separate process with its own default threading, so its
OpenMP pool never competes with tinymm's threads inside a measurement (in one process, the
spinning pool of whichever library ran last slows the other by up to 2x on 2 cores).

The machine line gives cores, NumPy's BLAS, Numba's threading layer, the malloc mode and two
ceilings measured in the same run: sgemm GFLOP/s (NumPy BLAS, and PyTorch's when present) and
memory copy bandwidth, so a kernel's GFLOP/s can be read as a fraction of what this machine
can do. Results go to a JSON file and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.cases import Bench

HERE = Path(__file__).resolve().parent
# The user's own setting, read before tinymm's import sets a default (see tinymm/__init__.py).
USER_OMP_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")


def discover(only: list[str] | None = None) -> list[Bench]:
    benches: list[Bench] = []
    import benchmarks

    for info in pkgutil.iter_modules(benchmarks.__path__):
        if not info.name.startswith("bench_"):
            continue
        module = importlib.import_module(f"benchmarks.{info.name}")
        for bench in getattr(module, "BENCHES", []):
            if only is None or bench.stem in only or info.name[len("bench_"):] in only:
                benches.append(bench)
    return benches


# ------------------------------------------------------------------ timing
def time_calls(fn, repeat: int) -> dict:
    """Two warm-up calls, then ``repeat`` timed calls; milliseconds."""
    start = time.perf_counter()
    fn()
    first = (time.perf_counter() - start) * 1e3
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return {"first_call_ms": first, "median_ms": statistics.median(samples),
            "min_ms": min(samples), "max_ms": max(samples), "repeat": repeat}


def machine_ceilings(torch_module=None) -> dict:
    """sgemm GFLOP/s and copy bandwidth, measured now (the same conditions as the kernels)."""
    n = 1024
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = a.copy()
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    t = min(_timeit(lambda: np.matmul(a, b, out=out)) for _ in range(5))
    result = {"sgemm_numpy_gflops": 2 * n**3 / t / 1e9}
    src = np.ones(16 * 2**20 // 4, dtype=np.float32)  # 16 MiB
    dst = np.empty_like(src)
    np.copyto(dst, src)
    t = min(_timeit(lambda: np.copyto(dst, src)) for _ in range(5))
    result["copy_gbps"] = 2 * src.nbytes / t / 1e9  # read + write
    if torch_module is not None:
        ta, tb = torch_module.from_numpy(a), torch_module.from_numpy(b)
        tout = torch_module.empty_like(ta)
        torch_module.matmul(ta, tb, out=tout)
        t = min(_timeit(lambda: torch_module.matmul(ta, tb, out=tout)) for _ in range(5))
        result["sgemm_torch_gflops"] = 2 * n**3 / t / 1e9
    return result


def _timeit(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def machine_line(torch_module) -> dict:
    import numba

    import tinymm
    from tinymm.sysinfo import blas, threading_layer

    info = {
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas(),
        "numba": numba.__version__,
        "numba_threading": threading_layer(),
        "tinymm": tinymm.__version__,
        "malloc": ("tuned (MALLOC_MMAP_MAX_=0)" if os.environ.get("MALLOC_MMAP_MAX_") == "0"
                   else "default glibc malloc"),
    }
    if torch_module is not None:
        info["torch"] = f"{torch_module.__version__} ({torch_module.get_num_threads()} threads)"
    return info


def compile_times(bench_name: str) -> dict:
    """Cold compile and cached load of one case's numba kernels, in fresh subprocesses."""
    with tempfile.TemporaryDirectory(prefix="tinymm-numba-cache-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        results = {}
        for label in ("cold_compile_s", "cached_load_s"):
            proc = subprocess.run(
                [sys.executable, "-m", "benchmarks", "--first-call", bench_name],
                env=env, capture_output=True, text=True, cwd=HERE.parent)
            if proc.returncode != 0:
                results[label] = None
                results["error"] = proc.stderr.strip().splitlines()[-1:] or ["?"]
                continue
            results[label] = float(proc.stdout.strip().splitlines()[-1])
        return results


def first_call(bench_name: str) -> None:
    """Subprocess mode: time import + preparation-free first call of one numba case."""
    start = time.perf_counter()
    import tinymm  # noqa: F401  (import cost is part of what a user waits for)

    benches = {b.name: b for b in discover()}
    bench = benches[bench_name]
    import_s = time.perf_counter() - start
    fn = bench.make("numba")
    start = time.perf_counter()
    fn()
    print(import_s + time.perf_counter() - start)


# ------------------------------------------------------------------ report
def _fmt(value, spec=".2f") -> str:
    return "-" if value is None else format(value, spec)


def render_table(rows: list[dict], machine: dict, ceilings: dict) -> str:
    lines = ["## tinymm benchmarks", ""]
    lines.append("Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()))
    lines.append("Ceilings (same run): " + ", ".join(f"{k} {v:.1f}" for k, v in ceilings.items()))
    lines.append("")
    lines.append("| case | backend | median ms | min | max | first call ms | GFLOP/s | "
                 "% sgemm | vs torch | ref / numba | cold compile s | cached load s |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['backend']} | {_fmt(r['median_ms'], '.3f')} | "
            f"{_fmt(r['min_ms'], '.3f')} | {_fmt(r['max_ms'], '.3f')} | "
            f"{_fmt(r.get('first_call_ms'), '.1f')} | {_fmt(r.get('gflops'), '.1f')} | "
            f"{_fmt(r.get('pct_sgemm'), '.0f')} | {_fmt(r.get('ratio_vs_torch'), '.2f')} | "
            f"{_fmt(r.get('numba_speedup_vs_reference'), '.1f')} | "
            f"{_fmt(r.get('cold_compile_s'))} | {_fmt(r.get('cached_load_s'))} |")
    notes = sorted({(r["case"], r["note"]) for r in rows if r.get("note")})
    if notes:
        lines.append("")
        lines.append("How the numba path computes:")
        lines.extend(f"- {case}: {note}" for case, note in notes)
    lines.append("")
    lines.append("vs torch = this backend's median / PyTorch's median (below 1 is faster); "
                 "ref / numba = how many times faster numba is than the reference.")
    return "\n".join(lines)


def torch_worker(out_path: str, only: list[str] | None, repeat: int) -> None:
    """Subprocess mode: time every case's PyTorch version; write the timings as JSON.

    PyTorch runs in its own process so that its OpenMP pool (spinning after each parallel
    region, as by default) and tinymm's Numba/OpenBLAS threads never compete for the cores
    inside one measurement; each library is timed with its own default settings.
    """
    import torch  # before tinymm: torch's OpenMP reads the user's environment, not ours

    torch.set_num_threads(os.cpu_count() or 1)
    result = {"torch": f"{torch.__version__} ({torch.get_num_threads()} threads, own process)",
              "sgemm_torch_gflops": machine_ceilings(torch)["sgemm_torch_gflops"],
              "timings": {}}
    for bench in discover(only):
        if bench.torch is not None:
            result["timings"][bench.name] = time_calls(bench.torch(), repeat or bench.repeat)
    Path(out_path).write_text(json.dumps(result))


def _torch_timings(args) -> dict | None:
    import importlib.util

    if args.no_torch or importlib.util.find_spec("torch") is None:
        return None
    env = dict(os.environ)
    if USER_OMP_WAIT_POLICY is None:
        env.pop("OMP_WAIT_POLICY", None)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "torch.json")
        command = [sys.executable, "-m", "benchmarks", "--torch-worker", out,
                   "--repeat", str(args.repeat)]
        if args.only:
            command += ["--only", args.only]
        proc = subprocess.run(command, env=env, cwd=HERE.parent, capture_output=True, text=True)
        if proc.returncode != 0:
            print("torch worker failed; no PyTorch column:\n" + proc.stderr[-2000:],
                  file=sys.stderr)
            return None
        return json.loads(Path(out).read_text())


def run(args) -> int:
    only = args.only.split(",") if args.only else None
    benches = discover(only)
    if args.list:
        for b in benches:
            print(f"{b.stem:<14} {b.name}")
        return 0
    if not benches:
        print(f"no benchmark matches --only {args.only}", file=sys.stderr)
        return 2

    torch_result = _torch_timings(args)  # first, in its own process
    machine = machine_line(None)
    machine["omp_wait_policy (tinymm process)"] = os.environ.get("OMP_WAIT_POLICY", "unset")
    ceilings = machine_ceilings(None)
    if torch_result is not None:
        machine["torch"] = torch_result["torch"]
        ceilings["sgemm_torch_gflops"] = torch_result["sgemm_torch_gflops"]
    rows = []
    for bench in benches:
        torch_ms = None
        if torch_result is not None and bench.name in torch_result["timings"]:
            timing = torch_result["timings"][bench.name]
            torch_ms = timing["median_ms"]
            rows.append({"case": bench.name, "backend": "torch", **timing,
                         **_throughput(bench, timing, ceilings)})
        for backend in bench.backends:
            if args.backends and backend not in args.backends.split(","):
                continue
            repeat = args.repeat or bench.repeat
            if backend == "reference":
                repeat = max(3, repeat // 4)  # the spec is slow by design
            import tinymm

            with tinymm.use_backend(backend):
                timing = time_calls(bench.make(backend), repeat)
            row = {"case": bench.name, "backend": backend, "note": bench.note
                   if backend == "numba" else "", **timing, **_throughput(bench, timing, ceilings)}
            if torch_ms is not None:
                row["ratio_vs_torch"] = timing["median_ms"] / torch_ms
            if backend == "numba" and args.compile_times:
                row.update(compile_times(bench.name))
            rows.append(row)
            print(f"  {bench.name} [{backend}] {timing['median_ms']:.3f} ms", file=sys.stderr)
        _add_speedup(rows, bench.name)

    table = render_table(rows, machine, ceilings)
    print(table)
    out = Path(args.json) if args.json else HERE / "results" / time.strftime(
        "bench-%Y%m%d-%H%M%S.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"machine": machine, "ceilings": ceilings, "rows": rows},
                              indent=2))
    os.replace(tmp, out)
    print(f"\nresults written to {out}", file=sys.stderr)
    return 0


def _throughput(bench: Bench, timing: dict, ceilings: dict) -> dict:
    if not bench.flops:
        return {}
    gflops = bench.flops / (timing["median_ms"] * 1e-3) / 1e9
    return {"gflops": gflops, "pct_sgemm": 100 * gflops / ceilings["sgemm_numpy_gflops"]}


def _add_speedup(rows: list[dict], case: str) -> None:
    by_backend = {r["backend"]: r for r in rows if r["case"] == case}
    if "numba" in by_backend and "reference" in by_backend:
        by_backend["numba"]["numba_speedup_vs_reference"] = (
            by_backend["reference"]["median_ms"] / by_backend["numba"]["median_ms"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated stems (or bench_<name> module names)")
    parser.add_argument("--backends", help="comma-separated subset of reference,numba")
    parser.add_argument("--repeat", type=int, default=0, help="timed calls per case")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    parser.add_argument("--compile-times", action="store_true",
                        help="measure cold compile and cached load in subprocesses")
    parser.add_argument("--json", help="where to write the results (default benchmarks/results/)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--first-call", help=argparse.SUPPRESS)
    parser.add_argument("--torch-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.torch_worker:
        torch_worker(args.torch_worker, args.only.split(",") if args.only else None, args.repeat)
        return 0
    if args.first_call:
        first_call(args.first_call)
        return 0
    return run(args)

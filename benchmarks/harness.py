"""The benchmark harness: tinymm against PyTorch, each in its own process, as users run them.

    python -m benchmarks --table              # issue 11's table (the seed model's hot loops)
    python -m benchmarks --quick              # the same, 1 process pair, 5 repeats
    python -m benchmarks --only conv2d,lstm   # some stems (also: --match TEXT)
    python -m benchmarks --table --contention 1   # also with 1 extra busy process
    python -m benchmarks --compile-times      # also cold JIT compile and cached load
    python -m benchmarks --list

Each library runs in its own process: ``--pairs`` (default 3) alternating pairs of a tinymm
process and a PyTorch process (tinymm, torch, tinymm, torch, ...), every process timing
every selected case. Each timing is the median of ``--repeat`` calls after two warm-up calls
(the first call compiles or loads kernels and is reported apart); a row gives the median of
the per-process medians. In one process the two libraries' OpenMP pools slow each other, so
they are never timed together.

Columns: the tinymm backends, PyTorch (NCHW) and, for conv and pooling, PyTorch with
channels-last inputs; ratios tinymm / PyTorch; GFLOP/s where a case defines its FLOPs, and
their share of the best sgemm ceiling measured in the same run (NumPy's BLAS in the tinymm
processes, PyTorch's in its own); memory copy bandwidth. ``--contention N`` repeats the pairs
with N extra busy processes (a NumPy sgemm loop each, started and stopped by the harness and
bounded in time) and reports tinymm's and PyTorch's slowdowns side by side. With
``--compile-times``: for the numba backend, a fresh subprocess with an empty
``NUMBA_CACHE_DIR`` (cold compile) and a second one reusing it (cached load), each timing
import + first call. Results go to a JSON file and markdown tables on stdout.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
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
    lines.append("Ceilings (same run, median over processes): "
                 + ", ".join(f"{k} {v:.1f}" for k, v in ceilings.items()))
    lines.append("")
    lines.append("| case | column | median ms | min | max | first call ms | GFLOP/s | "
                 "% sgemm | vs torch | vs torch CL | ref / numba | cold compile s | "
                 "cached load s |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['backend']} | {_fmt(r['median_ms'], '.3f')} | "
            f"{_fmt(r['min_ms'], '.3f')} | {_fmt(r['max_ms'], '.3f')} | "
            f"{_fmt(r.get('first_call_ms'), '.1f')} | {_fmt(r.get('gflops'), '.1f')} | "
            f"{_fmt(r.get('pct_sgemm'), '.0f')} | {_fmt(r.get('ratio_vs_torch'), '.2f')} | "
            f"{_fmt(r.get('ratio_vs_torch_channels-last'), '.2f')} | "
            f"{_fmt(r.get('numba_speedup_vs_reference'), '.1f')} | "
            f"{_fmt(r.get('cold_compile_s'))} | {_fmt(r.get('cached_load_s'))} |")
    notes = sorted({(r["case"], r["note"]) for r in rows if r.get("note")})
    if notes:
        lines.append("")
        lines.append("How the numba path computes:")
        lines.extend(f"- {case}: {note}" for case, note in notes)
    lines.append("")
    lines.append("median = the median over processes of each process's median; vs torch = "
                 "this column's median / PyTorch's (NCHW; CL = channels-last inputs); below 1 "
                 "is faster; ref / numba = how many times faster numba is than the reference; "
                 "% sgemm = GFLOP/s over the best sgemm ceiling of this run.")
    return "\n".join(lines)


def render_issue_table(rows: list[dict]) -> str:
    """Issue 11's table: tinymm (numba) against PyTorch, one line per table row."""
    lines = ["## Issue 11 table (numba backend vs PyTorch, each in its own process)", "",
             "| workload | tinymm ms | PyTorch ms | ratio | PyTorch CL ms | ratio vs CL | "
             "tinymm GFLOP/s | % sgemm |", "|---|---|---|---|---|---|---|---|"]
    cells = {(r["case"], r["backend"]): r for r in rows}
    for r in rows:
        if not r.get("table") or r["backend"] != "numba":
            continue
        t = cells.get((r["case"], "torch"), {})
        cl = cells.get((r["case"], "torch channels-last"), {})
        lines.append(
            f"| {r['table']} | {_fmt(r['median_ms'])} | {_fmt(t.get('median_ms'))} | "
            f"{_fmt(r.get('ratio_vs_torch'))} | {_fmt(cl.get('median_ms'))} | "
            f"{_fmt(r.get('ratio_vs_torch_channels-last'))} | {_fmt(r.get('gflops'), '.1f')} | "
            f"{_fmt(r.get('pct_sgemm'), '.0f')} |")
    return "\n".join(lines)


# ------------------------------------------------------------------ worker processes
def worker(lib: str, cases_path: str, out_path: str, repeat: int, backends: str) -> None:
    """Subprocess mode: time the named cases in ONE library, as a user's process runs them.

    ``lib`` is "torch" (PyTorch's default threading; channels-last too where a case has it)
    or "tinymm" (the given backends). Writes the timings and this process's sgemm ceiling.
    """
    names = json.loads(Path(cases_path).read_text())
    if lib == "torch":
        import torch  # before tinymm: torch's OpenMP reads the user's environment, not ours

        torch.set_num_threads(os.cpu_count() or 1)
        result = {"torch": f"{torch.__version__} ({torch.get_num_threads()} threads)",
                  **machine_ceilings(torch), "timings": {}}
    else:
        result = {**machine_ceilings(None), "timings": {}}
    benches = {b.name: b for b in discover()}
    for name in names:
        bench = benches[name]
        timings = result["timings"].setdefault(name, {})
        n = repeat or bench.repeat
        if lib == "torch":
            if bench.torch is not None:
                timings["torch"] = time_calls(bench.torch(), n)
            if bench.torch_cl is not None:
                timings["torch channels-last"] = time_calls(bench.torch_cl(), n)
            continue
        import tinymm

        for backend in backends.split(","):
            if backend in bench.backends:
                with tinymm.use_backend(backend):
                    timings[backend] = time_calls(
                        bench.make(backend), max(3, n // 4) if backend == "reference" else n)
    Path(out_path).write_text(json.dumps(result))


def _spawn(lib: str, names: list[str], repeat: int, backends: str) -> dict | None:
    """Run one worker process and return its JSON (None, with the error shown, on failure)."""
    env = dict(os.environ)
    if lib == "torch" and USER_OMP_WAIT_POLICY is None:
        env.pop("OMP_WAIT_POLICY", None)  # PyTorch with its own default, as users run it
    with tempfile.TemporaryDirectory() as tmp:
        cases, out = os.path.join(tmp, "cases.json"), os.path.join(tmp, "out.json")
        Path(cases).write_text(json.dumps(names))
        command = [sys.executable, "-m", "benchmarks", "--worker", lib, "--cases-file", cases,
                   "--out", out, "--repeat", str(repeat), "--backends", backends]
        proc = subprocess.run(command, env=env, cwd=HERE.parent, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{lib} worker failed:\n" + proc.stderr[-2000:], file=sys.stderr)
            return None
        return json.loads(Path(out).read_text())


def run_pairs(benches: list[Bench], args, label: str) -> dict:
    """``args.pairs`` alternating processes (tinymm, torch, tinymm, torch, ...).

    Returns {"tinymm": [result per process], "torch": [...]}; the reference backend (slow by
    design) is timed in the first tinymm process only.
    """
    names = [b.name for b in benches]
    with_torch = not args.no_torch and importlib.util.find_spec("torch") is not None
    runs: dict[str, list[dict]] = {"tinymm": [], "torch": []}
    for i in range(args.pairs):
        backends = args.backends if i == 0 else ",".join(
            b for b in args.backends.split(",") if b != "reference")
        for lib in ("tinymm", "torch") if with_torch else ("tinymm",):
            if lib == "tinymm" and not backends:
                continue
            print(f"  [{label}] pair {i + 1}/{args.pairs}: {lib} process", file=sys.stderr)
            result = _spawn(lib, names, args.repeat, backends)
            if result is not None:
                runs[lib].append(result)
    return runs


def aggregate(benches: list[Bench], runs: dict, args) -> tuple[list[dict], dict]:
    """One row per case and column: the median over processes of each process's median."""
    ceilings = {}
    for lib, key in (("tinymm", "sgemm_numpy_gflops"), ("tinymm", "copy_gbps"),
                     ("torch", "sgemm_torch_gflops")):
        values = [r[key] for r in runs[lib] if key in r]
        if values:
            ceilings[key] = statistics.median(values)
    ceiling = max((v for k, v in ceilings.items() if k.startswith("sgemm")), default=None)
    rows = []
    for bench in benches:
        by_column: dict[str, list[dict]] = {}
        for lib in ("torch", "tinymm"):
            for result in runs[lib]:
                for column, timing in result["timings"].get(bench.name, {}).items():
                    by_column.setdefault(column, []).append(timing)
        torch_ms = {c: statistics.median(t["median_ms"] for t in ts)
                    for c, ts in by_column.items() if c.startswith("torch")}
        for column, timings in by_column.items():
            row = _row(bench, column, timings, ceiling)
            if not column.startswith("torch"):
                for c, ms in torch_ms.items():
                    row["ratio_vs_" + c.replace(" ", "_")] = row["median_ms"] / ms
                if column == "numba" and args.compile_times:
                    row.update(compile_times(bench.name))
            rows.append(row)
        _add_speedup(rows, bench.name)
    return rows, ceilings


def _row(bench: Bench, column: str, timings: list[dict], ceiling: float | None) -> dict:
    medians = [t["median_ms"] for t in timings]
    row = {"case": bench.name, "table": bench.table, "backend": column,
           "median_ms": statistics.median(medians), "process_medians_ms": medians,
           "min_ms": min(t["min_ms"] for t in timings),
           "max_ms": max(t["max_ms"] for t in timings),
           "first_call_ms": timings[0]["first_call_ms"],
           "note": bench.note if column == "numba" else ""}
    if bench.flops:
        row["gflops"] = bench.flops / (row["median_ms"] * 1e-3) / 1e9
        if ceiling:
            row["pct_sgemm"] = 100 * row["gflops"] / ceiling
    return row


# ------------------------------------------------------------------ contention
BUSY_SOURCE = """
import sys, time
import numpy as np
deadline = time.monotonic() + float(sys.argv[1])
a = np.ones((512, 512), np.float32)
while time.monotonic() < deadline:
    a @ a
"""


class Contention:
    """``n`` extra busy processes (a NumPy sgemm loop each, ``threads`` BLAS threads), started
    on entry and stopped on exit; each also stops by itself after ``limit_s`` seconds."""

    def __init__(self, n: int, threads: int, limit_s: float):
        self.n, self.threads, self.limit_s = n, threads, limit_s
        self.procs: list[subprocess.Popen] = []

    def __enter__(self):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": str(self.threads),
               "OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
        for _ in range(self.n):
            self.procs.append(subprocess.Popen(
                [sys.executable, "-c", BUSY_SOURCE, str(self.limit_s)], env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.5)  # let them reach their loops
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return False


def render_contention(quiet: list[dict], loaded: list[dict], n: int, threads: int) -> str:
    def by_case(rows):
        return {(r["case"], r["backend"]): r["median_ms"] for r in rows}

    q, lo = by_case(quiet), by_case(loaded)
    lines = ["", f"## Contention: {n} extra busy process(es), {threads} BLAS thread(s) each", "",
             "| case | tinymm quiet ms | loaded ms | slowdown | torch quiet ms | loaded ms | "
             "slowdown | tinymm slowdown / torch's |", "|---|---|---|---|---|---|---|---|"]
    for case in dict.fromkeys(r["case"] for r in quiet):
        cells = []
        for column in ("numba", "torch"):
            a, b = q.get((case, column)), lo.get((case, column))
            cells += [a, b, b / a if a and b else None]
        rel = cells[2] / cells[5] if cells[2] and cells[5] else None
        lines.append(f"| {case} | " + " | ".join(
            _fmt(v, ".2f") for v in cells) + f" | {_fmt(rel, '.2f')} |")
    return "\n".join(lines)


def _add_speedup(rows: list[dict], case: str) -> None:
    by_backend = {r["backend"]: r for r in rows if r["case"] == case}
    if "numba" in by_backend and "reference" in by_backend:
        by_backend["numba"]["numba_speedup_vs_reference"] = (
            by_backend["reference"]["median_ms"] / by_backend["numba"]["median_ms"])


def select(args) -> list[Bench]:
    benches = discover(args.only.split(",") if args.only else None)
    if args.match:
        benches = [b for b in benches if args.match in b.name]
    if args.table:
        benches = [b for b in benches if b.table]
    return benches


def run(args) -> int:
    benches = select(args)
    if args.list:
        for b in benches:
            print(f"{b.stem:<14} {b.name}" + (f"  [table: {b.table}]" if b.table else ""))
        return 0
    if not benches:
        print("no benchmark matches the selection", file=sys.stderr)
        return 2
    rows, ceilings = aggregate(benches, run_pairs(benches, args, "quiet"), args)
    machine = machine_line(None)
    machine["omp_wait_policy (tinymm process)"] = os.environ.get("OMP_WAIT_POLICY", "unset")
    machine["processes"] = (f"each library in its own process, alternating, median of "
                            f"{args.pairs} pair(s)")
    report = {"machine": machine, "ceilings": ceilings, "rows": rows}
    text = render_table(rows, machine, ceilings)
    if any(r.get("table") for r in rows):
        text = render_issue_table(rows) + "\n\n" + text
    if args.contention:
        with Contention(args.contention, args.contention_threads, args.contention_limit):
            loaded, _ = aggregate(benches, run_pairs(benches, args, "contention"), args)
        report["contention"] = {"processes": args.contention,
                                "threads": args.contention_threads, "rows": loaded}
        text += "\n" + render_contention(rows, loaded, args.contention,
                                         args.contention_threads)
    print(text)
    out = Path(args.json) if args.json else HERE / "results" / time.strftime(
        "bench-%Y%m%d-%H%M%S.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, out)
    print(f"\nresults written to {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated stems (or bench_<name> module names)")
    parser.add_argument("--match", help="only cases whose name contains this text")
    parser.add_argument("--table", action="store_true", help="only issue 11's table rows")
    parser.add_argument("--quick", action="store_true",
                        help="a short profile: issue 11's rows (unless --only/--match), "
                             "1 pair, 5 repeats, numba only")
    parser.add_argument("--backends", help="comma-separated subset of reference,numba")
    parser.add_argument("--repeat", type=int, default=0, help="timed calls per case")
    parser.add_argument("--pairs", type=int, default=3,
                        help="alternating tinymm/PyTorch process pairs (default 3)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch columns")
    parser.add_argument("--contention", type=int, default=0, metavar="N",
                        help="also run with N extra busy processes; report both slowdowns")
    parser.add_argument("--contention-threads", type=int, default=1,
                        help="BLAS threads per busy process (default 1)")
    parser.add_argument("--contention-limit", type=float, default=1800.0,
                        help="seconds after which a busy process stops by itself")
    parser.add_argument("--compile-times", action="store_true",
                        help="measure cold compile and cached load in subprocesses")
    parser.add_argument("--json", help="where to write the results (default benchmarks/results/)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--first-call", help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=("tinymm", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--cases-file", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.cases_file, args.out, args.repeat, args.backends)
        return 0
    if args.first_call:
        first_call(args.first_call)
        return 0
    if args.quick:
        args.pairs, args.repeat = 1, args.repeat or 5
        args.table = args.table or not (args.only or args.match)
    if args.backends is None:
        args.backends = "numba" if args.quick or args.table else "reference,numba"
    return run(args)

"""The ``tinymm`` command line: ``info``, ``demo``, ``gradcheck``, ``bench``, and the
application's ``train``, ``evaluate``, ``compare-fusions`` (tinymm/app.py)."""

from __future__ import annotations

import argparse
import os
import platform
import sys


def _threading_layer() -> str:
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


def _blas() -> str:
    import numpy as np

    try:
        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # pragma: no cover - older numpy
        return "unknown"


def _cuda_status() -> str:
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


def _cache_dir() -> str:
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return env
    import tinymm.kernels.numba_cpu as pkg

    return os.path.join(os.path.dirname(pkg.__file__), "__pycache__") + " (next to the sources)"


def info_lines() -> list[str]:
    import numba
    import numpy as np

    import tinymm
    from tinymm.backend import current_backend, get_backend

    lines = [
        f"tinymm {tinymm.__version__}",
        f"python {platform.python_version()} on {platform.machine()} ({os.cpu_count()} CPUs)",
        f"numpy {np.__version__} (BLAS: {_blas()})",
        f"numba {numba.__version__} (threading layer: {_threading_layer()})",
        f"kernel cache: {_cache_dir()}",
        f"CUDA: {_cuda_status()}",
        "backends:",
    ]
    for name, why in tinymm.backends().items():
        if why is None:
            b = get_backend(name)
            extra = f", falls back to reference for {len(b.fallbacks)}" if b.fallbacks else ""
            lines.append(f"  {name:<10} available ({len(b.kernels)} kernels{extra})")
        else:
            lines.append(f"  {name:<10} unavailable: {why}")
    lines.append(f"active backend: {current_backend().name} "
                 f"(set with tinymm.use_backend or TINYMM_BACKEND)")
    return lines


def cmd_info(args) -> int:
    print("\n".join(info_lines()))
    if args.verbose:
        from tinymm.backend import get_backend

        b = get_backend("numba")
        if b.fallbacks:
            print("numba fallbacks to reference: " + ", ".join(b.fallbacks))
    return 0


def cmd_demo(args) -> int:
    from tinymm.demo import run_demo

    run_demo(steps=args.steps, seed=args.seed, backend=args.backend)
    return 0


def cmd_gradcheck(args) -> int:
    from tinymm.selfcheck import run_gradchecks

    return run_gradchecks(only=args.only, backend=args.backend)


def cmd_bench(args) -> int:
    # The harness lives in benchmarks/ beside the package (a source checkout), not inside it.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.isdir(os.path.join(root, "benchmarks")) and root not in sys.path:
        sys.path.insert(0, root)
    try:
        from benchmarks.harness import main as bench_main
    except ImportError:
        print("tinymm bench: the benchmarks/ folder of a source checkout is needed "
              "(git clone the project and pip install -e .)", file=sys.stderr)
        return 2
    return bench_main(args.bench_args)


def build_parser() -> argparse.ArgumentParser:
    import tinymm

    parser = argparse.ArgumentParser(prog="tinymm", description=__doc__)
    parser.add_argument("--version", action="version", version=f"tinymm {tinymm.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("info", help="versions, backends, CUDA status, kernel cache")
    p.add_argument("-v", "--verbose", action="store_true", help="list the numba fallbacks")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", help="fit a 2-layer MLP on generated data and print the loss")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default=None, help="reference | numba | cuda")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("gradcheck", help="finite-difference check of every op's backward")
    p.add_argument("--only", default=None, help="substring of the op names to check")
    p.add_argument("--backend", default=None, help="reference | numba")
    p.set_defaults(func=cmd_gradcheck)

    p = sub.add_parser("bench", help="kernel benchmarks (arguments go to python -m benchmarks)")
    p.add_argument("bench_args", nargs=argparse.REMAINDER,
                   help="e.g. --only linear --repeat 50 (see tinymm bench --help)")
    p.set_defaults(func=cmd_bench)

    from tinymm.app import add_commands  # train, evaluate, compare-fusions (lazy imports inside)

    add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # everything after "bench" belongs to the harness's own parser
        return cmd_bench(argparse.Namespace(bench_args=argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

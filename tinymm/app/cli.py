"""The ``tinymm`` command line: ``info``, ``demo``, ``gradcheck``, ``bench``, and the
application's ``train``, ``evaluate``, ``compare-fusions`` (tinymm/app/commands.py)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from tinymm.sysinfo import info_lines


def cmd_info(args) -> int:
    print("\n".join(info_lines()))
    if args.verbose:
        from tinymm.backend import get_backend

        b = get_backend("numba")
        if b.fallbacks:
            print("numba fallbacks to reference: " + ", ".join(b.fallbacks))
    return 0


def cmd_demo(args) -> int:
    from tinymm.app.demo import run_demo

    run_demo(steps=args.steps, seed=args.seed, backend=args.backend)
    return 0


def cmd_gradcheck(args) -> int:
    from tinymm.app.selfcheck import run_gradchecks

    return run_gradchecks(only=args.only, backend=args.backend)


def cmd_bench(args) -> int:
    # The harness lives in benchmarks/ beside the package (a source checkout), not inside it,
    # and runs as its own process (python -m benchmarks) so the package never imports it.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not os.path.isfile(os.path.join(root, "benchmarks", "harness.py")):
        print("tinymm bench: the benchmarks/ folder of a source checkout is needed "
              "(git clone the project and pip install -e .)", file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, "-m", "benchmarks", *args.bench_args], cwd=root)


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

    from tinymm.app.commands import (
        add_commands,  # train, evaluate, compare-fusions (lazy imports inside)
    )

    add_commands(sub)
    from tinymm.exercises.cli import add_exercises_command  # list, check, hint

    add_exercises_command(sub)
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

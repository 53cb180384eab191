"""What ``tinymm train`` compiles before its first step: every Numba compile, timed.

    python -m benchmarks.startup [--fusion attention] [--cold] [--helper auto|off|on]

Runs the training command's own code path (tinymm.app.train.run_training on a small data
set, stopped after one optimizer step) in this process and lists each real Numba compile
(``numba:compile`` events fire only on cache misses) with its wall and CPU seconds, longest
first, then the time to the first step. ``--cold`` re-executes itself with an empty
``NUMBA_CACHE_DIR`` (a fresh clone's first run); without it the current cache is used.
CPU seconds are the better figure on a busy machine (wall includes waiting for a core); the
CPU seconds of child processes are the cold-start compile helper's
(tinymm/app/compile_notice.py), which compiles its share of the kernels alongside.
``--helper off`` compiles every kernel in this process (the per-kernel costs of a one-process
start), ``--helper on`` starts the helper on a cold cache even when no core looks idle (the
split under load); ``auto`` (the default) decides as ``tinymm train`` does.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time


def probe(fusion: str, helper: str = "auto") -> int:
    start = time.perf_counter()
    from numba.core import event

    if helper != "auto":
        from tinymm.app import compile_notice

        compile_notice.spare_core = lambda since=None: helper == "on"

    records = []

    class Timer(event.Listener):
        stack: list = []

        def on_start(self, ev):
            self.stack.append((time.perf_counter(), time.process_time()))

        def on_end(self, ev):
            wall, cpu = self.stack.pop()
            if self.stack:
                return  # a callee compiled inside its caller: counted with the caller
            fn = ev.data["dispatcher"].py_func
            records.append((time.perf_counter() - wall, time.process_time() - cpu,
                            f"{fn.__module__}.{fn.__qualname__}"))

    event.register("numba:compile", Timer())
    from tinymm.app.train import TrainConfig, run_training

    cfg = TrainConfig(fusion=fusion, samples=256, val_samples=64, test_samples=64, epochs=1,
                      backend="numba")
    with tempfile.TemporaryDirectory() as out:
        try:
            run_training(cfg, out, overwrite=True, log=lambda *a: None, stop_after_steps=1,
                         started_at=start)
        except KeyboardInterrupt:
            pass
    first_step = time.perf_counter() - start
    cpu_here = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_helper = children.ru_utime + children.ru_stime
    print("| kernel | cold compile wall s | CPU s |\n|---|---|---|")
    for wall, cpu, name in sorted(records, reverse=True):
        print(f"| {name} | {wall:.2f} | {cpu:.2f} |")
    print(f"\n{len(records)} compiles, {sum(r[0] for r in records):.1f} s wall, "
          f"{sum(r[1] for r in records):.1f} s CPU; first training step after {first_step:.1f} s "
          f"(import, data, model and compiles included)")
    if sys.flags.dont_write_bytecode:
        print("PYTHONDONTWRITEBYTECODE is set: Python wrote no .pyc files, so every start compiled "
              "tinymm's modules to bytecode again (unset it for a user's warm start)")
    print(f"CPU seconds to the first step: {cpu_here:.1f} in this process, {cpu_helper:.1f} in "
          "its child processes (the cold-start compile helper, which ran alongside); on a busy "
          "machine the larger of the two estimates the quiet critical path")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fusion", default="attention")
    parser.add_argument("--cold", action="store_true", help="with an empty Numba cache")
    parser.add_argument("--helper", choices=("auto", "off", "on"), default="auto",
                        help="the cold-start compile helper: as tinymm train decides, never, "
                             "or whatever the load")
    args = parser.parse_args(argv)
    if not args.cold:
        return probe(args.fusion, args.helper)
    with tempfile.TemporaryDirectory(prefix="tinymm-numba-cache-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        return subprocess.call([sys.executable, "-m", "benchmarks.startup", "--fusion",
                                args.fusion, "--helper", args.helper], env=env)


if __name__ == "__main__":
    raise SystemExit(main())

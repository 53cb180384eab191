"""benchmarks/gpu_check.py without a GPU: it refuses clearly, and its --smoke run works end to end.

The real run needs an NVIDIA GPU (python -m benchmarks.gpu_check). Here: without a GPU it must
exit at once with status 2 and say what to do; under the simulator with --smoke (tiny shapes,
one repeat) it must run every part (ceilings, parity, timings, training step or its skip
reason) and write a markdown report whose parity rows all pass.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba_cuda", reason="numba-cuda not installed (pip install 'tinymm[cuda]')")

ROOT = Path(__file__).resolve().parent.parent


def _run(args, simulator: bool, timeout: int):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    return subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


def test_without_a_gpu_it_stops_at_once_and_says_what_to_do(tmp_path):
    from numba import cuda

    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" and cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = tmp_path / "r.md"
    proc = _run(["--out", str(out)], simulator=False, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no CUDA GPU" in proc.stderr and "--smoke" in proc.stderr, proc.stderr
    assert not out.exists()
    proc = _run(["--out", str(out)], simulator=True, timeout=120)  # simulator without --smoke
    assert proc.returncode == 2 and "--smoke" in proc.stderr, proc.stdout + proc.stderr


def test_smoke_run_in_the_simulator_writes_a_full_report(tmp_path):
    out = tmp_path / "GPU_RESULTS.md"
    proc = _run(["--smoke", "--out", str(out)], simulator=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = out.read_text()
    passed, total = map(int, re.search(r"\((\d+) of (\d+) pass\)", report).groups())
    assert total >= 3 and passed == total, report
    for section in ("measured copy bandwidth", "## Kernel timings", "sgemm tiled",
                    "LSTM", "SDPA", "cross_entropy", "## Training step"):
        assert section in report, f"{section!r} missing from the report:\n{report}"
    train = report.split("## Training step", 1)[1]
    assert "transfers per step" in train and "failed" not in train, train  # the VQA step runs
    timed = [line for line in report.splitlines()
             if line.startswith("| ") and re.match(r"\| [^|]+ \| \d+\.\d+ \|", line)]
    assert len(timed) >= 5, report

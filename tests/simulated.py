"""Run a check script of tests/ in a subprocess under numba-cuda's simulator
(NUMBA_ENABLE_CUDASIM=1 must be set before numba is first imported, so it cannot run inside
the pytest process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_simulated(module: str, *args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    """``python -m <module> <args>`` from the repository root with the simulator on."""
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)

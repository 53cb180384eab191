"""The command line: info, demo, gradcheck, bench --list, and its error paths."""

import subprocess
import sys

import pytest

from tinymm.app.cli import main


def run_cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "tinymm", *args], capture_output=True,
                          text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_info_lists_versions_and_backends():
    out = run_cli("info").stdout
    for needle in ("tinymm", "numpy", "numba", "threading layer", "reference", "numba ",
                   "CUDA:", "kernel cache", "active backend"):
        assert needle in out, needle


def test_demo_trains_and_loss_falls(capsys):
    from tinymm.app.demo import run_demo

    result = run_demo(steps=60, verbose=False)
    assert result["loss"][-1] < 0.5 * result["loss"][0]
    assert result["accuracy"] > 0.7


def test_gradcheck_command_passes():
    out = run_cli("gradcheck").stdout
    assert "all gradients agree" in out and "FAIL" not in out


def test_bench_list():
    out = run_cli("bench", "--list").stdout
    assert "linear" in out


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="valid names"):
        main(["demo", "--steps", "1", "--backend", "gpu"])

"""The numba kernels' workspace cache (kernels/numba_cpu/_workspace.py): bounded by a byte
limit, safe under threads."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from tinymm.kernels.numba_cpu import _workspace as ws

MIB = 1 << 20


@pytest.fixture
def limit():
    """Run with an empty cache and restore the limit and contents policy afterwards."""
    saved = ws.max_bytes()
    ws.set_enabled(False)
    ws.set_enabled(True)
    yield
    ws.set_max_bytes(saved)


def test_free_lists_never_hold_more_than_the_byte_limit(limit):
    ws.set_max_bytes(3 * MIB)
    live = [ws.empty((MIB // 4,), np.float32) for _ in range(3)]  # three 1 MiB buffers
    live += [ws.empty((MIB // 8,), np.float64) for _ in range(2)]  # two more, another key
    assert ws.stats()["held_bytes"] == 0  # buffers in use are not counted
    del live  # all five come back; only 3 MiB of them may stay
    assert ws.stats()["held_bytes"] == 3 * MIB
    ws.set_max_bytes(MIB)  # lowering the limit drops free buffers until they fit
    assert ws.stats()["held_bytes"] <= MIB
    ws.set_max_bytes(0)
    assert ws.stats()["held_bytes"] == 0
    before = ws.stats()["hits"]
    a = ws.empty((MIB // 4,), np.float32)
    del a  # past the limit: released, not kept
    ws.empty((MIB // 4,), np.float32)
    assert ws.stats()["hits"] == before and ws.stats()["held_bytes"] == 0


def test_per_key_count_is_bounded(limit):
    live = [ws.empty((MIB // 4,), np.float32) for _ in range(ws.PER_KEY + 3)]
    del live
    assert ws.stats()["held_bytes"] == ws.PER_KEY * MIB


def test_bad_limits_are_rejected(limit):
    for bad in (-1, 1.5, "1", True):
        with pytest.raises(ValueError, match="set_max_bytes: the limit must be an integer"):
            ws.set_max_bytes(bad)
    code = "import tinymm.kernels.numba_cpu._workspace as w; print(w.max_bytes())"
    env = dict(os.environ, TINYMM_WORKSPACE_BYTES="12345")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "12345"
    env["TINYMM_WORKSPACE_BYTES"] = "lots"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0
    assert "TINYMM_WORKSPACE_BYTES='lots': expected an integer" in out.stderr


def test_threads_never_share_a_buffer(limit):
    """Each thread fills its buffers with its own id and checks them: a buffer handed to two
    threads at once would show the other's id."""
    errors = []

    def work(tag):
        for _ in range(200):
            a = ws.empty((MIB // 4,), np.float32)
            a.fill(tag)
            b = ws.empty((MIB // 4,), np.float32)
            b.fill(-tag)
            if not (a == tag).all() or not (b == -tag).all():
                errors.append(tag)
            del a, b

    threads = [threading.Thread(target=work, args=(t + 1,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert ws.stats()["held_bytes"] <= ws.max_bytes()

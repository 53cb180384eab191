"""Long runs of the tiny VQA config: resident memory stays flat after warm-up, no autograd
graph outlives its step, and two processes with one seed train to bit-identical weights.

CI runs a short profile (300 steps); ``TINYMM_LONG_TESTS=1`` runs 2,000.
"""

import gc
import json
import os
import subprocess
import sys
import weakref
from pathlib import Path

import pytest

import tinymm
from tinymm.data import DataLoader, ShapesVQA
from tinymm.models import MultimodalConfig, MultimodalVQA

ROOT = Path(__file__).resolve().parents[1]
LONG = os.environ.get("TINYMM_LONG_TESTS") == "1"
STEPS = 2000 if LONG else 300
WARMUP = 50
TINY = dict(vocab_size=24, num_answers=16, conv1_channels=4, conv2_channels=8, embed_dim=16,
            hidden_size=16, fused_dim=16, head_hidden=16, num_heads=2, bilinear_rank=4)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _live_tensors() -> int:
    return sum(isinstance(o, tinymm.Tensor) for o in gc.get_objects())


def _setup(fusion="attention", seed=0):
    tinymm.nn.init.seed(seed)
    model = MultimodalVQA(MultimodalConfig(fusion=fusion, **TINY))
    optimizer = tinymm.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(ShapesVQA(64, seed=seed), batch_size=8, shuffle=True, seed=seed)
    return model, optimizer, loader


def _batches(loader):
    while True:
        yield from loader


def _step(model, optimizer, batch):
    logits = model(tinymm.from_numpy(batch["image"]), batch["tokens"], batch["lengths"])
    loss = tinymm.F.cross_entropy(logits, batch["answer"])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc (Linux)")
def test_resident_memory_is_flat_after_warm_up():
    model, optimizer, loader = _setup()
    batches = _batches(loader)
    for _ in range(WARMUP):
        _step(model, optimizer, next(batches))
    gc.collect()
    start = _rss_bytes()
    tensors_before = _live_tensors()
    peak = start
    for i in range(STEPS):
        _step(model, optimizer, next(batches))
        if i % 50 == 0:
            peak = max(peak, _rss_bytes())
    gc.collect()
    end = _rss_bytes()
    growth = (max(end, peak) - start) / start
    print(f"{STEPS} steps after {WARMUP} warm-up: RSS {start / 2**20:.1f} -> "
          f"{end / 2**20:.1f} MiB (peak {peak / 2**20:.1f}), growth {100 * growth:+.2f}%")
    assert growth <= 0.05, f"resident memory grew {100 * growth:.1f}% over {STEPS} steps"
    assert _live_tensors() <= tensors_before, "Tensor objects accumulate from step to step"


def test_no_autograd_graph_survives_its_step():
    """After a step the graph is gone by reference counting alone (no cycle for the garbage
    collector to find): neither the loss's node nor any saved activation is reachable."""
    model, optimizer, loader = _setup()
    batches = _batches(loader)
    _step(model, optimizer, next(batches))  # warm-up: compiles, optimizer state
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            loss = _step(model, optimizer, next(batches))
            node = weakref.ref(loss._node)
            nodes = []  # every node of the step's graph
            stack, seen = [loss._node], set()
            while stack:
                ctx = stack.pop()
                if id(ctx) in seen:
                    continue
                seen.add(id(ctx))
                nodes.append(weakref.ref(ctx))
                stack += [t._node for t in ctx.inputs
                          if isinstance(t, tinymm.Tensor) and t._node is not None]
            assert len(nodes) > 20
            del loss, ctx, stack
            assert node() is None, "the loss's graph node outlived its step"
            alive = [r() for r in nodes if r() is not None]
            assert not alive, f"{len(alive)} graph nodes outlived their step: " \
                              f"{sorted({c.fn.__name__ for c in alive})}"
        for p in model.parameters():
            assert p.grad is None or p.grad._node is None  # gradients hold no graph
    finally:
        gc.enable()


_TRAIN = """
import hashlib, json, sys
import numpy as np
import tinymm
from tests.test_long_run import _batches, _setup, _step
with tinymm.use_backend(sys.argv[1]):
    model, optimizer, loader = _setup(seed=5)
    batches = _batches(loader)
    for _ in range(int(sys.argv[2])):
        _step(model, optimizer, next(batches))
digest = hashlib.sha256()
for name, value in sorted(model.state_dict().items()):
    digest.update(name.encode())
    digest.update(np.ascontiguousarray(value).tobytes())
print(json.dumps({"sha256": digest.hexdigest()}))
"""


@pytest.mark.parametrize("backend", ["numba", "reference"])
def test_same_seed_gives_bit_identical_weights_in_two_processes(backend):
    steps = 200 if LONG else 30
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    runs = [subprocess.run([sys.executable, "-c", _TRAIN, backend, str(steps)], env=env,
                           capture_output=True, text=True, timeout=600, cwd=ROOT)
            for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    first, second = (json.loads(r.stdout.strip().splitlines()[-1]) for r in runs)
    assert first == second, f"{backend}: two processes with seed 5 trained different weights"

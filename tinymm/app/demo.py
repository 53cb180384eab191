"""A first end-to-end run: fit a 2-layer MLP to a generated two-spirals data set.

Small enough to read in one sitting: data, model, loss, backward, optimizer step, and the
loss and accuracy printed as training goes. ``tinymm demo`` runs it.
"""

from __future__ import annotations

import time

import numpy as np

import tinymm
from tinymm import nn, optim
from tinymm.ops.cross_entropy import cross_entropy


def two_spirals(n_per_class: int = 200, noise: float = 0.15, seed: int = 0):
    """Two interleaved spirals in 2-d: a data set no linear model can separate."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.05, 1.0, n_per_class)) * 3 * np.pi  # (n,) angle along the arm
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)  # (n, 2)
    x = np.concatenate([arm, -arm]) + noise * rng.standard_normal((2 * n_per_class, 2)) / 3
    y = np.concatenate([np.zeros(n_per_class), np.ones(n_per_class)]).astype(np.int64)
    return x.astype(np.float32), y


def run_demo(steps: int = 300, seed: int = 0, backend: str | None = None,
             hidden: int = 64, lr: float = 0.01, verbose: bool = True) -> dict:
    if backend is not None:
        tinymm.use_backend(backend)
    nn.init.seed(seed)
    x, y = two_spirals(seed=seed)
    model = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.ReLU(),
                          nn.Linear(hidden, 2))
    opt = optim.Adam(model.parameters(), lr=lr)
    inputs = tinymm.tensor(x)
    history = []
    start = time.perf_counter()
    for step in range(1, steps + 1):
        logits = model(inputs)  # (N, 2)
        loss = cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
        if verbose and (step == 1 or step % max(steps // 10, 1) == 0):
            accuracy = float((logits.array.argmax(axis=1) == y).mean())
            print(f"step {step:4d}  loss {loss.item():.4f}  accuracy {accuracy:.3f}")
    seconds = time.perf_counter() - start
    with tinymm.no_grad():
        accuracy = float((model(inputs).array.argmax(axis=1) == y).mean())
    if verbose:
        print(f"done: {steps} Adam steps in {seconds:.2f} s on the "
              f"'{tinymm.current_backend().name}' backend; final loss {history[-1]:.4f}, "
              f"training accuracy {accuracy:.3f}")
    return {"loss": history, "accuracy": accuracy, "seconds": seconds}

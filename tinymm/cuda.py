"""The "cuda" device: availability, synchronisation and the host<->device transfer counter.

``tinymm.tensor(x, device="cuda")``, ``Tensor.to("cuda")`` / ``.cuda()`` / ``.cpu()`` and
``Module.to("cuda")`` put storage on the GPU; ops on cuda tensors run the numba-cuda kernels
(``kernels/numba_cuda``). Every copy between host and device goes through one counted pair of
functions, so ``transfer_stats()`` says exactly what crossed the bus (a training step should
move only its input batch in and its scalar loss out).

Without a GPU, ``NUMBA_ENABLE_CUDASIM=1`` (set before numba is first imported) runs the same
kernels in numba-cuda's simulator: slowly, but exactly enough for tests.
"""

from __future__ import annotations

from tinymm.backend import backends
from tinymm.kernels.numba_cuda import device as _kernels


def unavailable_reason() -> str | None:
    """Why the cuda device cannot be used here (what to install or set), or None."""
    return backends()["cuda"]


def is_available() -> bool:
    """True when numba-cuda imports and a GPU (or the simulator) is there."""
    return unavailable_reason() is None


def require(what: str = "the cuda device") -> None:
    """Raise one clear RuntimeError when the cuda device cannot be used."""
    reason = unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"{what} is not available: {reason}")


def synchronize() -> None:
    """Wait until every kernel launched so far has finished (as torch.cuda.synchronize)."""
    require("tinymm.cuda.synchronize()")
    from numba import cuda

    cuda.synchronize()


def transfer_stats() -> dict:
    """Host->device (h2d) and device->host (d2h) copies since the last reset: counts, bytes."""
    require("tinymm.cuda.transfer_stats()")
    return _kernels.transfer_stats()


def reset_transfer_stats() -> None:
    """Zero the transfer counters."""
    require("tinymm.cuda.reset_transfer_stats()")
    _kernels.reset_transfer_stats()


__all__ = ["is_available", "require", "reset_transfer_stats", "synchronize", "transfer_stats",
           "unavailable_reason"]

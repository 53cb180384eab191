"""``tinymm.cuda``: the "cuda" device: availability, synchronisation and the host<->device
transfer counter (``"cuda" if tinymm.cuda.is_available() else "cpu"``, as with torch).

``tinymm.tensor(x, device="cuda")``, ``Tensor.to("cuda")`` / ``.cuda()`` / ``.cpu()`` and
``Module.to("cuda")`` put storage on the GPU; ops on cuda tensors run the numba-cuda kernels
(``kernels/numba_cuda``). Every copy between host and device goes through one counted pair of
functions, so ``transfer_stats()`` says exactly what crossed the bus (a training step should
move only its input batch in and its scalar loss out).

Integer inputs on the device are checked on the device. Embedding ids and cross-entropy
targets: the op reduces them to (min, max) into a slot of a small pending-check buffer and goes
on; the next copy of a result to the host brings that buffer back in the same transfer (a
scalar such as the loss rides in its head) and raises the op's ValueError, naming the expected
range and the bad value, if a check failed, as PyTorch's device-side asserts surface at the
next synchronisation. Meanwhile the kernels that read those indices guard them, so a bad one
reads nothing out of bounds. Sequence lengths, which the host needs before the kernels run,
are checked at once (one counted 16-byte copy). One training step of the seed VQA model on
"cuda" therefore moves, in: the image, the token ids and the answers (the caller's copies)
and the lengths (host metadata, as PyTorch's ``pack_padded_sequence`` wants them: the LSTM
copies them over); out: one copy, the loss with the two index checks' results
(tests/cuda_training_check.py asserts exactly this). The training loop reads the loss before
``backward``, so a step with a bad index is never applied.

Without a GPU, ``NUMBA_ENABLE_CUDASIM=1`` (set before numba is first imported) runs the same
kernels in numba-cuda's simulator: slowly, but exactly enough for tests.
"""

from __future__ import annotations

import sys

from tinymm.backend import backends
from tinymm.kernels.numba_cuda import device as _kernels
from tinymm.missing import attribute_error


def unavailable_reason() -> str | None:
    """Why the cuda device cannot be used here (what to install or set), or None."""
    return backends()["cuda"]


def is_available() -> bool:
    """True when numba-cuda imports and a GPU (or the simulator) is there."""
    return unavailable_reason() is None


def device_count() -> int:
    return 1 if is_available() else 0


def manual_seed(seed: int) -> None:
    """Seeds nothing extra: tinymm has one generator (``tinymm.manual_seed``)."""


manual_seed_all = manual_seed


def require(what: str = "the cuda device") -> None:
    """Raise one clear RuntimeError when the cuda device cannot be used."""
    reason = unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"{what} is not available: {reason}")


def synchronize(device=None) -> None:
    """Wait until every kernel launched so far has finished (as torch.cuda.synchronize),
    then judge the deferred device checks (index ranges, binary_cross_entropy's
    probabilities: one counted copy when any is pending), raising a failed one's ValueError
    here, as PyTorch's device-side asserts surface at a synchronisation; nothing to wait for
    without a usable cuda device."""
    if is_available():
        from numba import cuda

        cuda.synchronize()
        _kernels.judge_pending()


def transfer_stats() -> dict:
    """Host->device (h2d) and device->host (d2h) copies since the last reset: counts, bytes
    (``implicit_d2h_count``: those made by NumPy converting a device array)."""
    require("tinymm.cuda.transfer_stats()")
    return _kernels.transfer_stats()


def reset_transfer_stats() -> None:
    """Zero the transfer counters."""
    require("tinymm.cuda.reset_transfer_stats()")
    _kernels.reset_transfer_stats()


_MISSING: dict[str, str] = {}


def __getattr__(name: str):
    raise attribute_error(sys.modules[__name__], name, _MISSING)


__all__ = ["device_count", "is_available", "manual_seed", "manual_seed_all", "require",
           "reset_transfer_stats", "synchronize", "transfer_stats", "unavailable_reason"]

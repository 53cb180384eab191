"""``torch.autocast`` / ``torch.amp`` / ``torch.cuda.amp`` for programs written with mixed
precision: tinymm computes every op in its inputs' dtype, so ``autocast`` is a context manager
(and decorator) that changes nothing, and ``GradScaler`` is PyTorch's scaler in its disabled
state (what torch gives when the scaler cannot run: ``scale`` returns its input unchanged,
``step`` calls ``optimizer.step()``, ``unscale_`` and ``update`` do nothing, the scale is 1).
"""

from __future__ import annotations

import functools
import types


class autocast:  # noqa: N801 - PyTorch's name
    """``with autocast(device_type, dtype=None, enabled=True, cache_enabled=None):``; ops
    inside keep their inputs' dtype."""

    def __init__(self, device_type: str = "cuda", dtype=None, enabled: bool = True,
                 cache_enabled=None):
        self.device_type, self.fast_dtype, self.enabled = device_type, dtype, bool(enabled)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)

        return wrapper


class GradScaler:
    """PyTorch's ``GradScaler`` as it behaves when disabled (``is_enabled()`` is False)."""

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True):
        self.device = device

    def is_enabled(self) -> bool:
        return False

    def scale(self, outputs):
        return outputs

    def unscale_(self, optimizer) -> None:
        return None

    def step(self, optimizer, *args, **kwargs):
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None) -> None:
        return None

    def get_scale(self) -> float:
        return 1.0

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state_dict: dict) -> None:
        return None


class _CudaAutocast(autocast):
    """``torch.cuda.amp.autocast(enabled=True, dtype=torch.float16, cache_enabled=True)``."""

    def __init__(self, enabled: bool = True, dtype=None, cache_enabled=True):
        super().__init__("cuda", dtype, enabled, cache_enabled)


class _CudaGradScaler(GradScaler):
    """``torch.cuda.amp.GradScaler(init_scale, growth_factor, ..., enabled)``."""

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True):
        super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval,
                         enabled)


# ``torch.cuda.amp``: the same two names, with its positional arguments
cuda_amp = types.SimpleNamespace(autocast=_CudaAutocast, GradScaler=_CudaGradScaler)


def is_autocast_available(device_type: str) -> bool:
    return device_type in ("cpu", "cuda")


__all__ = ["GradScaler", "autocast", "is_autocast_available"]

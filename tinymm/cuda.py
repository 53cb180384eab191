"""``tinymm.cuda``: what programs ask before choosing a device
(``"cuda" if torch.cuda.is_available() else "cpu"``).

``is_available()`` is true only when a CUDA device type is registered in
``tinymm.devices.SUPPORTED`` (a CUDA backend does that); until then programs pick "cpu".
"""

from __future__ import annotations

import sys

from tinymm import devices
from tinymm.missing import attribute_error


def is_available() -> bool:
    return "cuda" in devices.SUPPORTED


def device_count() -> int:
    return 1 if is_available() else 0


def manual_seed(seed: int) -> None:
    """Seeds nothing extra: tinymm has one generator (``tinymm.manual_seed``)."""


manual_seed_all = manual_seed


def synchronize(device=None) -> None:
    """Nothing to wait for on the CPU."""


_MISSING = {"amp": "tinymm has no automatic mixed precision; train in float32 (the default) or "
                   "float64 (model.double())"}


def __getattr__(name: str):
    raise attribute_error(sys.modules[__name__], name, _MISSING)

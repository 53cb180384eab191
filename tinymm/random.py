"""The one random generator behind default initialisation, dropout masks and shuffling.

``tinymm.random.seed(s)`` (also ``tinymm.nn.init.seed``) reseeds it, so a seeded run draws
the same weights, masks and batch orders every time. Code that draws calls
``default_generator()`` at the moment it draws, so it always sees the current generator.
"""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng(0)


def default_generator() -> np.random.Generator:
    """The generator every default draw uses (replaced by ``seed``)."""
    return _generator


def seed(value: int) -> None:
    """Reseed the default generator."""
    global _generator
    _generator = np.random.default_rng(value)

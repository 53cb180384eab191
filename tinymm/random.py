"""One seeded source of randomness, as ``torch.manual_seed`` / ``torch.Generator``.

``default_generator`` is the one generator behind ``tinymm.rand``, ``randn``, ``randint``,
``randperm``, ``normal``, every ``nn.init`` function (so every layer's initialisation),
dropout masks and ``utils.data.DataLoader`` shuffling; ``manual_seed(s)`` reseeds it in
place, so a seeded program draws the same numbers every run. Functions that draw accept
``generator=`` to use a private ``Generator`` instead.

The streams are NumPy's PCG64, not PyTorch's Mersenne Twister: the same seed gives
reproducible numbers in tinymm, not the numbers torch draws. To start both frameworks from the
same weights, copy a ``state_dict`` across.
"""

from __future__ import annotations

import numpy as np

DEFAULT_SEED = 0


class Generator:
    """A seedable random-number generator (``torch.Generator``); ``.rng`` is the NumPy
    ``numpy.random.Generator`` it draws from."""

    def __init__(self, device: str = "cpu"):
        if str(device) != "cpu":
            raise ValueError(f"Generator: device {device!r} is not supported (only 'cpu')")
        self.device = str(device)
        self.manual_seed(DEFAULT_SEED)

    def manual_seed(self, seed: int) -> Generator:
        seed = int(seed)
        if seed < 0:
            raise ValueError(f"manual_seed: the seed must be a non-negative integer, got {seed}")
        self._seed = seed
        self.rng = np.random.default_rng(seed)
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy; returns the new seed."""
        return self.manual_seed(int(np.random.SeedSequence().entropy % 2**63)).initial_seed()

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> Generator:
        self.rng.bit_generator.state = state
        return self

    def __repr__(self) -> str:
        return f"<tinymm.Generator seed={self._seed}>"


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Reseed the global generator (every draw that is not given ``generator=``)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> dict:
    return default_generator.get_state()


def set_rng_state(state: dict) -> None:
    default_generator.set_state(state)


def rng_of(generator: Generator | None) -> np.random.Generator:
    """The NumPy generator to draw from: ``generator``'s, or the global one's."""
    if generator is None:
        return default_generator.rng
    if not isinstance(generator, Generator):
        raise TypeError(f"generator: expected a tinymm.Generator, got {type(generator).__name__}")
    return generator.rng

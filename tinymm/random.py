"""One seeded source of randomness, as ``torch.manual_seed`` / ``torch.Generator``.

``default_generator`` is the one generator behind ``tinymm.rand``, ``randn``, ``randint``,
``randperm``, ``normal``, every ``nn.init`` function (so every layer's initialisation),
dropout masks, Keras ``fit`` and ``utils.data.DataLoader`` shuffling; ``manual_seed(s)`` (also
``seed(s)`` and ``nn.init.seed(s)``) reseeds it in place, so a seeded program draws the same
numbers every run. Code that draws calls ``default_generator()`` (a Generator called is its
NumPy generator) at the moment it draws. Functions that draw accept ``generator=`` to use a
private ``Generator`` instead.

The streams are NumPy's PCG64, not PyTorch's Mersenne Twister: the same seed gives
reproducible numbers in tinymm, not the numbers torch draws. To start both frameworks from the
same weights, copy a ``state_dict`` across.

Draws for cuda tensors (``device="cuda"``, a ``*_like`` of a cuda tensor, dropout on cuda)
come from the generator's device side: xoroshiro128+ states on the GPU
(``Generator.cuda_states``), written from the seed on the first such draw after each
``manual_seed`` and advanced by every draw, with no host copy. As in PyTorch, the cuda
stream differs from the CPU's (the same seed gives other numbers on each device), and
``get_state``/``set_state`` hold the CPU stream only.
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
        self._cuda_states = None  # the device side, seeded again at its next draw
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy; returns the new seed."""
        return self.manual_seed(int(np.random.SeedSequence().entropy % 2**63)).initial_seed()

    def initial_seed(self) -> int:
        return self._seed

    def __call__(self) -> np.random.Generator:
        """The NumPy generator to draw from now (``g()`` is ``g.rng``)."""
        return self.rng

    def cuda_states(self):
        """The device side's xoroshiro128+ states (a device array, advanced in place by every
        cuda draw), written on the device from this generator's seed on first use."""
        if self._cuda_states is None:
            from tinymm.kernels.numba_cuda import device as cuda_device

            self._cuda_states = cuda_device.random_states(self._seed)
        return self._cuda_states

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


def seed(value: int | None = None) -> int:
    """Reseed the global generator with ``value``, or from the OS's entropy when None
    (``torch.seed()``); returns the seed."""
    if value is None:
        return default_generator.seed()
    return manual_seed(value).initial_seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> dict:
    return default_generator.get_state()


def set_rng_state(state: dict) -> None:
    default_generator.set_state(state)


def generator_of(generator: Generator | None) -> Generator:
    """``generator``, or the global one when None."""
    if generator is None:
        return default_generator
    if not isinstance(generator, Generator):
        raise TypeError(f"generator: expected a tinymm.Generator, got {type(generator).__name__}")
    return generator


def rng_of(generator: Generator | None) -> np.random.Generator:
    """The NumPy generator to draw from: ``generator``'s, or the global one's."""
    return generator_of(generator).rng

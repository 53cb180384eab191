"""The numba backend: ``@njit(cache=True)`` CPU kernels with the reference's names.

Each module here implements some of the CONTRACT's kernels for one stem; a name a module does
not define falls back to the reference backend (``tinymm.backends()`` and ``tinymm info``
list the fallbacks). Kernels are compiled lazily on first call for the argument dtypes
(float32 and float64), then loaded from Numba's on-disk cache in later processes.
"""

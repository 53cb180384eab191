"""One compiled kernel per dtype, for kernels that need constants of their input's dtype.

A kernel body such as ``1 / (1 + z)`` mixes a Python integer with a float32 value, which Numba
types as float64 (NumPy's promotion rule): a float32 kernel would then run its arithmetic in
double precision, at a fraction of the float32 rate on most GPUs, converting back and forth.
The kernels that need such constants are therefore written as ``_make_<name>(dtype)``
factories whose body closes over the Numba scalar type and builds its constants with it
(``one = dtype(1)``, ``neg_inf = dtype(-math.inf)``): every operation stays in the input's
precision. ``per_dtype`` instantiates a factory for float32 and float64, names each body
``<name>_<dtype>`` and returns the compiled kernels (keyed by NumPy dtype) together with their
``PTX_TARGETS`` entries.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, float32, float64

NUMBA_TYPES = {np.dtype(np.float32): float32, np.dtype(np.float64): float64}


def per_dtype(make, signature: str):
    """({numpy dtype: kernel}, [(body, (signature,)), ...]) for ``make(numba_type)``.

    ``signature`` is a Numba signature string with ``{t}`` standing for the float type.
    """
    kernels, targets = {}, []
    for np_dtype, nb_type in NUMBA_TYPES.items():
        body = make(nb_type)
        body.__name__ = f"{make.__name__.removeprefix('_make_')}_{np_dtype.name}"
        targets.append((body, (signature.format(t=nb_type.name),)))
        kernels[np_dtype] = cuda.jit(body)
    return kernels, targets

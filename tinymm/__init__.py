"""tinymm: a small multimodal deep-learning engine in NumPy and Numba.

Start with ``tinymm.tensor``, ``tinymm.F`` (functional ops), ``tinymm.nn`` (layers) and
``tinymm.optim``; ``tinymm.use_backend`` picks the kernels ("reference", "numba", "cuda").
"""

import os as _os

# Numba's OpenMP workers spin-wait after every parallel region, and on a small machine they
# steal the cores that OpenBLAS needs for the GEMM that usually comes next: measured on 2 cores,
# a training step of the seed model took 137 ms with spinning workers and 80 ms with passive
# ones. OpenMP reads this when Numba first starts its thread pool (after this import), so
# setting it here is early enough; a value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as _np  # noqa: E402

from tinymm import functional, keras, nn, optim
from tinymm import functional as F
from tinymm._version import __version__
from tinymm.autograd import AnomalyError, Function, detect_anomaly, no_grad
from tinymm.backend import (
    backends,
    current_backend,
    get_backend,
    set_default_backend,
    use_backend,
)
from tinymm.gradcheck import GradcheckError, GradcheckKinkWarning, gradcheck, gradcheck_report
from tinymm.ops.shape import cat, concat, split, stack
from tinymm.tensor import Tensor, as_tensor, from_numpy, ones, randn, tensor, zeros

float32 = _np.float32
float64 = _np.float64

__all__ = [
    "AnomalyError", "F", "Function", "GradcheckError", "GradcheckKinkWarning", "Tensor",
    "__version__", "as_tensor",
    "backends", "cat", "concat", "current_backend", "detect_anomaly", "from_numpy", "functional",
    "get_backend", "gradcheck", "gradcheck_report", "keras", "nn", "no_grad", "ones", "optim",
    "randn", "set_default_backend", "split", "stack", "tensor", "use_backend", "zeros",
]

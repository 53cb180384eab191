"""tinymm: a small multimodal deep-learning engine in NumPy and Numba.

Start with ``tinymm.tensor``, ``tinymm.F`` (functional ops), ``tinymm.nn`` (layers) and
``tinymm.optim``; ``tinymm.use_backend`` picks the kernels ("reference", "numba", "cuda").
"""

import os as _os

# Numba's OpenMP workers spin-wait after every parallel region, and on a small machine they
# steal the cores that OpenBLAS needs for the GEMM that usually comes next (the measured
# effect on the training step: benchmarks/RESULTS.md, "Design measurements"). OpenMP reads this
# when Numba first starts its thread pool (after this import), so
# setting it here is early enough; a value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import builtins as _builtins  # noqa: E402 - float and int are dtypes here
import sys as _sys  # noqa: E402
import types as _types  # noqa: E402

import numpy as _np  # noqa: E402

import tinymm.nn.functional  # noqa: E402, F401 - the torch.nn.functional path
import tinymm.nn.utils  # noqa: E402, F401
from tinymm import amp, cuda, dtypes, functional, nn, optim, random, utils  # noqa: E402
from tinymm import autograd_api as _autograd_api  # noqa: E402
from tinymm import distributions as distributions  # noqa: E402 - torch.distributions
from tinymm import functional as F  # noqa: E402
from tinymm._version import __version__  # noqa: E402
from tinymm.amp import autocast  # noqa: E402
from tinymm.autograd import (  # noqa: E402
    AnomalyError,
    ArrayFunction,
    Function,
    detect_anomaly,
    is_grad_enabled,
    no_grad,
)
from tinymm.backend import (  # noqa: E402
    backends,
    current_backend,
    get_backend,
    set_default_backend,
    use_backend,
)
from tinymm.devices import device  # noqa: E402
from tinymm.dtypes import (  # noqa: E402
    bool,  # noqa: F401 - tinymm.bool (left out of __all__: it would shadow builtins)
    double,
    dtype,
    float,  # noqa: F401
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int,  # noqa: F401
    int8,
    int16,
    int32,
    int64,
    long,
    promote_types,
    set_default_dtype,
    short,
    uint8,
)
from tinymm.factories import (  # noqa: E402
    arange,
    bernoulli,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    linspace,
    multinomial,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    zeros,
    zeros_like,
)
from tinymm.gradcheck import (  # noqa: E402
    GradcheckError,
    GradcheckKinkWarning,
    gradcheck,
    gradcheck_report,
)
from tinymm.missing import TOP as _MISSING  # noqa: E402
from tinymm.missing import attribute_error as _attribute_error  # noqa: E402
from tinymm.ops.bucketing import bucketize, histc, searchsorted  # noqa: E402
from tinymm.ops.einsum import einsum  # noqa: E402
from tinymm.ops.shape import cat, concat, split, stack  # noqa: E402
from tinymm.printing import set_printoptions  # noqa: E402
from tinymm.random import (  # noqa: E402
    Generator,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)
from tinymm.serialization import load, save  # noqa: E402
from tinymm.settings import *  # noqa: E402, F403 - torch.compile, set_num_threads, ...
from tinymm.settings import __all__ as _SETTINGS  # noqa: E402
from tinymm.tensor import (  # noqa: E402
    Size,
    Tensor,
    as_tensor,
    from_numpy,
    tensor,
    where,
)
from tinymm.tensor_types import *  # noqa: E402, F403
from tinymm.tensor_types import __all__ as _TYPES  # noqa: E402
from tinymm.torch_functions import *  # noqa: E402, F403
from tinymm.torch_functions import __all__ as _FUNCTIONS  # noqa: E402

for _name in _autograd_api.__all__:  # torch.autograd.Variable, backward, gradcheck, ...
    setattr(_autograd_api.autograd, _name, getattr(_autograd_api, _name))

# ``torch.backends.mps.is_available()`` / ``torch.backends.cudnn`` are asked by device-picking
# code; tinymm.backends is the kernel-backend list, so the answers hang off it.
cuda.amp = amp.cuda_amp
backends.mps = _types.SimpleNamespace(is_available=lambda: False, is_built=lambda: False)
backends.cudnn = _types.SimpleNamespace(deterministic=True, benchmark=False,
                                        is_available=lambda: False, enabled=False)


def finfo(type=None):  # noqa: A002 - PyTorch's argument name
    """Machine limits of a float dtype (default: the default dtype) as ``torch.finfo``: eps,
    max, min, tiny, smallest_normal and resolution as Python floats, bits an int."""
    limits = _np.finfo(get_default_dtype() if type is None else type)
    values = {name: _builtins.float(getattr(limits, name)) for name in
              ("eps", "max", "min", "tiny", "smallest_normal", "resolution")}
    return _types.SimpleNamespace(bits=_builtins.int(limits.bits), dtype=str(limits.dtype),
                                  **values)


def iinfo(type):  # noqa: A002
    """Limits of an integer dtype: max, min, bits, as ``torch.iinfo``."""
    return _np.iinfo(type)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def is_floating_point(input) -> bool:  # noqa: A002 - PyTorch's argument name
    return as_tensor(input).is_floating_point()


def __getattr__(name: str):
    if name == "keras":  # the Keras front end, imported on first use: ``tinymm train`` and
        import importlib  # PyTorch-style programs start without its import time

        return importlib.import_module("tinymm.keras")
    raise _attribute_error(_sys.modules[__name__], name, _MISSING)


__all__ = [
    "AnomalyError", "ArrayFunction", "F", "Function", "Generator", "GradcheckError",
    "GradcheckKinkWarning",
    "Size", "Tensor", "__version__",
    "amp", "arange", "as_tensor", "autocast", "backends", "bernoulli", "cat", "concat", "cuda",
    "current_backend",
    "default_generator", "detect_anomaly", "device", "double", "dtype", "dtypes", "einsum", "empty",
    "empty_like", "eye", "finfo", "float16", "float32", "float64", "from_numpy", "full",
    "full_like",
    "functional", "get_backend", "get_default_dtype", "get_rng_state", "gradcheck",
    "gradcheck_report", "half", "iinfo", "initial_seed", "int8", "int16", "int32", "int64",
    "is_floating_point", "is_grad_enabled", "is_tensor", "linspace", "load", "long",
    "manual_seed",
    "multinomial", "nn", "no_grad", "normal", "ones", "ones_like", "optim", "promote_types", "rand",
    "rand_like", "randint", "randint_like", "randn", "randn_like", "random", "randperm", "save",
    "seed", "set_default_backend", "set_default_dtype", "set_printoptions", "set_rng_state",
    "short", "split", "stack", "tensor", "uint8",
    "use_backend", "utils", "where", "zeros", "zeros_like",
    "bucketize", "histc", "searchsorted",
    *_FUNCTIONS, *_TYPES, *_SETTINGS,
]

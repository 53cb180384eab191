"""``Tensor``: an array plus what reverse-mode autodiff needs to know about it.

A Tensor holds ``array`` (its storage: a NumPy array on the "cpu" device), ``grad`` (a Tensor
of the same shape once backward has reached it), ``requires_grad``, and, when an op produced it
while recording, ``_node``: the ``Context`` of that op (see ``autograd.py``). Every method that
computes something is a thin call into an op in ``tinymm/ops``; the Tensor itself knows no
math.

Numerics follow PyTorch: Python floats become float32, Python ints int64, NumPy arrays keep
their dtype, and a Python scalar in ``x * 2.0`` takes ``x``'s dtype instead of promoting it.
As in PyTorch, ``t.data`` is a Tensor that shares ``t``'s storage but is cut off from the graph,
and ``t.grad`` is a Tensor; the raw arrays are ``t.array`` and ``t.grad.array`` (``.numpy()``
is the user-facing way out).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinymm.autograd import run_backward

_FLOAT_DTYPES = (np.float32, np.float64)


def _as_array(data: Any, dtype=None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.array
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, np.generic):
        return np.asarray(data)
    array = np.asarray(data)
    if array.dtype == np.float64:  # Python floats: PyTorch's default dtype is float32
        array = array.astype(np.float32)
    elif array.dtype.kind in "iu":
        array = array.astype(np.int64)
    return array


class Tensor:
    """An n-dimensional array that can record the ops applied to it."""

    __array_priority__ = 1000  # make ndarray + Tensor call Tensor.__radd__

    def __init__(self, data: Any, requires_grad: bool = False, dtype=None, device: str = "cpu",
                 _copy: bool = True):
        if device != "cpu":
            raise ValueError(f"Tensor: device '{device}' is not supported yet (only 'cpu')")
        array = _as_array(data, dtype)
        if _copy and isinstance(data, np.ndarray) and array is data:
            array = array.copy()
        if requires_grad and array.dtype.type not in _FLOAT_DTYPES:
            raise TypeError(
                f"Tensor: only float32/float64 tensors can require gradients, got {array.dtype}"
            )
        self.array: np.ndarray = array  # the storage; ops receive it, never the Tensor
        self._grad: Tensor | None = None
        self.requires_grad = bool(requires_grad)
        self.device = device
        self._node = None  # the Context of the op that made this tensor (None for leaves)
        self._out_index = 0  # which output of that op this tensor is
        self._retains_grad = False
        self.name: str | None = None  # optional, used in error messages (gradcheck, nn)

    # ---------------------------------------------------------------- storage and gradient
    @property
    def data(self) -> Tensor:
        """This tensor's values as a new leaf that shares its storage (PyTorch's ``.data``)."""
        return Tensor(self.array, _copy=False)

    @data.setter
    def data(self, value: Any) -> None:
        array = value.array if isinstance(value, Tensor) else np.asarray(value)
        if array.shape != self.shape:
            raise ValueError(f"Tensor.data: the new data has shape {array.shape}, expected "
                             f"{self.shape}; create a new tensor to change the shape")
        self.array = array

    @property
    def grad(self) -> Tensor | None:
        """d(loss)/d(self) as a Tensor once backward has reached this tensor, else None."""
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is not None:
            value = value if isinstance(value, Tensor) else Tensor(value, _copy=False)
            if value.shape != self.shape:
                raise ValueError(f"Tensor.grad: assigned gradient has shape {value.shape}, "
                                 f"expected {self.shape} (the tensor's shape)")
        self._grad = value

    # ---------------------------------------------------------------- basic properties
    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def size(self) -> int:
        return self.array.size

    @property
    def T(self) -> Tensor:
        return self.transpose()

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    def numel(self) -> int:
        return int(self.array.size)

    def __len__(self) -> int:
        return len(self.array)

    def numpy(self) -> np.ndarray:
        if self.requires_grad:
            raise RuntimeError(
                "Tensor.numpy(): this tensor requires grad; call .detach().numpy() so the "
                "array cannot be changed behind autograd's back"
            )
        return self.array

    def item(self) -> float:
        if self.array.size != 1:
            raise ValueError(f"Tensor.item(): needs exactly one element, got shape {self.shape}")
        return self.array.item()

    def tolist(self):
        return self.array.tolist()

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self.array, precision=4, separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{grad})"

    def __array__(self, dtype=None, copy=None):
        return self.array if dtype is None else self.array.astype(dtype)

    # ---------------------------------------------------------------- autograd
    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Backpropagate from this tensor; ``gradient`` is d(loss)/d(self)."""
        if not self.requires_grad:
            raise RuntimeError(
                "backward(): this tensor does not require grad, so there is no graph to walk. "
                "Create the inputs with requires_grad=True (or use nn.Parameter), and do not "
                "compute it inside no_grad() or from .detach()ed tensors."
            )
        if gradient is None:
            if self.array.size != 1:
                raise RuntimeError(
                    f"backward(): grad can be implicitly created only for scalar outputs; this "
                    f"tensor has shape {self.shape}. Pass gradient=<array of that shape> (the "
                    "upstream gradient), or reduce it first, e.g. y.sum().backward()"
                )
            grad = np.ones(self.shape, dtype=self.dtype)
        else:
            grad = np.asarray(gradient.array if isinstance(gradient, Tensor) else gradient,
                              dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(
                    f"backward(): gradient has shape {grad.shape}, expected {self.shape} "
                    "(the shape of the tensor backward is called on)"
                )
        run_backward(self, grad, retain_graph=retain_graph)

    def _accumulate(self, g: np.ndarray) -> None:
        if self._grad is None:  # our own copy: safe to add into
            self._grad = Tensor(np.array(g, dtype=self.dtype, copy=True), _copy=False)
        else:
            self._grad.array += g  # in place: no fresh (page-faulting) array per accumulation

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        self._retains_grad = True

    def zero_grad(self) -> None:
        self._grad = None

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut off from the graph."""
        return Tensor(self.array, requires_grad=False, _copy=False)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if flag and self.dtype.type not in _FLOAT_DTYPES:
            raise TypeError(f"requires_grad_(): only float tensors can require grad, got "
                            f"{self.dtype}")
        self.requires_grad = flag
        return self

    def astype(self, dtype) -> Tensor:
        return _E.Cast.apply(self, dtype=np.dtype(dtype))

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    # ---------------------------------------------------------------- arithmetic
    def _wrap(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (int, float, bool)) and self.dtype.kind == "f":
            return Tensor(np.asarray(other, dtype=self.dtype), _copy=False)
        return Tensor(other, _copy=False)

    def __add__(self, other): return _E.Add.apply(self, self._wrap(other))
    def __radd__(self, other): return _E.Add.apply(self._wrap(other), self)
    def __sub__(self, other): return _E.Sub.apply(self, self._wrap(other))
    def __rsub__(self, other): return _E.Sub.apply(self._wrap(other), self)
    def __mul__(self, other): return _E.Mul.apply(self, self._wrap(other))
    def __rmul__(self, other): return _E.Mul.apply(self._wrap(other), self)
    def __truediv__(self, other): return _E.Div.apply(self, self._wrap(other))
    def __rtruediv__(self, other): return _E.Div.apply(self._wrap(other), self)
    def __neg__(self): return _E.Neg.apply(self)
    def __matmul__(self, other): return _MM.matmul(self, self._wrap(other))
    def __rmatmul__(self, other): return _MM.matmul(self._wrap(other), self)

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor):
            return _E.PowTensor.apply(self, exponent)
        return _E.Pow.apply(self, exponent=float(exponent))

    def __rpow__(self, base):
        return _E.PowTensor.apply(self._wrap(base), self)

    # comparisons: plain results, no gradient
    def _compare(self, other, op) -> Tensor:
        other = other.array if isinstance(other, Tensor) else other
        return Tensor(op(self.array, other), _copy=False)

    def __lt__(self, other): return self._compare(other, np.less)
    def __le__(self, other): return self._compare(other, np.less_equal)
    def __gt__(self, other): return self._compare(other, np.greater)
    def __ge__(self, other): return self._compare(other, np.greater_equal)
    def __eq__(self, other): return self._compare(other, np.equal)  # elementwise, as PyTorch
    def __ne__(self, other): return self._compare(other, np.not_equal)
    eq, ne = __eq__, __ne__

    __hash__ = object.__hash__  # usable as dict keys by identity, as PyTorch's tensors are

    def __bool__(self) -> bool:
        if self.array.size != 1:
            raise RuntimeError(f"bool(): the truth value of a tensor with {self.array.size} "
                               "elements is ambiguous; use .any() or .all()")
        return bool(self.array.item())

    # ---------------------------------------------------------------- elementwise math
    def exp(self): return _E.Exp.apply(self)
    def log(self): return _E.Log.apply(self)
    def sqrt(self): return _E.Sqrt.apply(self)
    def abs(self): return _E.Abs.apply(self)
    def relu(self): return _ACT.relu(self)
    def sigmoid(self): return _ACT.sigmoid(self)
    def tanh(self): return _ACT.tanh(self)

    def clamp(self, min=None, max=None):  # noqa: A002 - PyTorch's argument names
        return _E.Clamp.apply(self, low=min, high=max)

    # ---------------------------------------------------------------- reductions
    def sum(self, axis=None, keepdims: bool = False):
        return _R.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False):
        return _R.Mean.apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims: bool = False):
        return _R.Max.apply(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None) -> Tensor:
        if axis is not None:
            axis = check_dim("argmax", "axis", axis, self.ndim) if self.ndim else None
        if self.array.size == 0:
            raise ValueError(f"argmax: cannot take the argmax of an empty tensor of shape "
                             f"{self.shape}")
        return Tensor(np.argmax(self.array, axis=axis), _copy=False)

    # ---------------------------------------------------------------- shapes
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _S.Reshape.apply(self, shape=tuple(shape))

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        start = check_dim("flatten", "start_dim", start_dim, self.ndim)
        end = check_dim("flatten", "end_dim", end_dim, self.ndim)
        if start > end:
            raise ValueError(f"flatten: start_dim={start_dim} comes after end_dim={end_dim} "
                             f"for a tensor of shape {self.shape}")
        if self.ndim == 0:
            return self.reshape((1,))
        merged = int(np.prod(self.shape[start:end + 1], dtype=np.int64))  # no -1: zero-size
        return self.reshape(self.shape[:start] + (merged,) + self.shape[end + 1:])

    def permute(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _S.Permute.apply(self, axes=tuple(axes))

    def transpose(self, dim0: int = -2, dim1: int = -1):
        if self.ndim < 2 and (dim0, dim1) == (-2, -1):
            return self  # the default on a vector or a scalar: nothing to swap
        dim0 = check_dim("transpose", "dim0", dim0, self.ndim)
        dim1 = check_dim("transpose", "dim1", dim1, self.ndim)
        if self.ndim < 2:
            return self
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return self.permute(axes)

    def unsqueeze(self, dim: int):
        dim = check_dim("unsqueeze", "dim", dim, self.ndim, extra=1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim: int | None = None):
        if dim is None:
            return self.reshape(tuple(s for s in self.shape if s != 1))
        dim = check_dim("squeeze", "dim", dim, self.ndim)
        if self.ndim == 0 or self.shape[dim] != 1:
            return self
        return self.reshape(self.shape[:dim] + self.shape[dim + 1:])

    def __getitem__(self, index):
        if isinstance(index, Tensor):
            index = index.array
        elif isinstance(index, tuple):
            index = tuple(i.array if isinstance(i, Tensor) else i for i in index)
        return _S.GetItem.apply(self, index=index)

    def split(self, split_size_or_sections, axis: int = 0):
        return _S.split(self, split_size_or_sections, axis=axis)


def tensor(data: Any, requires_grad: bool = False, dtype=None) -> Tensor:
    """Create a leaf Tensor (copies ``data``), like ``torch.tensor``."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def from_numpy(array: np.ndarray, requires_grad: bool = False) -> Tensor:
    """A Tensor that shares ``array``'s memory (no copy), like ``torch.from_numpy``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy(): expected a numpy.ndarray, got {type(array).__name__}; "
                        "use tinymm.tensor(data) to copy other data into a tensor")
    return Tensor(array, requires_grad=requires_grad, _copy=False)


def as_tensor(data: Any, dtype=None) -> Tensor:
    """``data`` itself if it is a Tensor, else a Tensor sharing its memory where it can
    (``torch.as_tensor``): NumPy arrays are not copied; lists and scalars are converted."""
    if isinstance(data, Tensor):
        return data if dtype is None or data.dtype == np.dtype(dtype) else data.astype(dtype)
    return Tensor(data, dtype=dtype, _copy=False)


_wrap_factory = from_numpy


def zeros(*shape, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return _wrap_factory(np.zeros(shape, dtype=dtype), requires_grad)


def ones(*shape, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return _wrap_factory(np.ones(shape, dtype=dtype), requires_grad)


def randn(*shape, dtype=np.float32, requires_grad: bool = False, rng=None) -> Tensor:
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    rng = rng if rng is not None else np.random.default_rng()
    return _wrap_factory(rng.standard_normal(shape).astype(dtype), requires_grad)


# The ops build on Tensor, so they are imported last to close the cycle.
from tinymm.ops import activation as _ACT  # noqa: E402
from tinymm.ops import elementwise as _E  # noqa: E402
from tinymm.ops import matmul as _MM  # noqa: E402
from tinymm.ops import reduction as _R  # noqa: E402
from tinymm.ops import shape as _S  # noqa: E402
from tinymm.ops._checks import check_dim  # noqa: E402

"""``Tensor``: an array plus what reverse-mode autodiff needs to know about it.

A Tensor holds ``array`` (its storage: a NumPy array on the "cpu" device, a numba-cuda device
array on "cuda", where ops run on the cuda kernels), ``grad`` (a Tensor
of the same shape once backward has reached it), ``requires_grad``, ``device`` (a
``tinymm.device``), and, when an op produced it while recording, ``_node``: the ``Context`` of
that op (see ``autograd.py``). Every method that computes something is a thin call into an op
in ``tinymm/ops``; the Tensor itself knows no math.

Numerics follow PyTorch: Python floats become float32, Python ints int64, NumPy arrays keep
their dtype, and binary ops promote as ``torch.result_type`` does (``tinymm/dtypes.py``: a
float32 tensor times an int64 tensor or a Python float stays float32; int / int is float32).
As in PyTorch, ``t.data`` is a Tensor that shares ``t``'s storage but is cut off from the graph,
and ``t.grad`` is a Tensor; the raw arrays are ``t.array`` and ``t.grad.array`` (``.numpy()``
is the user-facing way out).

In-place ops (``add_``, ``mul_``, ``zero_``, ``copy_``, ``clamp_``, ``x += y``, ``x[i] = v``,
...) write into the storage, so every view of it sees the change, and add one to the tensor's
version counter (``_version``, shared with its views and ``detach()``ed copies, not with
``.data``: PyTorch's rules). They are allowed under ``no_grad`` and on tensors that are not
leaves requiring grad. Inside a recorded graph the op is recorded like its out-of-place twin
(the old values are kept for its backward). An op that saved a tensor for its backward records
the tensor's version; backward through it after an in-place change raises PyTorch's error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinymm import dtypes as _dt
from tinymm.autograd import (
    ArrayFunction,
    GradFn,
    RemovableHandle,
    is_grad_enabled,
    no_grad,
    run_backward,
)
from tinymm.backend import current_backend, get_backend
from tinymm.devices import CPU, as_device
from tinymm.kernels.numba_cuda import device as _cuda
from tinymm.printing import tensor_repr

_FLOAT_DTYPES = (np.float32, np.float64)
_SCALARS = (bool, int, float)
_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor",
               "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}


class Size(tuple):
    """A tensor's shape, a tuple (``torch.Size``) that prints as PyTorch's does:
    ``torch.Size([2, 3])``."""

    def numel(self) -> int:
        return int(np.prod(self, dtype=np.int64))

    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"

    def __getitem__(self, key):
        item = tuple.__getitem__(self, key)
        return Size(item) if isinstance(key, slice) else item  # x.shape[1:] is a Size too

    def __add__(self, other):
        return Size(tuple.__add__(self, tuple(other)))  # shape[:1] + (4,) stays a Size

    def __radd__(self, other):
        return Size(tuple(other) + tuple(self))

    def __mul__(self, times):
        return Size(tuple.__mul__(self, times))

    __rmul__ = __mul__


class _SizeOf(int):
    """The element count that can also be called: ``x.size()`` / ``x.size(dim)``."""

    def __new__(cls, tensor: Tensor):
        out = super().__new__(cls, tensor.array.size)
        out._tensor = tensor
        return out

    def __call__(self, dim: int | None = None):
        shape = self._tensor.array.shape
        if dim is None:
            return Size(shape)
        return shape[self._tensor._dim(dim, "size")]


def _as_array(data: Any, dtype=None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.array
    elif isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in data):
        data = [d.array if isinstance(d, Tensor) else d for d in data]
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, np.generic):
        return np.asarray(data)
    array = np.asarray(data)
    if array.dtype == np.float64:  # Python floats: the default dtype (float32 unless set)
        array = array.astype(_dt.DEFAULT_FLOAT)
    elif array.dtype.kind in "iu":
        array = array.astype(np.int64)
    return array


def shape_args(shape) -> tuple[int, ...]:
    """``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])`` all mean shape (2, 3)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def _pick(dim, axis, keepdim, keepdims):
    """PyTorch's ``dim``/``keepdim`` or NumPy's ``axis``/``keepdims`` (both accepted)."""
    return (axis if dim is None else dim), bool(keepdim if keepdims is None else keepdims)


def legacy_array(who: str, dtype, args: tuple) -> np.ndarray:
    """The array PyTorch's legacy constructors (``torch.Tensor``, ``torch.FloatTensor``, ...)
    build from their arguments: none -> empty (0,); sizes as ints or one ``Size`` -> zeros of
    that shape (``Size([])``: 0-d); one list, tuple or array of data -> a copy as ``dtype``."""
    if not args:
        return np.zeros(0, dtype)
    if len(args) == 1 and isinstance(args[0], Size):
        args = tuple(args[0])
    if all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
        return np.zeros(tuple(int(a) for a in args), dtype)
    if len(args) == 1 and isinstance(args[0], np.ndarray):
        return np.array(args[0], dtype=dtype)
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        return _as_array(args[0], dtype)  # a new array (the elements may be Tensors)
    got = ", ".join(type(a).__name__ for a in args)
    raise TypeError(f"{who}(): expected a sequence or array of data, or sizes as ints, got "
                    f"{got}; tinymm.tensor(x) makes a tensor from a scalar")


class _ToDevice(ArrayFunction):
    """Copy to the other device (one counted host<->device transfer); backward copies the
    gradient back, so ``x.to("cuda")`` inside a graph is differentiable, as in PyTorch."""

    crosses_devices = True

    @staticmethod
    def forward(ctx, x, device: str):
        on_cuda = _cuda.is_device_array(x)
        ctx.save_for_backward(on_cuda)
        if device == "cuda":
            return x if on_cuda else _cuda.to_device(x)
        return _cuda.to_host(x) if on_cuda else x

    @staticmethod
    def backward(ctx, grad):
        (source_on_cuda,) = ctx.saved
        if source_on_cuda == _cuda.is_device_array(grad):
            return (grad,)
        return (_cuda.to_device(grad) if source_on_cuda else _cuda.to_host(grad),)


class Tensor:
    """An n-dimensional array that can record the ops applied to it."""

    __array_priority__ = 1000  # make ndarray + Tensor call Tensor.__radd__

    # What every tensor starts as: the constructors set only array, device, the version box
    # and (when asked) requires_grad; the rest is set when autograd or the user changes it.
    _grad: Tensor | None = None
    requires_grad = False
    _node = None  # the Context of the op that made this tensor (None for leaves)
    _out_index = 0  # which output of that op this tensor is
    _retains_grad = False
    _base: Tensor | None = None  # for a view made by an op: the tensor it views
    _stale_by: str | None = None  # a recorded in-place op changed it through a view
    name: str | None = None  # optional, used in error messages (gradcheck, nn)
    _hooks: dict | None = None  # gradient hooks (register_hook), by handle id

    def __init__(self, *data: Any, device=None, requires_grad: bool = False, dtype=None):
        """``torch.Tensor``'s constructor (the default float type's, as ``FloatTensor``):
        ``Tensor([1, 2])`` copies the data as the default float dtype (float32 unless
        ``set_default_dtype`` changed it), whatever the data's own dtype; ``Tensor(2, 3)`` or
        ``Tensor(size)`` is a new zero-filled tensor of that shape (PyTorch leaves it
        uninitialised); ``Tensor()`` is empty; ``Tensor(tensor)`` shares that tensor's
        storage. ``dtype`` and ``requires_grad`` are tinymm's additions (PyTorch's
        constructor refuses them). ``tinymm.tensor(data)`` keeps the data's dtype."""
        source = data[0] if len(data) == 1 else None
        if isinstance(source, Tensor) or _cuda.is_device_array(source):
            array = source.array if isinstance(source, Tensor) else source
        else:
            array = legacy_array("Tensor", _dt.DEFAULT_FLOAT if dtype is None else dtype, data)
        if dtype is not None and array.dtype != _dt.as_numpy(dtype):
            if _cuda.is_device_array(array):
                raise TypeError(f"Tensor: a cuda array of dtype {array.dtype} cannot be "
                                f"converted to {_dt.as_numpy(dtype)} here; use .to(dtype)")
            array = array.astype(dtype)
        if device is not None:  # a counted copy when the data is on the other device
            to_cuda = as_device(device, "Tensor").type == "cuda"
            if _cuda.is_device_array(array) != to_cuda:
                array = _cuda.to_device(array) if to_cuda else _cuda.to_host(array)
        self._adopt(array, requires_grad)
        if isinstance(source, Tensor) and array is source.array:  # an alias, as in PyTorch
            self._version_box = source._version_box

    def _adopt(self, array, requires_grad: bool) -> None:
        """Make ``array`` (a NumPy array or a numba-cuda device array, used as it is) this
        tensor's storage."""
        self.array = array  # the storage; ops receive it, never the Tensor
        self.device = CPU if type(array) is np.ndarray else as_device(
            "cuda" if _cuda.is_device_array(array) else "cpu", "Tensor")
        self._version_box = [0]  # shared by views of the same storage; bumped by in-place ops
        if requires_grad:
            if array.dtype.type not in _FLOAT_DTYPES:
                raise TypeError(f"Tensor: only float32/float64 tensors can require gradients, "
                                f"got {array.dtype}")
            self.requires_grad = True

    @classmethod
    def _make(cls, array, requires_grad: bool = False) -> Tensor:
        """A tensor over ``array`` with no copy: how tinymm builds the results of its ops
        (NumPy and device arrays are used as they are; anything else is converted as
        ``tinymm.tensor`` converts it). The public constructor's parsing is not on this
        path."""
        out = object.__new__(cls)
        if type(array) is not np.ndarray and not _cuda.is_device_array(array):
            array = _as_array(array)
        out._adopt(array, requires_grad)
        return out

    # ---------------------------------------------------------------- storage and gradient
    @property
    def data(self) -> Tensor:
        """This tensor's values as a new leaf that shares its storage (PyTorch's ``.data``:
        in-place changes through it are not seen by the version counter)."""
        return Tensor._make(self.array)

    @data.setter
    def data(self, value: Any) -> None:
        array = value.array if isinstance(value, Tensor) else np.asarray(value)
        if _cuda.is_device_array(array) != self.is_cuda:
            raise RuntimeError(f"Tensor.data: the new data is on another device than this "
                               f"{self.device} tensor; move it with .to('{self.device}') first")
        if tuple(array.shape) != tuple(self.shape):
            raise ValueError(f"Tensor.data: the new data has shape {array.shape}, expected "
                             f"{tuple(self.shape)}; create a new tensor to change the shape")
        self.array = array

    @property
    def grad(self) -> Tensor | None:
        """d(loss)/d(self) as a Tensor once backward has reached this tensor, else None."""
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is not None:
            value = value if isinstance(value, Tensor) else Tensor._make(value)
            if value.shape != self.shape:
                raise ValueError(f"Tensor.grad: assigned gradient has shape {value.shape}, "
                                 f"expected {tuple(self.shape)} (the tensor's shape)")
        self._grad = value

    @property
    def _version(self) -> int:
        return self._version_box[0]

    # ---------------------------------------------------------------- basic properties
    @property
    def shape(self) -> Size:
        return Size(self.array.shape)

    @property
    def size(self) -> _SizeOf:
        """``x.size()`` is the ``Size`` and ``x.size(dim)`` one dimension's length (PyTorch);
        plain ``x.size`` is still the element count (NumPy's attribute, used across tinymm)."""
        return _SizeOf(self)

    @property
    def dtype(self) -> _dt.dtype:
        """The ``tinymm.dtype`` (``x.dtype is tinymm.float32``); ``x.array.dtype`` is NumPy's."""
        return _dt.of(self.array.dtype)

    @property
    def ndim(self) -> int:
        return self.array.ndim

    def dim(self) -> int:
        return self.array.ndim

    ndimension = dim

    @property
    def T(self) -> Tensor:
        return self.transpose()

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def numel(self) -> int:
        return int(self.array.size)

    nelement = numel

    @property
    def nbytes(self) -> int:
        return int(self.numel() * self.element_size())

    @property
    def mT(self) -> Tensor:  # noqa: N802 - PyTorch's name
        """The last two dims swapped (a batch of matrices transposed)."""
        return self.transpose(-2, -1)

    def is_contiguous(self) -> bool:
        flags = getattr(self.array, "flags", None)
        if flags is None:  # a device array
            return bool(self.array.is_c_contiguous())
        return bool(flags["C_CONTIGUOUS"])

    def stride(self, dim: int | None = None):
        """Steps between neighbours along each dim, in elements (PyTorch's ``stride()``)."""
        steps = tuple(int(s) // self.element_size() for s in self.array.strides)
        return steps if dim is None else steps[self._dim(dim, "stride")]

    def element_size(self) -> int:
        return int(self.array.itemsize)

    def is_floating_point(self) -> bool:
        return self.array.dtype.kind == "f"

    def __len__(self) -> int:
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return int(self.array.shape[0])

    def _host_only(self, what: str) -> None:
        if self.is_cuda:
            raise TypeError(f"{what}: this tensor is on the cuda device; call .cpu() first "
                            "to copy it to host memory (one counted transfer), as in PyTorch")

    def _host_values(self) -> np.ndarray:
        """The values as a NumPy array: the storage on the cpu, a counted copy from cuda."""
        return _cuda.to_host(self.array) if self.is_cuda else self.array

    def __iter__(self):
        if self.array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(len(self.array)):
            yield self[i]

    def numpy(self) -> np.ndarray:
        self._host_only("Tensor.numpy()")
        if self.requires_grad:
            raise RuntimeError(
                "Tensor.numpy(): this tensor requires grad; call .detach().numpy() so the "
                "array cannot be changed behind autograd's back"
            )
        return self.array

    def item(self):
        if self.array.size != 1:
            raise ValueError(f"Tensor.item(): needs exactly one element, got shape "
                             f"{tuple(self.shape)}")
        return self._host_values().item()

    def tolist(self):
        return self._host_values().tolist()

    def __repr__(self) -> str:
        """PyTorch's print (``tinymm/printing.py``): the dtype is named unless it is the
        default float, int64 or bool; then ``grad_fn=<...>`` for an op's result or
        ``requires_grad=True`` for a leaf."""
        if self._node is not None:
            grad = f"grad_fn=<{self.grad_fn.name()}>"
        else:
            grad = "requires_grad=True" if self.requires_grad else None
        dtype, default = self.array.dtype, _dt.DEFAULT_FLOAT
        implied = dtype == default or dtype == np.int64 or dtype == np.bool_
        return tensor_repr(self._host_values(), str(self.dtype), implied, dtype == default,
                           "cuda:0" if self.is_cuda else None, grad)

    def __format__(self, spec: str) -> str:
        if spec and self.array.size == 1:
            return format(self.array.item(), spec)  # f"{loss:.4f}", as torch
        return format(repr(self), spec)

    def __array__(self, dtype=None, copy=None):
        """NumPy's protocol: ``np.asarray(t)`` shares the storage, ``np.array(t)`` (copy=True)
        gets a copy, as NumPy asks of every ``__array__`` that takes ``copy``."""
        self._host_only("np.asarray(tensor)")
        array = self.array if dtype is None else self.array.astype(dtype)
        return array.copy() if copy and array is self.array else array

    def _dim(self, dim: int, who: str) -> int:
        return check_dim(who, "dim", dim, self.ndim)  # DimensionError: IndexError + ValueError

    # ---------------------------------------------------------------- scalars out
    def _one(self, who: str):
        if self.array.size != 1:
            raise RuntimeError(f"{who}: only a one-element tensor can be converted to a Python "
                               f"scalar, this one has shape {tuple(self.shape)}")
        return self._host_values().item()

    def __bool__(self) -> bool:
        if self.array.size != 1:
            raise RuntimeError(f"bool(): the truth value of a tensor with {self.array.size} "
                               "elements is ambiguous; use .any() or .all()")
        return bool(self._host_values().item())

    def __float__(self) -> float:
        return float(self._one("float()"))

    def __int__(self) -> int:
        return int(self._one("int()"))

    def __index__(self) -> int:
        if self.array.dtype.kind not in "iub":
            raise TypeError(f"only integer tensors of a single element can be converted to an "
                            f"index, got dtype {self.dtype}")
        return int(self._one("__index__"))

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
                    f"tensor has shape {tuple(self.shape)}. Pass gradient=<array of that shape> "
                    "(the upstream gradient), or reduce it first, e.g. y.sum().backward()"
                )
            dtype = self.array.dtype
            grad = get_backend("cuda").full(tuple(self.shape), 1, dtype) if self.is_cuda \
                else np.ones(self.shape, dtype=dtype)
        else:
            grad = gradient.array if isinstance(gradient, Tensor) else gradient
            if not _cuda.is_device_array(grad):
                grad = np.asarray(grad, dtype=self.array.dtype)
                if self.is_cuda:
                    grad = _cuda.to_device(grad)
            elif not self.is_cuda:
                raise RuntimeError("backward(): the gradient is on the cuda device and this "
                                   "tensor on the cpu; move the gradient with .cpu()")
            if tuple(grad.shape) != tuple(self.shape):
                raise ValueError(
                    f"backward(): gradient has shape {grad.shape}, expected {tuple(self.shape)} "
                    "(the shape of the tensor backward is called on)"
                )
        run_backward(self, grad, retain_graph=retain_graph)

    def _accumulate(self, g: np.ndarray) -> None:
        if self._grad is None:  # our own copy: safe to add into
            self._grad = Tensor._make(
                get_backend("cuda").cast_forward(g, self.array.dtype)[0] if self.is_cuda
                else np.array(g, dtype=self.array.dtype, copy=True))
            return
        # in place (as PyTorch's .grad): no fresh (page-faulting) array per accumulation
        backend = get_backend("cuda") if self.is_cuda else current_backend()
        if backend.name == "cuda" and not self.is_cuda:  # a host tensor under use_backend
            backend = get_backend("reference")
        backend.accumulate(self._grad.array, g)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        self._retains_grad = True

    def zero_grad(self) -> None:
        self._grad = None

    def register_hook(self, hook) -> RemovableHandle:
        """Call ``hook(grad)`` with this tensor's gradient during backward (the total over
        every path), before it reaches ``.grad`` (a leaf) or the ops below (a non-leaf); a
        returned tensor replaces the gradient. ``handle.remove()`` unregisters it."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not "
                               "require grad; create it with requires_grad=True")
        if getattr(self, "_hooks", None) is None:  # (a tensor unpickled from before hooks)
            self._hooks = {}
            if self._node is not None:  # the node applies them to this output's gradient
                if self._node.output_hooks is None:
                    self._node.output_hooks = {}
                self._node.output_hooks[self._out_index] = self._hooks
        handle = RemovableHandle(self._hooks)
        self._hooks[handle.id] = hook
        return handle

    @property
    def grad_fn(self) -> GradFn | None:
        """The op that made this tensor (``grad_fn.name()``), None for a leaf."""
        return None if self._node is None else GradFn(self._node)

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data (and version counter), cut off from the
        graph."""
        out = Tensor._make(self.array, requires_grad=False)
        out._version_box = self._version_box
        return out

    def detach_(self) -> Tensor:
        self._node, self.requires_grad = None, False
        return self

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if flag and self.array.dtype.type not in _FLOAT_DTYPES:
            raise TypeError(f"requires_grad_(): only float tensors can require grad, got "
                            f"{self.dtype}")
        if not flag and not self.is_leaf:
            raise RuntimeError("requires_grad_(False): only leaf tensors can stop requiring "
                               "grad; use .detach() for a non-leaf")
        self.requires_grad = flag
        return self

    def clone(self) -> Tensor:
        return _E.Clone.apply(self)

    def contiguous(self) -> Tensor:
        """This tensor when its storage is row-major contiguous, else a contiguous copy (in
        the graph, as PyTorch's), so that ``view`` works on the result."""
        return self if self.is_contiguous() else self.clone()

    # ---------------------------------------------------------------- dtype and device
    def astype(self, dtype) -> Tensor:
        return _E.Cast.apply(self, dtype=_dt.as_numpy(dtype))

    def float(self) -> Tensor:
        return self.to(np.float32)

    def double(self) -> Tensor:
        return self.to(np.float64)

    def half(self) -> Tensor:
        return self.to(np.float16)

    def long(self) -> Tensor:
        return self.to(np.int64)

    def int(self) -> Tensor:
        return self.to(np.int32)

    def bool(self) -> Tensor:
        return self.to(np.bool_)

    def short(self) -> Tensor:
        return self.to(np.int16)

    def char(self) -> Tensor:
        return self.to(np.int8)

    def byte(self) -> Tensor:
        return self.to(np.uint8)

    def type(self, dtype=None):
        """With no argument, the type's name as torch spells it (``'torch.FloatTensor'``);
        else a cast to a dtype, a type name or a legacy type (``x.type(tinymm.LongTensor)``)."""
        legacy = getattr(dtype, "dtype", None)  # a legacy type (tensor_types.py) names one
        dtype = legacy if isinstance(legacy, np.dtype) else dtype
        if dtype is None:
            return "torch." + _TYPE_NAMES.get(self.dtype.name, self.dtype.name)
        if isinstance(dtype, str) and dtype.rpartition(".")[2] in _TYPE_NAMES.values():
            name = dtype.rpartition(".")[2]
            dtype = np.dtype(next(k for k, v in _TYPE_NAMES.items() if v == name))
        return self.to(dtype)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def to(self, *args, dtype=None, device=None, non_blocking: bool = False,
           copy: bool = False) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other_tensor)``.

        Returns ``self`` when nothing changes (as PyTorch), else a converted tensor that
        stays in the graph (a device move is one counted host<->device copy, and its backward
        copies the gradient back). Moving to a device this machine cannot use is an error
        (``tinymm.devices.as_device``).
        """
        dtype, device = to_arguments(args, dtype, device)
        target = as_device(device if device is not None else self.device, "Tensor.to")
        out = self
        if target.type != self.device.type:
            out = _ToDevice.apply(self, device=target.type)
        if dtype is not None and _dt.as_numpy(dtype) != out.array.dtype:
            return out.astype(dtype)
        return out.clone() if copy and out is self else out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, device=None) -> Tensor:
        return self.to("cuda" if device is None else device)

    # ---------------------------------------------------------------- new tensors like this
    def _new(self, array: np.ndarray, requires_grad: bool) -> Tensor:
        return from_data(array, device=self.device, requires_grad=requires_grad, copy=False)

    def new_tensor(self, data, dtype=None, requires_grad: bool = False) -> Tensor:
        dtype = self.array.dtype if dtype is None else _dt.as_numpy(dtype)
        if isinstance(data, Tensor):  # a copy where self is, by kernels (no host round trip)
            out = data.detach().to(self.device).to(dtype).clone()
            return out.requires_grad_(requires_grad) if requires_grad else out
        return self._new(np.array(data, dtype=dtype), requires_grad)

    def new_full(self, size, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
        shape = shape_args((size,))
        return self._new(np.full(shape, fill_value, self.array.dtype if dtype is None else dtype),
                         requires_grad)

    def new_zeros(self, *size, dtype=None, requires_grad: bool = False) -> Tensor:
        return self.new_full(shape_args(size), 0, dtype, requires_grad)

    def new_ones(self, *size, dtype=None, requires_grad: bool = False) -> Tensor:
        return self.new_full(shape_args(size), 1, dtype, requires_grad)

    new_empty = new_zeros

    # ---------------------------------------------------------------- arithmetic
    def _operand(self, other: Any) -> Any:
        """``other`` as a Tensor, or a Python scalar kept as such (for type promotion); on a
        cuda tensor a NumPy scalar counts as the Python scalar it holds (as in PyTorch)."""
        if isinstance(other, (Tensor, *_SCALARS)):
            return other
        if self.is_cuda and isinstance(other, np.generic):
            return other.item()
        return Tensor._make(other)

    def _promoted(self, other: Any, divide: bool = False) -> tuple[Tensor, Tensor]:
        """self and ``other`` as two tensors of their promoted dtype; a Python scalar becomes
        a 0-d tensor on self's device (on cuda written by a kernel: no transfer)."""
        other = self._operand(other)
        dtype = _dt.result_type(self, other)
        if divide:
            dtype = _dt.float_result(dtype)
        a = self if self.array.dtype == dtype else self.astype(dtype)
        if isinstance(other, Tensor):
            b = other if other.array.dtype == dtype else other.astype(dtype)
        elif self.is_cuda:
            b = Tensor._make(get_backend("cuda").full((), other, dtype))
        else:  # astype wraps an out-of-range int (u8 + -1 is u8 + 255), as torch
            b = Tensor._make(np.asarray(other).astype(dtype))
        return a, b

    def _binary(self, fn, other: Any, reverse: bool = False, divide: bool = False) -> Tensor:
        a, b = self._promoted(other, divide)
        return fn.apply(b, a) if reverse else fn.apply(a, b)

    def _wrap(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return other
        if isinstance(other, _SCALARS) and self.array.dtype.kind == "f":
            if self.is_cuda:  # a 0-d device array written by a kernel: no transfer
                return Tensor._make(get_backend("cuda").full((), other, self.array.dtype))
            return Tensor._make(np.asarray(other, dtype=self.array.dtype))
        return Tensor._make(other)

    def __add__(self, other): return self._binary(_E.Add, other)
    def __radd__(self, other): return self._binary(_E.Add, other, reverse=True)
    def __sub__(self, other): return self._binary(_E.Sub, other)
    def __rsub__(self, other): return self._binary(_E.Sub, other, reverse=True)
    def __mul__(self, other): return self._binary(_E.Mul, other)
    def __rmul__(self, other): return self._binary(_E.Mul, other, reverse=True)
    def __truediv__(self, other): return self._binary(_E.Div, other, divide=True)
    def __rtruediv__(self, other): return self._binary(_E.Div, other, reverse=True, divide=True)
    def __neg__(self): return _E.Neg.apply(self)
    def __pos__(self): return self
    def __abs__(self): return self.abs()
    def __matmul__(self, other): return _MM.matmul(self, self._wrap(other))
    def __rmatmul__(self, other): return _MM.matmul(self._wrap(other), self)

    def add(self, other, alpha=1):
        return self + (other if alpha == 1 else self._operand(other) * alpha)

    def sub(self, other, alpha=1):
        return self - (other if alpha == 1 else self._operand(other) * alpha)

    def mul(self, other): return self * other
    def div(self, other, *, rounding_mode: str | None = None):
        """``self / other``; ``rounding_mode`` "trunc" or "floor" rounds the quotient, in the
        operands' promoted dtype (integer for two integer operands), as torch."""
        if rounding_mode is None:
            return self / other
        if rounding_mode not in ("trunc", "floor"):
            raise ValueError("div: rounding_mode must be None, 'trunc' or 'floor', got "
                             f"{rounding_mode!r}")
        integer = self.array.dtype.kind in "iub"
        quotient = self.astype(np.float64) / other if integer else self / other
        rounded = quotient.trunc() if rounding_mode == "trunc" else quotient.floor()
        return rounded.astype(_dt.result_type(self, self._operand(other)))
    def pow(self, exponent): return self ** exponent
    def matmul(self, other): return self @ other
    def mm(self, other): return self @ other
    def bmm(self, other): return self @ other
    def dot(self, other): return (self * other).sum()

    multiply, divide, true_divide, subtract = mul, div, div, sub

    def __pow__(self, exponent):
        exponent = self._operand(exponent)
        if isinstance(exponent, Tensor):
            return self._binary(_E.PowTensor, exponent)
        dtype = _dt.result_type(self, exponent)
        base = self if self.array.dtype == dtype else self.astype(dtype)
        return _E.Pow.apply(base, exponent=exponent)

    def __rpow__(self, base):
        return self._binary(_E.PowTensor, base, reverse=True)

    def _plain(self, fn, other) -> Tensor:
        """A result with no gradient (the bitwise and logical ops); logical ops on cuda bool
        tensors run the ``compare`` kernel, the others need the host."""
        if self.is_cuda and self.array.dtype == np.bool_ and fn in _LOGICAL:
            return self._compare(other, _LOGICAL[fn])
        self._host_only(f"Tensor op ({fn.__name__})")
        other = other.array if isinstance(other, Tensor) else other
        return Tensor._make(np.asarray(fn(self.array, other)))

    def _floored(self, fn, other, reverse: bool = False) -> Tensor:
        """``self // other`` or ``self % other`` (``fn``; ``reverse`` swaps the operands) in
        torch's promoted dtype (``result_type``: a float scalar with an int tensor gives
        float32); an integer division by zero raises ZeroDivisionError, as torch refuses it."""
        self._host_only(f"Tensor op ({fn.__name__})")
        dtype = _dt.result_type(self, other)
        if dtype == np.bool_:
            raise TypeError(f"{fn.__name__}: not defined for two bool operands (as torch); "
                            "convert one with .long() first")
        a = self.array.astype(dtype, copy=False)
        b = np.asarray(other.array if isinstance(other, Tensor) else other).astype(dtype)
        a, b = (b, a) if reverse else (a, b)
        if dtype.kind in "iu" and not np.all(b):
            raise ZeroDivisionError(f"{fn.__name__}: integer division by zero")
        with np.errstate(divide="ignore", invalid="ignore"):  # float x // 0 is inf, as torch
            return Tensor._make(np.asarray(fn(a, b)))

    def __floordiv__(self, other): return self._floored(np.floor_divide, other)
    def __rfloordiv__(self, other): return self._floored(np.floor_divide, other, True)
    def __mod__(self, other): return self._floored(np.remainder, other)
    def __rmod__(self, other): return self._floored(np.remainder, other, True)
    def __and__(self, other): return self._plain(np.logical_and if self.array.dtype == np.bool_
                                                 else np.bitwise_and, other)
    def __or__(self, other): return self._plain(np.logical_or if self.array.dtype == np.bool_
                                                else np.bitwise_or, other)
    def __xor__(self, other): return self._plain(np.logical_xor if self.array.dtype == np.bool_
                                                 else np.bitwise_xor, other)
    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __invert__(self):
        if self.is_cuda and self.array.dtype == np.bool_:
            return self._compare(False, "eq")  # not x == (x == False)
        self._host_only("Tensor op (invert)")
        array = self.array
        return Tensor._make(np.logical_not(array) if array.dtype == np.bool_ else ~array)

    def logical_not(self): return _SP.logical_not(self)  # bool out for any dtype, as torch

    # comparisons: bool results, no gradient
    def _compare(self, other, op: str) -> Tensor:
        """``self op other`` as a bool tensor: on the cpu NumPy's comparison of the arrays
        (promoted to one dtype first when both are integers or bools); on cuda the operands
        promoted to one dtype and the ``compare`` kernel."""
        if self.is_cuda or (isinstance(other, Tensor) and other.is_cuda):
            a, b = self._promoted(other)
            check_same_device(f"comparison ({op})", input=a.array, other=b.array)
            return Tensor._make(get_backend("cuda").compare_forward(a.array, b.array, op)[0])
        if self.array.dtype.kind in "biu" and getattr(other, "dtype", np.dtype(type(other))).kind \
                in "biu":  # integers compare in their promoted dtype, as torch and the cuda path
            dtype = _dt.result_type(self, other)  # (u8 > -1 is u8 > 255: False)
            b = np.asarray(other.array if isinstance(other, Tensor) else other).astype(dtype)
            return Tensor._make(np.asarray(_COMPARE[op](self.array.astype(dtype, copy=False), b)))
        other = other.array if isinstance(other, Tensor) else other
        return Tensor._make(np.asarray(_COMPARE[op](self.array, other)))

    def __lt__(self, other): return self._compare(other, "lt")
    def __le__(self, other): return self._compare(other, "le")
    def __gt__(self, other): return self._compare(other, "gt")
    def __ge__(self, other): return self._compare(other, "ge")
    def __eq__(self, other): return self._compare(other, "eq")  # elementwise, as PyTorch
    def __ne__(self, other): return self._compare(other, "ne")
    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    __hash__ = object.__hash__  # usable as dict keys by identity, as PyTorch's tensors are

    def equal(self, other) -> bool:
        if self.is_cuda:  # decided on the device: one counted copy of the count of differences
            return bool(self.shape == other.shape and not (self != other).any().item())
        other = other.array if isinstance(other, Tensor) else np.asarray(other)
        return bool(self.shape == other.shape and np.array_equal(self.array, other))

    def allclose(self, other, rtol=1e-5, atol=1e-8, equal_nan=False) -> bool:
        if self.is_cuda:  # isclose on the device, then one counted copy of the answer
            return bool(self.isclose(other, rtol, atol, equal_nan).all().item())
        other = other.array if isinstance(other, Tensor) else other
        return bool(np.allclose(self.array, other, rtol=rtol, atol=atol, equal_nan=equal_nan))

    def any(self, dim=None, keepdim=False, *, axis=None, keepdims=None, out=None):
        dim, keepdim = _pick(dim, axis, keepdim, keepdims)  # np.any(t, axis=) lands here too
        if self.is_cuda:  # the nonzero count along dim, on the device
            return (self != 0).to(np.float64).sum(dim, keepdim=keepdim) > 0
        return Tensor._make(np.asarray(self.array.any(axis=dim, keepdims=keepdim)))

    def all(self, dim=None, keepdim=False, *, axis=None, keepdims=None, out=None):
        dim, keepdim = _pick(dim, axis, keepdim, keepdims)
        if self.is_cuda:
            return (self == 0).to(np.float64).sum(dim, keepdim=keepdim) == 0
        return Tensor._make(np.asarray(self.array.all(axis=dim, keepdims=keepdim)))

    def nonzero(self, as_tuple: bool = False):
        """The coordinates (count, ndim) of the nonzero elements in row-major order (a tuple
        of ndim columns with ``as_tuple``): the ``nonzero`` kernel, which on cuda needs the
        count on the host first (one counted 8-byte copy)."""
        mask = self if self.array.dtype == np.bool_ else self != 0
        flat = mask.reshape(-1)
        count = int(flat.cumsum(0)[-1].item()) if flat.numel() else 0
        backend = get_backend("cuda") if self.is_cuda else current_backend()
        out = Tensor._make(backend.nonzero_forward(mask.array, count)[0])
        return tuple(out[:, k] for k in range(self.ndim)) if as_tuple else out

    # ---------------------------------------------------------------- elementwise math
    def _float_op(self, fn) -> Tensor:
        """An op defined on floats: integer inputs become float32 first (as PyTorch)."""
        x = self if self.array.dtype.kind == "f" else self.astype(_dt.DEFAULT_FLOAT)
        return fn.apply(x)

    def exp(self): return self._float_op(_E.Exp)
    def log(self): return self._float_op(_E.Log)
    def sqrt(self): return self._float_op(_E.Sqrt)
    def rsqrt(self): return self._float_op(_E.Rsqrt)
    def sin(self): return self._float_op(_E.Sin)
    def cos(self): return self._float_op(_E.Cos)
    def tan(self): return self._float_op(_E.Tan)
    def asin(self): return self._float_op(_E.Asin)
    def acos(self): return self._float_op(_E.Acos)
    def atan(self): return self._float_op(_E.Atan)
    def sinh(self): return self._float_op(_E.Sinh)
    def cosh(self): return self._float_op(_E.Cosh)
    def log1p(self): return self._float_op(_E.Log1p)
    def expm1(self): return self._float_op(_E.Expm1)
    def log2(self): return self._float_op(_E.Log2)
    def log10(self): return self._float_op(_E.Log10)
    def reciprocal(self): return self._float_op(_E.Reciprocal)
    def abs(self): return _E.Abs.apply(self)
    def square(self): return self * self
    def relu(self): return _ACT.relu(self)
    def sigmoid(self): return _ACT.sigmoid(self._float_op(_E.Clone))
    def tanh(self): return _ACT.tanh(self._float_op(_E.Clone))
    def sign(self): return _E.Piecewise.apply(self, mode="sign")
    def floor(self): return _E.Piecewise.apply(self, mode="floor")
    def ceil(self): return _E.Piecewise.apply(self, mode="ceil")
    def round(self, decimals: int = 0):
        """Half to even, as torch; ``decimals`` as torch computes it: round(x * 10^d) / 10^d
        (d < 0: round(x / 10^-d) * 10^-d), in the tensor's dtype."""
        if decimals == 0:
            return _E.Piecewise.apply(self, mode="round")
        scale = 10.0 ** abs(decimals)
        return (self * scale).round() / scale if decimals > 0 else (self / scale).round() * scale

    def trunc(self): return _E.Piecewise.apply(self, mode="trunc")

    arcsin, arccos, arctan = asin, acos, atan

    def softmax(self, dim: int, dtype=None):
        """Softmax along ``dim`` (required, as PyTorch's Tensor.softmax and torch.softmax;
        only ``F.softmax`` has an implicit dim), computed in ``dtype`` if given."""
        return _SM.softmax(self if dtype is None else self.to(dtype), dim)

    def log_softmax(self, dim: int, dtype=None):
        return _SM.log_softmax(self if dtype is None else self.to(dtype), dim)

    def clamp(self, min=None, max=None):  # noqa: A002 - PyTorch's argument names
        """Clamp into [min, max] (max wins where min > max), in the dtype promoted with the
        bounds (an int tensor clamped to float bounds gives the default float)."""
        dtype = _dt.result_type(self, *(b for b in (min, max) if b is not None))
        x = self if dtype == self.array.dtype else self.to(dtype)
        min, max = (b.to(dtype) if isinstance(b, Tensor) and b.array.dtype != dtype else b  # noqa: A001
                    for b in (min, max))  # a 0-d int64 bound must not widen float32 x
        return _E.Clamp.apply(x, low=min, high=max)

    clip = clamp

    def maximum(self, other): return self._binary(_E.Maximum, other)
    def minimum(self, other): return self._binary(_E.Minimum, other)

    def masked_fill(self, mask, value) -> Tensor:
        """``where(mask, value, self)`` in self's dtype, as torch (an int tensor filled with
        2.7 stays int64, a bool one filled with 0 stays bool)."""
        out = where(mask, value, self)
        return out if out.dtype == self.dtype else out.to(self.dtype)

    def lerp(self, end, weight):
        return self + (end - self) * weight

    # ---------------------------------------------------------------- reductions
    def sum(self, dim=None, keepdim=False, dtype=None, *, axis=None, keepdims=None):
        dim, keepdim = _pick(dim, axis, keepdim, keepdims)
        x = self if dtype is None else self.to(dtype)
        return _R.Sum.apply(x, axis=dim, keepdims=keepdim)

    def mean(self, dim=None, keepdim=False, dtype=None, *, axis=None, keepdims=None):
        dim, keepdim = _pick(dim, axis, keepdim, keepdims)
        x = self if dtype is None else self.to(dtype)
        if x.dtype.kind != "f":
            raise RuntimeError(f"mean(): input dtype must be floating point, got {x.dtype}; "
                               "call .float() first")
        return _R.Mean.apply(x, axis=dim, keepdims=keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """Variance with Bessel's correction by default (``correction=1``), as torch."""
        correction = (1 if unbiased is None or unbiased else 0) if correction is None \
            else correction
        centred = self - self.mean(dim, keepdim=True)
        count = self.numel() if dim is None else int(np.prod(
            [self.shape[d] for d in ((dim,) if isinstance(dim, int) else dim)]))
        return (centred * centred).sum(dim, keepdim=keepdim) / max(count - correction, 0)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """sqrt(var). As PyTorch, where the variance is 0 (a constant row) the gradient is 0,
        not the 0 * inf = nan of the root's derivative; on cuda tensors, whose comparisons
        run on the host, it is the plain root."""
        variance = self.var(dim, unbiased, keepdim, correction=correction)
        if self.is_cuda:
            return variance.sqrt()
        constant = variance == 0  # nan (one sample with correction 1) stays nan
        return where(constant, 0.0, where(constant, 1.0, variance).sqrt())

    def logsumexp(self, dim, keepdim: bool = False):
        m = self.amax(dim, keepdim=True).detach()  # a constant shift: no gradient through it
        m = where(m.isinf(), 0.0, m)  # an infinite max shifts by 0: lse is then +-inf, as torch
        out = (self - m).exp().sum(dim, keepdim=True).log() + m
        return out if keepdim else out.squeeze(dim)

    def prod(self, dim=None, keepdim=False, *, dtype=None):
        """Product over ``dim`` (every element when None), on either device; the gradient
        is the product of the other elements (PyTorch's, zeros included). Bool and integer
        tensors give the exact int64 product (PyTorch's dtype), outside the graph; ``dtype``
        casts first."""
        source = self if dtype is None else self.to(dtype)
        return _R.Prod.apply(source, axis=dim, keepdim=keepdim)

    def norm(self, p="fro", dim=None, keepdim=False):
        """Vector p-norm over ``dim`` (all elements when None): p = 2/"fro", 1, inf (max |x|),
        -inf (min |x|), 0 (the nonzero count) or any other real. As PyTorch, the gradient at
        an all-zero vector is 0, not the 0/0 of the root's derivative."""
        if p == float("inf"):
            return self.abs().amax(dim, keepdim=keepdim)
        if p == float("-inf"):
            return self.abs().amin(dim, keepdim=keepdim)
        if p == 0:
            return (self != 0).to(self.array.dtype).sum(dim, keepdim=keepdim)
        if p == 1:
            return self.abs().sum(dim, keepdim=keepdim)
        p = 2 if p == "fro" else p
        magnitude = self.abs()
        nonzero = magnitude != 0  # |x|**p for 0 < p < 1 has an infinite derivative at 0
        powered = (self * self if p == 2 else magnitude ** p if p < 0
                   else where(nonzero, where(nonzero, magnitude, 1.0) ** p, 0.0))
        total = powered.sum(dim, keepdim=keepdim)
        positive = total != 0  # a NaN total stays NaN (it is not a zero vector)
        safe = where(positive, total, 1.0)  # the root's derivative sees no 0
        return where(positive, safe.sqrt() if p == 2 else safe ** (1.0 / p), 0.0)

    def amax(self, dim=None, keepdim=False):
        return _R.Max.apply(self, axis=dim, keepdims=keepdim)

    def amin(self, dim=None, keepdim=False):
        return -_R.Max.apply(-self, axis=dim, keepdims=keepdim)

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """``max()``: the largest element; ``max(dim)``: (values, indices) along dim;
        ``max(other)``: elementwise maximum. ``axis=`` (NumPy's) reduces and returns values."""
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        if axis is not None or dim is None:
            return _R.Max.apply(self, axis=axis, keepdims=bool(keepdims or keepdim))
        return _I.return_type("max")(*_I.MaxDim.apply(self, dim=dim, keepdim=keepdim,
                                                       mode="max"))

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        if axis is not None or dim is None:
            return self.amin(axis, keepdim=bool(keepdims or keepdim))
        return _I.return_type("min")(*_I.MaxDim.apply(self, dim=dim, keepdim=keepdim,
                                                       mode="min"))

    def _arg(self, mode: str, dim, keepdim) -> Tensor:
        """The index of the first max (min) along ``dim``, or in the flattened tensor when
        dim is None (keepdim: shaped (1,) * ndim): the ``max_dim`` kernels' indices."""
        x, op = self.detach(), f"arg{mode}"
        if dim is None:
            idx = _I.MaxDim.apply(x.reshape(-1), dim=0, mode=mode, op=op)[1]
            return idx.reshape(*(1,) * self.ndim) if keepdim else idx
        return _I.MaxDim.apply(x, dim=self._dim(dim, op), keepdim=keepdim, mode=mode, op=op)[1]

    def argmax(self, dim=None, keepdim: bool = False, *, axis=None) -> Tensor:
        return self._arg("max", axis if dim is None else dim, keepdim)

    def argmin(self, dim=None, keepdim: bool = False, *, axis=None) -> Tensor:
        return self._arg("min", axis if dim is None else dim, keepdim)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
        return _I.return_type("topk")(*_I.TopK.apply(self, k=k, dim=dim, largest=largest,
                                                     sorted=sorted))

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = True):
        return _I.return_type("sort")(*_I.Sort.apply(self, dim=dim, descending=descending))

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
        return self.sort(dim, descending, stable).indices

    def gather(self, dim: int, index) -> Tensor:
        return _I.Gather.apply(self, index, dim=dim)

    def cumsum(self, dim: int, dtype=None) -> Tensor:
        """Running sums along ``dim``; ``dtype`` casts the input first (PyTorch's)."""
        return _I.Cumsum.apply(self if dtype is None else self.to(dtype), dim=dim)

    # ----------------------------------- order statistics, products (ops/selection.py)
    def median(self, dim=None, keepdim=False): return _SEL.median(self, dim, keepdim)
    def kthvalue(self, k, dim=-1, keepdim=False): return _SEL.kthvalue(self, k, dim, keepdim)
    def mode(self, dim=-1, keepdim=False): return _SEL.mode(self, dim, keepdim)
    def cummax(self, dim): return _SEL.cummax(self, dim)
    def cummin(self, dim): return _SEL.cummin(self, dim)
    def take(self, index): return _SEL.take(self, index)
    def index_fill(self, dim, index, value): return _SEL.index_fill(self, dim, index, value)
    def sum_to_size(self, *size): return _SEL.sum_to_size(self, *size)
    def trace(self): return _SEL.trace(self)
    def kron(self, other): return _SEL.kron(self, other)
    def bfloat16(self): return _SEL.no_bfloat16()

    def diff(self, n=1, dim=-1, prepend=None, append=None):
        return _SEL.diff(self, n, dim, prepend, append)

    def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
        return _SEL.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def index_fill_(self, dim, index, value):
        return self._in_place("index_fill_", lambda t: t.index_fill(dim, index, value))

    def lerp_(self, end, weight):
        return self._in_place("lerp_", Tensor.lerp, end, weight)

    # ------------------------------------------- rearranging, scattering (ops/indexing.py)
    def roll(self, shifts, dims=None): return _IX.roll(self, shifts, dims)
    def flip(self, *args, dims=None):  # x.flip(0, 1), x.flip((0, 1)), x.flip(dims=[0])
        return _IX.flip(self, dims if dims is not None else args[0] if len(args) == 1 else args)

    def repeat_interleave(self, repeats, dim=None): return _IX.repeat_interleave(self, repeats,
                                                                                   dim)
    def movedim(self, source, destination): return _IX.movedim(self, source, destination)
    def broadcast_to(self, size): return _IX.broadcast_to(self, size)
    def masked_select(self, mask): return _IX.masked_select(self, mask)
    def take_along_dim(self, indices, dim=None): return _IX.take_along_dim(self, indices, dim)
    def diag(self, diagonal: int = 0): return _IX.diag(self, diagonal)
    def tril(self, diagonal: int = 0): return _IX.tril(self, diagonal)
    def triu(self, diagonal: int = 0): return _IX.triu(self, diagonal)
    def outer(self, vec2): return self.reshape(-1, 1) * _IX.as_tensor(vec2).reshape(1, -1)
    def where(self, condition, other): return where(condition, self, other)

    def scatter(self, dim, index, src=None, value=None, *, reduce=None):
        return _IX.scatter(self, dim, index, src, value, reduce=reduce)

    def scatter_add(self, dim, index, src): return _IX.scatter_add(self, dim, index, src)
    def index_add(self, dim, index, source, *, alpha=1):
        return _IX.index_add(self, dim, index, source, alpha)

    def scatter_(self, dim, index, src=None, value=None, *, reduce=None):
        return self._in_place("scatter_", lambda t, s: t.scatter(dim, index, s, value,
                                                                 reduce=reduce), src)

    def scatter_add_(self, dim, index, src):
        return self._in_place("scatter_add_", lambda t, s: t.scatter_add(dim, index, s), src)

    def index_add_(self, dim, index, source, *, alpha=1):
        return self._in_place("index_add_", lambda t, s: t.index_add(dim, index, s, alpha=alpha),
                              source)

    # ------------------------------------------- more math (ops/more_math.py)
    def cumprod(self, dim=None, dtype=None, axis=None): return _MORE.cumprod(self, dim, dtype, axis)
    def atan2(self, other): return _MORE.atan2(self, other)
    arctan2 = atan2
    def logaddexp(self, other): return _MORE.logaddexp(self, other)
    def hypot(self, other): return _MORE.hypot(self, other)
    def logit(self, eps=None): return _MORE.logit(self, eps)
    def exp2(self): return _MORE.exp2(self)
    def clamp_min(self, min): return _MORE.clamp_min(self, min)  # noqa: A002
    def clamp_max(self, max): return _MORE.clamp_max(self, max)  # noqa: A002

    def isclose(self, other, rtol: float = 1e-05, atol: float = 1e-08,
                equal_nan: bool = False):
        return _MORE.isclose(self, other, rtol, atol, equal_nan)

    # ------------------------------------------- special, logical, counting (ops/special.py)
    def neg(self): return -self
    negative = neg
    def erf(self): return _SP.erf(self)
    def fmod(self, other): return _SP.fmod(self, other)
    def remainder(self, other): return _SP.remainder(self, other)
    def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
        return _SP.nan_to_num(self, nan, posinf, neginf)

    def isnan(self): return _SP.isnan(self)
    def isinf(self): return _SP.isinf(self)
    def isfinite(self): return _SP.isfinite(self)
    def logical_and(self, other): return _SP.logical_and(self, other)
    def logical_or(self, other): return _SP.logical_or(self, other)
    def logical_xor(self, other): return _SP.logical_xor(self, other)
    def unique(self, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
        return _SP.unique(self, sorted, return_inverse, return_counts, dim)

    def bincount(self, weights=None, minlength: int = 0):
        return _SP.bincount(self, weights, minlength)

    def count_nonzero(self, dim=None): return _SP.count_nonzero(self, dim)

    def histc(self, bins: int = 100, min: float = 0, max: float = 0):  # noqa: A002
        return _BK.histc(self, bins, min, max)
    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        return _SP.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def addcmul(self, tensor1, tensor2, *, value=1):
        return _SP.addcmul(self, tensor1, tensor2, value=value)

    def addcdiv(self, tensor1, tensor2, *, value=1):
        return _SP.addcdiv(self, tensor1, tensor2, value=value)

    def addcmul_(self, tensor1, tensor2, *, value=1):
        return self._in_place("addcmul_", lambda t, a, b: t.addcmul(a, b, value=value),
                              tensor1, tensor2)

    def addcdiv_(self, tensor1, tensor2, *, value=1):
        return self._in_place("addcdiv_", lambda t, a, b: t.addcdiv(a, b, value=value),
                              tensor1, tensor2)

    # ---------------------------------------------------------------- shapes
    def reshape(self, *shape):
        return _S.Reshape.apply(self, shape=shape_args(shape))

    def view(self, *shape):
        """``reshape``: shares storage whenever the strides allow it. Where they do not (a
        transpose flattened) PyTorch raises and this copies, because several ops here return
        non-contiguous results where PyTorch's are contiguous (flip, roll, sort, topk,
        advanced indexing, einsum, interpolate), and a program valid on PyTorch must run."""
        return self.reshape(*shape)

    def view_as(self, other: Tensor) -> Tensor:
        return self.view(other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        start = check_dim("flatten", "start_dim", start_dim, self.ndim)
        end = check_dim("flatten", "end_dim", end_dim, self.ndim)
        if start > end:
            raise ValueError(f"flatten: start_dim={start_dim} comes after end_dim={end_dim} "
                             f"for a tensor of shape {tuple(self.shape)}")
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

    swapaxes = transpose

    def t(self) -> Tensor:
        """Transpose of a 2-D tensor (0-D and 1-D tensors are returned as they are)."""
        if self.ndim > 2:
            raise ValueError(f"t(): expects a tensor with <= 2 dimensions, got shape "
                             f"{tuple(self.shape)}; use transpose(dim0, dim1) or permute")
        return self.transpose()

    def unsqueeze(self, dim: int):
        dim = check_dim("unsqueeze", "dim", dim, self.ndim, extra=1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim: int | tuple | None = None):
        """Drop size-1 dims: all of them, ``dim``, or each dim of a tuple (PyTorch 2's); a
        named dim whose size is not 1 stays."""
        if dim is None:
            return self.reshape(tuple(s for s in self.shape if s != 1))
        dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
        dims = {check_dim("squeeze", "dim", d, self.ndim) for d in dims}
        if self.ndim == 0:
            return self
        return self.reshape(tuple(s for i, s in enumerate(self.shape)
                                  if not (i in dims and s == 1)))

    def narrow(self, dim: int, start: int, length: int) -> Tensor:
        dim = self._dim(dim, "narrow")
        if start < 0:
            start += self.shape[dim]
        if not (0 <= start and length >= 0 and start + length <= self.shape[dim]):
            raise IndexError(f"narrow: start {start} + length {length} exceeds dim {dim} of "
                             f"size {self.shape[dim]}")
        index = (slice(None),) * dim + (slice(start, start + length),)
        return self[index]

    def expand(self, *sizes) -> Tensor:
        sizes = shape_args(sizes)
        lead = len(sizes) - self.ndim
        shape = tuple(self.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
        return _S.Expand.apply(self, shape=shape)

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(other.shape)

    def repeat(self, *sizes) -> Tensor:
        reps = shape_args(sizes)
        if not self.is_cuda or len(reps) < self.ndim:  # the op names a short reps list
            return _S.Repeat.apply(self, reps=reps)
        # on the device: view as (1, n0, 1, n1, ...), expand to (r0, n0, r1, n1, ...) (a copy
        # on the device) and merge each pair; the gradient sums the copies through expand
        shape = (1,) * (len(reps) - self.ndim) + tuple(self.shape)
        paired = tuple(d for n in shape for d in (1, n))
        grown = tuple(d for r, n in zip(reps, shape) for d in (r, n))
        merged = tuple(r * n for r, n in zip(reps, shape))
        return self.reshape(paired).expand(grown).reshape(merged)

    def index_select(self, dim: int, index) -> Tensor:
        index = index.array if isinstance(index, Tensor) else index
        if _cuda.is_device_array(index):  # a gather of the index spread over the other dims
            return _IX.select_slices(self, self._dim(dim, "index_select"), index)
        index = _IX.vector_index("index_select", np.asarray(index))
        return self[(slice(None),) * self._dim(dim, "index_select") + (index,)]

    def chunk(self, chunks: int, dim: int = 0):
        n = self.shape[dim]
        size = -(-n // chunks)
        return self.split(size, dim)

    def unbind(self, dim: int = 0):
        return tuple(self.select(dim, i) for i in range(self.shape[dim]))

    def select(self, dim: int, index: int) -> Tensor:
        return self[(slice(None),) * self._dim(dim, "select") + (index,)]

    def __getitem__(self, index):
        if self.is_cuda and _is_cuda_mask(index):  # a data-dependent size: masked_select
            return _IX.masked_rows(self, index)
        raw = _raw_index(index)
        return _S.getitem_op(raw).apply(self, index=raw)

    def split(self, split_size_or_sections, dim: int = 0, *, axis=None):
        return _S.split(self, split_size_or_sections, axis=dim if axis is None else axis)

    # ---------------------------------------------------------------- in place
    def _bump(self) -> None:
        self._version_box[0] += 1

    def _write(self, who: str, values: np.ndarray) -> None:
        if self.is_cuda and _cuda.is_device_array(values):
            self._write_on_device(who, values)
            return
        values = np.asarray(values)
        if not _dt.can_cast_in_place(values.dtype, self.array.dtype):
            raise RuntimeError(f"{who}: result type {values.dtype} can't be cast to the "
                               f"desired output type {self.dtype}")
        if np.broadcast_shapes(values.shape, self.shape) != self.shape:
            raise RuntimeError(f"{who}: output with shape {tuple(self.shape)} doesn't match the "
                               f"broadcast shape {values.shape}")
        if not self.array.flags.writeable:
            raise RuntimeError(f"{who}: this tensor's storage is read-only (an expanded view); "
                               "call .clone() first")
        self.array[...] = values
        self._bump()

    def _write_on_device(self, who: str, values) -> None:
        """``_write`` of a device result into this cuda tensor's storage: cast and broadcast
        by kernels, then one device-to-device copy (nothing crosses to the host)."""
        if not _dt.can_cast_in_place(values.dtype, self.array.dtype):
            raise RuntimeError(f"{who}: result type {values.dtype} can't be cast to the "
                               f"desired output type {self.dtype}")
        if np.broadcast_shapes(tuple(values.shape), self.shape) != self.shape:
            raise RuntimeError(f"{who}: output with shape {tuple(self.shape)} doesn't match the "
                               f"broadcast shape {tuple(values.shape)}")
        v = Tensor._make(values)
        v = v if v.dtype == self.array.dtype else v.to(self.array.dtype)
        v = v if tuple(v.shape) == self.shape else v.expand(*self.shape)
        _cuda.copy_into(self.array, v.array)
        self._bump()

    def _check_leaf(self, who: str) -> None:
        """PyTorch's refusal of an in-place op on a leaf that requires grad, or on a view of
        one that is in the graph (``w[0].zero_()``: it would change the leaf unrecorded)."""
        if not (is_grad_enabled() and self.requires_grad):
            return
        base = self._base
        if self.is_leaf or (base is not None and base.requires_grad and base.is_leaf):
            what = "a leaf tensor" if self.is_leaf else "a view of a leaf tensor"
            raise RuntimeError(
                f"{who}: {what} that requires grad is being used in an in-place "
                "operation. Update parameters inside `with tinymm.no_grad():` (as optimizers "
                "do), or work on a copy (x = x.clone())")

    def _in_place(self, who: str, compute, *others) -> Tensor:
        """Apply ``compute(self, *others)`` (an out-of-place expression) in place."""
        self._check_leaf(who)
        tracked = is_grad_enabled() and (self.requires_grad or any(
            isinstance(o, Tensor) and o.requires_grad for o in others))
        if not tracked:
            with no_grad():
                self._write(who, compute(self, *others).array)
            return self
        old = Tensor._make(_cuda.copy(self.array) if self.is_cuda else self.array.copy())
        old.requires_grad, old._node, old._out_index = (self.requires_grad, self._node,
                                                        self._out_index)
        out = compute(old, *others)
        self._write(who, out.array)
        self._node, self._out_index, self.requires_grad = out._node, out._out_index, True
        if self._base is not None and who != "__setitem__":
            self._base._stale_by = who  # its values changed, its graph did not (see autograd)
        return self

    def add_(self, other, alpha=1): return self._in_place("add_", Tensor.add, other, alpha)
    def sub_(self, other, alpha=1): return self._in_place("sub_", Tensor.sub, other, alpha)
    def mul_(self, other): return self._in_place("mul_", Tensor.__mul__, other)
    def div_(self, other): return self._in_place("div_", Tensor.__truediv__, other)
    def pow_(self, exponent): return self._in_place("pow_", Tensor.__pow__, exponent)
    def neg_(self): return self._in_place("neg_", Tensor.__neg__)
    def exp_(self): return self._in_place("exp_", Tensor.exp)
    def log_(self): return self._in_place("log_", Tensor.log)
    def sqrt_(self): return self._in_place("sqrt_", Tensor.sqrt)
    def abs_(self): return self._in_place("abs_", Tensor.abs)
    def relu_(self): return self._in_place("relu_", Tensor.relu)
    def sigmoid_(self): return self._in_place("sigmoid_", Tensor.sigmoid)
    def tanh_(self): return self._in_place("tanh_", Tensor.tanh)

    def clamp_(self, min=None, max=None):  # noqa: A002
        return self._in_place("clamp_", lambda s: s.clamp(min, max))

    def masked_fill_(self, mask, value):
        return self._in_place("masked_fill_", Tensor.masked_fill, mask, value)

    def fill_(self, value):
        return self._in_place("fill_", lambda s, v: s * 0 + v, value)

    def zero_(self):
        return self.fill_(0)

    def copy_(self, src):
        src = src if isinstance(src, Tensor) else Tensor._make(np.asarray(src))
        return self._in_place("copy_", lambda s, v: s * 0 + v.to(s.dtype), src)

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator=None):
        self._check_leaf("uniform_")
        self._write("uniform_", rng_of(generator).uniform(a, b, self.shape))
        return self

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator=None):
        self._check_leaf("normal_")
        self._write("normal_", rng_of(generator).normal(mean, std, self.shape))
        return self

    def __iadd__(self, other): return self.add_(other)
    def __isub__(self, other): return self.sub_(other)
    def __imul__(self, other): return self.mul_(other)
    def __itruediv__(self, other): return self.div_(other)
    def __ipow__(self, other): return self.pow_(other)

    # x //= y, x %= y, x &= y, x |= y, x ^= y write into x (its views see it), as torch; they
    # have no gradient, so they are refused on a tensor in a recorded graph
    def _plain_in_place(self, who: str, fn, other) -> Tensor:
        if is_grad_enabled() and self.requires_grad:
            raise RuntimeError(f"{who}: not differentiable, so not allowed in place on a tensor "
                               "that requires grad; use `with tinymm.no_grad():` or a copy")
        self._write(who, fn(self, other).array)
        return self

    def __ifloordiv__(self, other): return self._plain_in_place("//=", Tensor.__floordiv__, other)
    def __imod__(self, other): return self._plain_in_place("%=", Tensor.__mod__, other)
    def __iand__(self, other): return self._plain_in_place("&=", Tensor.__and__, other)
    def __ior__(self, other): return self._plain_in_place("|=", Tensor.__or__, other)
    def __ixor__(self, other): return self._plain_in_place("^=", Tensor.__xor__, other)

    def __setitem__(self, index, value) -> None:
        if self.is_cuda and _is_cuda_mask(index):  # where(mask, value, self) on the device
            wide = _IX.leading_mask(self, index)
            self._in_place("__setitem__", lambda s, v: where(wide, v, s), value)
            return
        index = _raw_index(index)
        value_t = value if isinstance(value, Tensor) else None
        if is_grad_enabled() and (self.requires_grad or (value_t is not None
                                                         and value_t.requires_grad)):
            value_t = value_t if value_t is not None else Tensor._make(
                np.asarray(value, dtype=self.array.dtype))
            stale, self._stale_by = self._stale_by, None  # the assignment rewrites the values
            try:
                self._in_place("__setitem__", lambda s, v: _S.SetItem.apply(
                    s, v.to(s.dtype), index=index), value_t)
            except BaseException:
                self._stale_by = stale
                raise
            return
        self.array[index] = value.array if value_t is not None else value
        self._bump()


def to_arguments(args, dtype=None, device=None):
    """(dtype, device) of PyTorch's ``.to(*args, dtype=, device=)`` overloads: a tensor gives
    both, a device (a string or a ``tinymm.device``) the device, anything else the dtype;
    None where the call leaves it unchanged."""
    for arg in args:
        if isinstance(arg, Tensor):
            dtype, device = arg.dtype, arg.device
        elif isinstance(arg, str) or type(arg).__name__ == "device":
            device = arg
        else:
            dtype = arg
    return dtype, device


def _raw_index(index):
    """A tensor index with every Tensor inside replaced by its array. A list of fewer than 32
    items that holds a sequence, Tensor, slice, None or Ellipsis is a tuple of indices, as
    PyTorch reads it (x[[[0, 1], [2, 0]]] is x[[0, 1], [2, 0]]; NumPy would make it one
    (2, 2) index array). A slice step must be positive, as in PyTorch."""
    if isinstance(index, Tensor):
        return index.array
    for item in index if isinstance(index, tuple) else (index,):
        if isinstance(item, slice) and item.step is not None and item.step <= 0:
            raise ValueError(f"index: slice step must be greater than zero, got {item.step} "
                             "(as torch); reverse a dim with flip(dims) instead")
    if isinstance(index, list) and len(index) < 32 and any(
            i is None or i is Ellipsis or isinstance(i, (list, tuple, slice, Tensor, np.ndarray))
            for i in index):
        index = tuple(index)
    if isinstance(index, (tuple, list)) and any(isinstance(i, Tensor) for i in index):
        unwrapped = [i.array if isinstance(i, Tensor) else i for i in index]
        return tuple(unwrapped) if isinstance(index, tuple) else unwrapped
    return index


def _is_cuda_mask(index) -> bool:
    return isinstance(index, Tensor) and index.is_cuda and index.dtype == np.bool_


def where(condition, input=None, other=None) -> Tensor:  # noqa: A002 - PyTorch's names
    """``torch.where(cond, a, b)``: a where cond else b; ``where(cond)``: nonzero as_tuple."""
    cond = condition if isinstance(condition, Tensor) else Tensor._make(np.asarray(condition))
    if input is None and other is None:
        return cond.nonzero(as_tuple=True)
    a = input if isinstance(input, Tensor) else None
    b = other if isinstance(other, Tensor) else None
    dtype = _dt.result_type(input if a is None else a, other if b is None else b)
    on_cuda = any(t is not None and t.is_cuda for t in (cond, a, b))
    a = a.to(dtype) if a is not None else _filled(input, dtype, on_cuda)
    b = b.to(dtype) if b is not None else _filled(other, dtype, on_cuda)
    return _E.Where.apply(cond.to(np.bool_), a, b)


def _filled(value, dtype, on_cuda: bool) -> Tensor:
    """A scalar (or host data) as a tensor of ``dtype``; a scalar for a cuda op becomes a 0-d
    device array written by a kernel (no transfer)."""
    if on_cuda and np.ndim(value) == 0:
        return Tensor._make(get_backend("cuda").full((), value, dtype))
    return Tensor._make(np.asarray(value, dtype=dtype))


def from_data(data: Any, dtype=None, device=None, requires_grad: bool = False,
              copy: bool = True) -> Tensor:
    """A leaf over ``data`` with ``torch.tensor``'s dtype rules (Python floats -> the default
    float dtype, ints -> int64, arrays keep their dtype), moved to ``device`` (a counted
    copy); ``copy=False`` shares a NumPy array's or Tensor's storage where no conversion is
    needed."""
    raw = data.array if isinstance(data, Tensor) else data
    if _cuda.is_device_array(raw):  # already on the GPU: stays there unless told otherwise
        array = raw
        if dtype is not None and _dt.as_numpy(dtype) != array.dtype:
            raise TypeError(f"Tensor: a cuda array of dtype {array.dtype} cannot be "
                            f"converted to {_dt.as_numpy(dtype)} here; use .to(dtype)")
        if device is not None and as_device(device, "Tensor").type == "cpu":
            array = _cuda.to_host(array)  # a counted device->host copy
    else:
        array = _as_array(raw, dtype)
        if copy and array is raw:
            array = array.copy()
        if device is not None and as_device(device, "Tensor").type == "cuda":
            array = _cuda.to_device(array)  # a counted host->device copy
    return Tensor._make(array, requires_grad)


def tensor(data: Any, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Create a leaf Tensor (copies ``data``), like ``torch.tensor``."""
    return from_data(data, dtype, device, requires_grad)


def from_numpy(array: np.ndarray, requires_grad: bool = False) -> Tensor:
    """A Tensor that shares ``array``'s memory (no copy), like ``torch.from_numpy``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy(): expected a numpy.ndarray, got {type(array).__name__}; "
                        "use tinymm.tensor(data) to copy other data into a tensor")
    return Tensor._make(array, requires_grad=requires_grad)


def as_tensor(data: Any, dtype=None, device=None) -> Tensor:
    """``data`` itself if it is a Tensor, else a Tensor sharing its memory where it can
    (``torch.as_tensor``): NumPy arrays are not copied; lists and scalars are converted."""
    if isinstance(data, Tensor):
        return data.to(dtype=dtype, device=device)
    return from_data(data, dtype, device, copy=False)


# The ops build on Tensor, so they are imported last to close the cycle.
from tinymm.factories import ones, randn, zeros  # noqa: E402, F401 - the old home of these
from tinymm.ops import activation as _ACT  # noqa: E402
from tinymm.ops import bucketing as _BK  # noqa: E402
from tinymm.ops import elementwise as _E  # noqa: E402
from tinymm.ops import index as _I  # noqa: E402
from tinymm.ops import indexing as _IX  # noqa: E402
from tinymm.ops import matmul as _MM  # noqa: E402
from tinymm.ops import more_math as _MORE  # noqa: E402
from tinymm.ops import reduction as _R  # noqa: E402
from tinymm.ops import selection as _SEL  # noqa: E402
from tinymm.ops import shape as _S  # noqa: E402
from tinymm.ops import softmax as _SM  # noqa: E402
from tinymm.ops import special as _SP  # noqa: E402
from tinymm.ops._checks import check_dim, check_same_device  # noqa: E402

_COMPARE = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
            "eq": np.equal, "ne": np.not_equal}
_LOGICAL = {np.logical_and: "and", np.logical_or: "or", np.logical_xor: "xor"}
from tinymm.random import rng_of  # noqa: E402

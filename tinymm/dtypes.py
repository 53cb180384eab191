"""Data types with PyTorch's names and PyTorch's type-promotion rules.

The dtype objects are ``tinymm.dtype`` instances, one per NumPy dtype, as ``torch.dtype``:
``tensor.dtype is tinymm.float32``; they print as PyTorch's do (``torch.float32``: programs
compare and parse that string, as in ``str(x.dtype).replace("torch.", "")``, and a learner
can diff a run under tinymm against one under torch); they carry
``is_floating_point``, ``is_signed``, ``is_complex`` and ``itemsize``. Each holds its NumPy
dtype as ``.dtype``, which is how NumPy reads any object given as a dtype, so
``np.zeros(2, tinymm.float32)`` and ``array.astype(x.dtype)`` work; it compares equal to and
hashes as that NumPy dtype (``x.dtype == np.float32``), and reads NumPy's other dtype
attributes (``kind``, ``type``, ``char``) through.

Promotion (``result_type``), as ``torch.result_type``: operands fall into three priority
groups, tensors with at least one dimension, zero-dimensional tensors, and Python scalars;
and into three categories, bool < integer < floating. The result takes the highest category
present; its size comes from the highest-priority group that has an operand of that category
(Python scalars contribute the default dtype of their category: int64, float32). Within one
category sizes promote as NumPy does. Unlike NumPy, a category beats size: float32 with int64
is float32, and ``int_tensor * 2.5`` is float32. True division of integers gives float32.
"""

from __future__ import annotations

import numpy as np


class dtype:  # noqa: N801 - PyTorch's name
    """``torch.dtype``: one instance per NumPy dtype (``of`` finds it)."""

    __slots__ = ("dtype", "name", "is_floating_point", "is_signed", "is_complex", "itemsize")

    def __init__(self, numpy_dtype: np.dtype):
        self.dtype = np.dtype(numpy_dtype)  # NumPy's protocol for dtype-like objects
        self.name = self.dtype.name
        self.is_floating_point = self.dtype.kind == "f"
        self.is_complex = self.dtype.kind == "c"
        self.is_signed = self.dtype.kind in "fic"
        self.itemsize = self.dtype.itemsize

    def __repr__(self) -> str:
        return f"torch.{self.name}"  # PyTorch's spelling, which programs parse

    def __eq__(self, other) -> bool:
        if other is self or other is self.dtype:
            return True
        if isinstance(other, dtype):
            return False
        try:
            return self.dtype == other  # NumPy's rule: a dtype, a scalar type or a name
        except TypeError:
            return False

    def __hash__(self) -> int:
        return hash(self.dtype)  # as the NumPy dtype, so either finds the other in a dict

    def __getattr__(self, attribute: str):
        return getattr(self.dtype, attribute)  # kind, type, char, str, ...

    def __reduce__(self):
        return of, (self.name,)

    def to_real(self) -> dtype:
        return self

    def to_complex(self) -> dtype:
        raise TypeError(f"{self}: tinymm has no complex dtypes")


_BY_NUMPY: dict = {}


def of(value) -> dtype:
    """The ``tinymm.dtype`` of a NumPy dtype, a scalar type, a name or a ``tinymm.dtype``."""
    found = _BY_NUMPY.get(value) if value.__hash__ is not None else None
    if found is None:
        if isinstance(value, dtype):
            return value
        numpy_dtype = np.dtype(value)
        found = _BY_NUMPY.get(numpy_dtype)
        if found is None:
            found = _BY_NUMPY[numpy_dtype] = dtype(numpy_dtype)
    return found


float32 = float = of(np.float32)  # noqa: A001 - PyTorch's names
float64 = double = of(np.float64)
float16 = half = of(np.float16)
int64 = long = of(np.int64)
int32 = int = of(np.int32)  # noqa: A001
int16 = short = of(np.int16)
int8 = of(np.int8)
uint8 = of(np.uint8)
bool = of(np.bool_)  # noqa: A001

DEFAULT_FLOAT = np.dtype(np.float32)
DEFAULT_INT = np.dtype(np.int64)

_SCALAR_DTYPES = {True.__class__: np.dtype(np.bool_), 0 .__class__: DEFAULT_INT,
                  0.0 .__class__: DEFAULT_FLOAT}


def set_default_dtype(dtype) -> None:
    """``torch.set_default_dtype``: the float dtype of factories (zeros, rand, arange with
    floats, ...), of tensors made from Python floats, of float results of integer inputs, and
    of the parameters and buffers layers create (they build float32 and cast when the default
    is another float dtype). float16, float32 or float64."""
    global DEFAULT_FLOAT
    chosen = np.dtype(dtype)
    if chosen.kind != "f":
        raise TypeError(f"set_default_dtype: only floating-point types are supported as the "
                        f"default type, got {chosen}")
    DEFAULT_FLOAT = chosen
    _SCALAR_DTYPES[0.0 .__class__] = chosen


def get_default_dtype() -> dtype:
    """The dtype ``set_default_dtype`` set (float32 unless changed)."""
    return of(DEFAULT_FLOAT)


def category(dtype: np.dtype) -> int:
    """0 bool, 1 integer, 2 floating."""
    kind = np.dtype(dtype).kind
    if kind == "b":
        return 0
    if kind in "iu":
        return 1
    if kind == "f":
        return 2
    raise TypeError(f"dtype {np.dtype(dtype)} is not supported (bool, integer or float only)")


def promote_types(a, b) -> np.dtype:
    """``torch.promote_types``: the higher category wins, sizes promote within one."""
    a, b = np.dtype(a), np.dtype(b)
    ca, cb = category(a), category(b)
    if ca != cb:
        return a if ca > cb else b
    return np.promote_types(a, b)


def _group_dtype(dtypes: list[np.dtype]) -> np.dtype | None:
    result = None
    for d in dtypes:
        result = d if result is None else promote_types(result, d)
    return result


def result_type(*operands) -> np.dtype:
    """The dtype of an elementwise op on ``operands`` (Tensors, arrays or Python scalars)."""
    first = getattr(operands[0], "dtype", None) if operands else None
    first = getattr(first, "dtype", first)  # a tinymm.dtype's NumPy dtype
    if isinstance(first, np.dtype) and first.kind in "biuf" and all(
            getattr(x, "dtype", None) == first for x in operands):
        return np.dtype(first)  # one supported dtype throughout: it is the result
    groups: list[list[np.dtype]] = [[], [], []]  # dimensioned, zero-dim, scalars
    for x in operands:
        scalar = _SCALAR_DTYPES.get(type(x))
        if scalar is None and not hasattr(x, "dtype"):  # subclasses of the Python scalars
            scalar = next((d for t, d in _SCALAR_DTYPES.items() if isinstance(x, t)), None)
        if scalar is not None:
            groups[2].append(scalar)
            continue
        array_dtype = getattr(x, "dtype", None)
        if array_dtype is None:
            raise TypeError(f"type promotion: unsupported operand {type(x).__name__}")
        groups[0 if np.ndim(x) else 1].append(np.dtype(array_dtype))
    result = None
    for dtypes in groups:
        group = _group_dtype(dtypes)
        if group is None:
            continue
        if result is None or category(group) > category(result):
            result = group
    return result


def float_result(dtype: np.dtype) -> np.dtype:
    """The dtype of a true division or a float-only function (exp, sin, ...)."""
    return np.dtype(dtype) if category(dtype) == 2 else DEFAULT_FLOAT


def can_cast_in_place(result: np.dtype, target: np.dtype) -> bool:
    """PyTorch's rule for ``a += b``: the result may not move to a lower category."""
    return category(result) <= category(target)

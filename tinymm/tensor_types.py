"""PyTorch's legacy tensor types: ``tinymm.FloatTensor``, ``DoubleTensor``, ``HalfTensor``,
``LongTensor``, ``IntTensor``, ``ShortTensor``, ``CharTensor``, ``ByteTensor``, ``BoolTensor``.

Each is a constructor and an ``isinstance`` test, as in PyTorch:

    LongTensor([[1, 2]])      a copy of the data as int64 (a list, tuple or array)
    FloatTensor(2, 3)         a new (2, 3) float32 tensor of size ints (or a Size); its values
                              are zeros here, where PyTorch leaves memory uninitialised
    FloatTensor()             an empty (0,) tensor
    isinstance(x, FloatTensor)   True for a tinymm Tensor of dtype float32
    x.type(LongTensor)        a cast (Tensor.type)
"""

from __future__ import annotations

import numpy as np

from tinymm.tensor import Tensor, from_data, legacy_array


class _LegacyType(type):
    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype

    def __call__(cls, *args, device=None) -> Tensor:
        if len(args) == 1 and isinstance(args[0], Tensor):
            args = (args[0].detach().cpu().numpy(),)
        return from_data(legacy_array(cls.__name__, cls.dtype, args), device=device, copy=False)

    def __repr__(cls) -> str:
        return f"<class 'tinymm.{cls.__name__}'>"


def _legacy(name: str, dtype) -> type:
    return _LegacyType(name, (), {"dtype": np.dtype(dtype),
                                  "__doc__": f"``tinymm.{name}``: {np.dtype(dtype)} tensors."})


FloatTensor = _legacy("FloatTensor", np.float32)
DoubleTensor = _legacy("DoubleTensor", np.float64)
HalfTensor = _legacy("HalfTensor", np.float16)
LongTensor = _legacy("LongTensor", np.int64)
IntTensor = _legacy("IntTensor", np.int32)
ShortTensor = _legacy("ShortTensor", np.int16)
CharTensor = _legacy("CharTensor", np.int8)
ByteTensor = _legacy("ByteTensor", np.uint8)
BoolTensor = _legacy("BoolTensor", np.bool_)

__all__ = ["BoolTensor", "ByteTensor", "CharTensor", "DoubleTensor", "FloatTensor",
           "HalfTensor", "IntTensor", "LongTensor", "ShortTensor"]

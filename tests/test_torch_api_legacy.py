"""PyTorch's legacy tensor types (tinymm/tensor_types.py): construction from data and from
sizes, isinstance, and casts with Tensor.type, against PyTorch (behind importorskip)."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm

NAMES = ["FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor", "ShortTensor",
         "CharTensor", "ByteTensor", "BoolTensor"]


@pytest.mark.parametrize("name", NAMES)
def test_constructors_match_torch(name):
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(tinymm, name), getattr(torch, name)
    data = [[1, 0, 2], [3, 1, 0]]
    for args in ([data], [np.array(data, np.int32)], [(1, 2)]):
        a, b = ours(*args), theirs(*args)
        assert a.dtype == np.dtype(str(b.dtype).replace("torch.", "")), (name, args)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for sizes in ((2, 3), (tinymm.Size([4]),), ()):
        want = theirs(*(torch.Size(s) if isinstance(s, tinymm.Size) else s for s in sizes))
        assert tuple(ours(*sizes).shape) == tuple(want.shape)
    x = tinymm.zeros(2, dtype=ours.dtype)
    assert isinstance(x, ours) and not isinstance(tinymm.zeros(2, dtype=tinymm.float64)
                                                  if name != "DoubleTensor" else x.int(), ours)
    assert tinymm.ones(3).type(ours).dtype == ours.dtype


def test_bad_arguments_raise_type_error():
    with pytest.raises(TypeError, match=r"LongTensor\(\): expected a sequence .* got float"):
        tinymm.LongTensor(2.5)

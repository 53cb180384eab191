"""PyTorch's Tensor semantics that programs written for PyTorch rely on."""

import numpy as np
import pytest

import tinymm
from tinymm import Tensor, tensor


def test_data_is_a_tensor_sharing_storage_outside_the_graph():
    w = tensor(np.arange(4.0), requires_grad=True)
    d = w.data
    assert isinstance(d, Tensor) and not d.requires_grad and d.is_leaf
    d.array[0] = 10.0  # writes through to w's storage
    assert w.array[0] == 10.0
    w.data = np.zeros(4)
    np.testing.assert_array_equal(w.array, 0.0)
    with pytest.raises(ValueError, match="shape"):
        w.data = np.zeros(3)


def test_grad_is_a_tensor_and_accumulates_in_place():
    x = tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    g = x.grad
    assert isinstance(g, Tensor)
    np.testing.assert_array_equal(g.array, [2.0, 4.0])
    (x * 3.0).sum().backward()
    assert x.grad is g  # the same gradient tensor, added into
    np.testing.assert_array_equal(g.array, [5.0, 7.0])
    x.grad = None
    assert x.grad is None
    with pytest.raises(ValueError, match="shape"):
        x.grad = np.zeros(3)


def test_equality_is_elementwise():
    a = tensor(np.array([1, 2, 3]))
    b = tensor(np.array([1, 0, 3]))
    eq = a == b
    assert isinstance(eq, Tensor) and eq.dtype == np.bool_
    np.testing.assert_array_equal(eq.array, [True, False, True])
    np.testing.assert_array_equal((a != b).array, [False, True, False])
    np.testing.assert_array_equal((a == 2).array, [False, True, False])
    assert bool(tensor(np.array([1.0])) == 1.0)
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(eq)
    assert len({a, b}) == 2  # still hashable by identity


def test_from_numpy_shares_memory_and_as_tensor_passes_tensors_through():
    a = np.zeros(3, dtype=np.float32)
    t = tinymm.from_numpy(a)
    a[1] = 5.0
    assert t.array[1] == 5.0 and t.dtype == np.float32
    with pytest.raises(TypeError, match="ndarray"):
        tinymm.from_numpy([1.0, 2.0])
    assert tinymm.as_tensor(t) is t
    assert tinymm.as_tensor(a).array is a

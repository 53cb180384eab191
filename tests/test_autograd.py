"""Autograd semantics: accumulation, no_grad, retain_graph, deep chains, error messages."""

import sys

import numpy as np
import pytest

import tinymm
from tinymm import ArrayFunction, no_grad


def leaf(values, dtype=np.float64):
    return tinymm.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def test_fan_out_accumulates():
    x = leaf([1.0, 2.0, 3.0])
    y = x * x + x * 3.0  # x used three times
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.array + 3)


def test_diamond_graph_visits_each_node_once():
    x = leaf([0.5, -1.0])
    a = x * 2.0
    b = a.exp()
    c = a * 3.0
    (b + c).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * np.exp(2 * x.array) + 6)


def test_grad_accumulates_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 2.0).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, [5.0, 5.0])
    x.zero_grad()
    assert x.grad is None


def test_no_grad_records_nothing():
    x = leaf([1.0])
    with no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_no_grad_decorator():
    @no_grad()
    def double(t):
        return t * 2.0

    assert not double(leaf([1.0])).requires_grad


def test_detach_cuts_the_graph():
    x = leaf([1.0, 2.0])
    y = (x * 2.0).detach() * x
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.array)  # the detached factor is a constant


def test_deep_chain_has_no_recursion_limit():
    x = leaf([1.0])
    y = x
    for _ in range(5 * sys.getrecursionlimit()):  # a recursive backward would overflow
        y = y + 1.0
    y.backward()
    np.testing.assert_allclose(x.grad, [1.0])


def test_non_scalar_backward_needs_gradient():
    x = leaf([1.0, 2.0])
    y = x * 2.0
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        y.backward()
    y.backward(np.array([1.0, -1.0]))
    np.testing.assert_allclose(x.grad, [2.0, -2.0])


def test_backward_gradient_shape_is_checked():
    y = leaf([1.0, 2.0]) * 2.0
    with pytest.raises(ValueError, match=r"expected \(2,\)"):
        y.backward(np.ones(3))


def test_saved_arrays_are_freed_unless_retain_graph():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()  # allowed: the first call kept the graph
    np.testing.assert_allclose(x.grad, 4 * x.array)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_retain_grad_on_intermediate():
    x = leaf([1.0, 2.0])
    h = x * 3.0
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, 2 * h.array)


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="float32/float64"):
        tinymm.tensor([1, 2], requires_grad=True)


def test_custom_function_multi_output():
    class SplitHalves(ArrayFunction):
        @staticmethod
        def forward(ctx, x):
            n = x.shape[0] // 2
            return x[:n] * 2, x[n:] * 3

        @staticmethod
        def backward(ctx, g1, g2):
            return (np.concatenate([g1 * 2, g2 * 3]),)

    x = leaf([1.0, 2.0, 3.0, 4.0])
    a, b = SplitHalves.apply(x)
    a.sum().backward()  # b unused: its gradient slot is zero-filled
    np.testing.assert_allclose(x.grad, [2, 2, 0, 0])


def test_wrong_gradient_count_is_reported():
    class Bad(ArrayFunction):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return (g,)

    y = Bad.apply(leaf([1.0]), leaf([2.0]))
    with pytest.raises(RuntimeError, match="returned 1 gradients for 2"):
        y.backward()


def test_python_scalars_keep_tensor_dtype():
    x = tinymm.tensor(np.ones(3, dtype=np.float32))
    assert (x * 2.5).dtype == np.float32
    assert (1.0 - x).dtype == np.float32
    assert tinymm.tensor([1.0, 2.0]).dtype == np.float32
    assert tinymm.tensor([1, 2]).dtype == np.int64


def test_comparisons_have_no_grad():
    x = leaf([1.0, -1.0])
    m = x > 0
    assert m.dtype == bool and not m.requires_grad
    np.testing.assert_array_equal(m.array, [True, False])


def test_getitem_repeated_index_accumulates():
    x = leaf([1.0, 2.0, 3.0])
    x[np.array([0, 0, 2])].sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 0.0, 1.0])


def test_broadcast_error_names_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\) do not broadcast"):
        tinymm.tensor(np.ones((2, 3))) + tinymm.tensor(np.ones(4))


def test_numpy_of_grad_tensor_asks_for_detach():
    with pytest.raises(RuntimeError, match="detach"):
        leaf([1.0]).numpy()


def test_tensor_is_hashable_by_identity():
    a, b = leaf([1.0]), leaf([1.0])
    assert len({a, b}) == 2


def test_backward_frees_kernel_caches():
    x = leaf(np.ones((2, 3)))
    w = leaf(np.ones((4, 3)))
    y = tinymm.F.linear(x, w)
    node = y._node
    assert node.saved != ()  # the kernel cache, saved by save_for_backward
    y.sum().backward()
    assert node.saved == () and node.freed

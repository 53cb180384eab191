"""Differential tests, part five: views and aliasing (an in-place change through a view
reaches its base and the other way round; copies stay apart), in-place ops in the graph and
the errors PyTorch raises for them, and mixed basic and advanced indexing, on tinymm and on
PyTorch from the same inputs (``m`` is the module a row runs under)."""

import numpy as np
import pytest

import tinymm
from tests.test_parity_torch import _assert_same

torch = pytest.importorskip("torch")


def _base(m):
    return m.arange(12.0).reshape(3, 4)


def _cube(m):
    return m.arange(24.0).reshape(2, 3, 4)


def _through(change):
    """The base after ``change(m, base)`` wrote through a view of it (or through a copy)."""
    def run(m):
        x = _base(m)
        change(m, x)
        return x
    return run


ALIASING = {
    "an element of a 2-d tensor": _through(lambda m, x: x[1, 2].fill_(-1)),
    "an element after an ellipsis": _through(lambda m, x: x[..., 0, 1].add_(100)),
    "an element of a row": _through(lambda m, x: x[0][3].mul_(0)),
    "an element of a 1-d view": _through(lambda m, x: x.view(12)[5].zero_()),
    "an element of a squeezed view": _through(lambda m, x: x[None].squeeze(0)[0, 0].fill_(7)),
    "an element of view_as": _through(lambda m, x: x.view_as(m.zeros(12))[5].fill_(0)),
    "a slice of a flat view": _through(lambda m, x: x.view(12)[3:5].add_(100)),
    "a row of t()": _through(lambda m, x: x.t()[0].fill_(-1)),
    "a transposed column": _through(lambda m, x: x.transpose(0, 1)[1:, 0].mul_(10)),
    "narrow": _through(lambda m, x: x.narrow(1, 1, 2).zero_()),
    "select then setitem": _through(lambda m, x: x.select(1, 2).__setitem__(slice(None), 7)),
    "unsqueeze then clamp_": _through(lambda m, x: x.unsqueeze(0).clamp_(max=3)),
    "unbind, split and chunk pieces": _through(lambda m, x: (
        x.unbind(0)[1].add_(50), x.split(2, 1)[1].add_(5), x.chunk(2, 0)[1].add_(1))),
    "reshape and flatten of a contiguous tensor": _through(lambda m, x: (
        x.reshape(2, 6)[1].sub_(1), x.flatten()[0:2].copy_(m.tensor([9.0, 9.0])))),
    "permute and movedim": _through(lambda m, x: (x.permute(1, 0)[0].fill_(3),
                                                  x.movedim(0, 1)[1].fill_(4))),
    "stepped slices": _through(lambda m, x: x[::2, 1::2].fill_(-9)),
    "a slice of a slice": _through(lambda m, x: x[1:][:, 2:][0].fill_(-9)),
    "detach and data": _through(lambda m, x: (x.detach()[0].fill_(-9), x.data[1].fill_(-8))),
    "a flip is a copy": _through(lambda m, x: (x.flip(0).add_(100), x.flip((0, 1)).add_(100))),
    "fliplr and flipud are copies": _through(lambda m, x: (m.fliplr(x).add_(100),
                                                           m.flipud(x).add_(100))),
    "advanced and mask indexing are copies": _through(lambda m, x: (
        x[[0, 2]].fill_(-9), x[x > 5].fill_(-9), x[:, [1]].fill_(-9))),
    "clone is a copy": _through(lambda m, x: x.clone()[0].fill_(-1)),
    "a view sees a later change of its base": lambda m: (lambda x: (
        lambda v: (x.add_(1), v)[1])(x[1]))(_base(m)),
    "an element view sees a later change": lambda m: (lambda x: (
        lambda v: (x.mul_(2), v)[1])(x[1, 1]))(_base(m)),
}


@pytest.mark.parametrize("name", sorted(ALIASING))
def test_views_alias_their_base_and_copies_do_not_as_torch(name):
    _assert_same(ALIASING[name](tinymm), ALIASING[name](torch))


SETITEM = {
    "a row broadcast into a column slice": _through(lambda m, x: x[:, 1:3].__setitem__(
        (slice(None),), m.tensor([5.0, 6.0]))),
    "mixed slice and index list": _through(lambda m, x: x.__setitem__(
        (slice(0, 2), [1, 3]), m.tensor([[1.0, 2], [3, 4]]))),
    "a row mask with a broadcast row": _through(lambda m, x: x.__setitem__(
        m.tensor([True, False, True]), m.tensor([1.0, 2, 3, 4]))),
    "negative indices": _through(lambda m, x: x.__setitem__((-1, -1), 100.0)),
    "a repeated int tensor index": _through(lambda m, x: x.__setitem__(m.tensor([0, 0, 2]), 1.0)),
    "a column of values into two columns": _through(lambda m, x: x.__setitem__(
        (slice(None), [0, 2]), m.tensor([[1.0], [2], [3]]))),
    "masked_fill_ through a view": _through(lambda m, x: x[1:].masked_fill_(
        m.tensor([True, False, False, True]), 0.0)),
    "index_fill_ through a transpose": _through(
        lambda m, x: x.t().index_fill_(0, m.tensor([1]), -3.0)),
    "scatter_ through a view": _through(lambda m, x: x[1:].scatter_(
        1, m.tensor([[0], [3]]), 0.0)),
    "scatter_add_ of a repeated index": _through(lambda m, x: x.scatter_add_(
        0, m.tensor([[0, 0, 0, 0]]), m.ones(1, 4))),
    "copy_ broadcasts and casts": _through(lambda m, x: x.copy_(m.tensor([1, 2, 3, 4]))),
}


@pytest.mark.parametrize("name", sorted(SETITEM))
def test_setitem_and_in_place_indexing_match_torch(name):
    _assert_same(SETITEM[name](tinymm), SETITEM[name](torch))


GETITEM = {
    "advanced dims apart go first": lambda m: _cube(m)[[0, 1], :, [1, 2]],
    "adjacent advanced dims stay in place": lambda m: _cube(m)[:, [0, 2], [1, 3]],
    "broadcast index tensors": lambda m: _cube(m)[m.tensor([[0], [1]]), :, m.tensor([1, 2, 3])],
    "an index list beside None": lambda m: _cube(m)[None, [0, 1], 1],
    "an int, a list and a slice": lambda m: _cube(m)[1, [0, 2], 1:3],
    "a bool mask beside an int": lambda m: _cube(m)[m.tensor([True, False]), 1],
    "a 2-d mask over the leading dims": lambda m: _cube(m)[m.arange(6).reshape(2, 3) % 2 == 0],
    "a scalar True and False": lambda m: (_base(m)[True].shape, _base(m)[False].shape),
    "negative index lists": lambda m: _base(m)[[-1, -3]],
    "an empty list": lambda m: _base(m)[[]],
    "a slice past the end": lambda m: _base(m)[5:10],
    "a list of bools": lambda m: _base(m)[[True, False, True]],
    "a 2-d index tensor": lambda m: _base(m)[m.tensor([[0, 1], [2, 2]])],
    "two 0-d index tensors": lambda m: _base(m)[m.tensor(1), m.tensor(2)],
}


@pytest.mark.parametrize("name", sorted(GETITEM))
def test_mixed_indexing_matches_torch(name):
    _assert_same(GETITEM[name](tinymm), GETITEM[name](torch))


def _leaf(m):
    return m.tensor([1.0, 2.0, 3.0], requires_grad=True)


def _setitem_grads(m):
    x, v = m.ones(3, 2, requires_grad=True), m.tensor(5.0, requires_grad=True)
    y = x * 1
    y[:, 1] = v * 3
    (y * y).sum().backward()
    return x.grad, v.grad


def _copy_grad(m):
    x, v = _leaf(m), m.tensor([2.0, 3.0, 4.0], requires_grad=True)
    y = (x * 1).copy_(v)
    (y * 2).sum().backward()
    return x.grad, v.grad


GRAPH = {"setitem of a broadcast value": _setitem_grads, "copy_": _copy_grad}


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_in_place_ops_in_the_graph_match_torch(name):
    _assert_same(GRAPH[name](tinymm), GRAPH[name](torch))


def _saved_then_changed(change, op):
    def run(m):
        x = m.tensor(np.arange(1.0, 7).reshape(2, 3), requires_grad=True)
        y = x * 1
        z = op(y)
        change(y, z)
        z.sum().backward()
    return run


REFUSED = {
    "in-place on a view of a leaf": lambda m: _leaf(m)[0].add_(1),
    "in-place on a slice of a leaf": lambda m: _leaf(m)[1:].mul_(2),
    "zero_ on a flat view of a leaf": lambda m: _leaf(m).view(3).zero_(),
    "a negative slice step": lambda m: _base(m)[::-1],
    "a negative step in a tuple": lambda m: _base(m)[:, 3:0:-2],
    "setitem with a negative step": lambda m: _base(m).__setitem__(slice(None, None, -1), 0.0),
    "a zero step": lambda m: _base(m)[::0],
    "a float index tensor": lambda m: _base(m)[m.tensor([0.0])],
    "an index past the end": lambda m: _base(m)[3],
    "an index list past the end": lambda m: _base(m)[[0, 3]],
    "a saved input changed through a flat view": _saved_then_changed(
        lambda y, z: y.view(6)[0].mul_(2), lambda y: y.exp() * y),
    "a saved input changed through a row": _saved_then_changed(
        lambda y, z: y[0].add_(2), lambda y: y * y),
    "an element of a saved input changed": _saved_then_changed(
        lambda y, z: y[0, 1].add_(2), lambda y: y * y),
    "a saved output changed": _saved_then_changed(lambda y, z: z.mul_(2), lambda y: y.exp()),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_as_torch(name):
    with pytest.raises((RuntimeError, IndexError, ValueError, TypeError)):
        REFUSED[name](torch)
    with pytest.raises((RuntimeError, IndexError, ValueError, TypeError)):
        REFUSED[name](tinymm)


def test_in_place_through_a_view_of_a_non_leaf_is_never_a_silent_wrong_gradient():
    """torch carries ``y[0].mul_(3)`` into y's graph (x.grad = [6, 2, 2]); tinymm records the
    view only, so it must refuse the backward rather than return [2, 2, 2]."""
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y[0].mul_(3)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 2.0, 2.0])
    x = tinymm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y[0].mul_(3)
    with pytest.raises(RuntimeError, match="changed through a view"):
        y.sum().backward()

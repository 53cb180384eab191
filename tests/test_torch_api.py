"""PyTorch's Tensor semantics and functions in tinymm (issue 13): the three behaviours that
used to be silently wrong, in-place ops and the version counter, dtypes and promotion, the
seeded generator, factories, math with backward, indexed reductions, einsum, missing names.

Every function is checked against NumPy (an independent expectation), against PyTorch when it
is installed, and with finite differences (``tinymm.gradcheck``) when it is differentiable.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm
from tinymm import nn

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
FAST = settings(max_examples=12, deadline=None)


def _torch():
    return pytest.importorskip("torch")


# ---------------------------------------------------------------- the silently-wrong three
def test_manual_sgd_update_under_no_grad_changes_the_parameter():
    """"Learning PyTorch with examples": ``w -= lr * w.grad`` inside no_grad updates w."""
    w = tinymm.tensor([1.0, -2.0], requires_grad=True)
    (w * w).sum().backward()  # grad = 2 w
    same_object = w
    with tinymm.no_grad():
        w -= 0.1 * w.grad
        w.grad = None
    assert w is same_object and w.requires_grad and w.is_leaf
    np.testing.assert_allclose(w.numpy() if not w.requires_grad else w.detach().numpy(),
                               [0.8, -1.6], rtol=1e-6)


def test_elementwise_comparisons_return_bool_tensors():
    a, b = tinymm.tensor([1.0, 2.0, 3.0]), tinymm.tensor([3.0, 2.0, 1.0])
    for op, ref in [("__eq__", np.equal), ("__ne__", np.not_equal), ("__lt__", np.less),
                    ("__le__", np.less_equal), ("__gt__", np.greater),
                    ("__ge__", np.greater_equal)]:
        out = getattr(a, op)(b)
        assert isinstance(out, tinymm.Tensor) and out.dtype == tinymm.bool
        np.testing.assert_array_equal(out.numpy(), ref(a.numpy(), b.numpy()))
    assert (a == b).sum().item() == 1  # accuracy counting: (pred == y).sum().item()


def test_randn_follows_manual_seed():
    tinymm.manual_seed(123)
    first = [tinymm.randn(4).numpy(), tinymm.rand(2).numpy(), tinymm.randint(0, 9, (3,)).numpy(),
             tinymm.randperm(5).numpy(), nn.Linear(3, 2).weight.detach().numpy()]
    tinymm.manual_seed(123)
    again = [tinymm.randn(4).numpy(), tinymm.rand(2).numpy(), tinymm.randint(0, 9, (3,)).numpy(),
             tinymm.randperm(5).numpy(), nn.Linear(3, 2).weight.detach().numpy()]
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x, y)
    tinymm.manual_seed(124)
    assert not np.array_equal(tinymm.randn(4).numpy(), first[0])


def test_generator_objects_are_independent_of_the_global_one():
    g = tinymm.Generator().manual_seed(7)
    a = tinymm.randn(3, generator=g).numpy()
    tinymm.manual_seed(0)
    tinymm.randn(10)  # the global stream moves; g's does not
    b = tinymm.randn(3, generator=tinymm.Generator().manual_seed(7)).numpy()
    np.testing.assert_array_equal(a, b)
    tinymm.manual_seed(5)
    x = nn.Dropout(0.5)(tinymm.ones(50))
    tinymm.manual_seed(5)
    np.testing.assert_array_equal(nn.Dropout(0.5)(tinymm.ones(50)).numpy(), x.numpy())


# ---------------------------------------------------------------- in-place ops
def test_in_place_ops_match_numpy_and_share_storage_with_views():
    x = tinymm.zeros(2, 3)
    view = x[0]
    x.add_(1).mul_(3).sub_(tinymm.ones(3), alpha=2).div_(2)
    np.testing.assert_allclose(x.numpy(), np.full((2, 3), 0.5))
    view.fill_(7.0)  # writes through to x, as a PyTorch view does
    np.testing.assert_array_equal(x.numpy()[0], 7.0)
    x.clamp_(0, 1)
    assert x.numpy().max() == 1.0
    x[1, 2] = -4.0
    x.copy_(x * 2)
    assert x.numpy()[1, 2] == -8.0
    x.zero_()
    assert not x.numpy().any()
    assert x._version == view._version > 0  # one counter per storage


def test_in_place_on_a_leaf_that_requires_grad_is_an_error():
    w = tinymm.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad.*no_grad"):
        w.add_(1)
    with pytest.raises(RuntimeError, match="leaf"):
        w[0] = 3.0


def test_in_place_dtype_rule():
    x = tinymm.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        x += 0.5  # int64 += float: PyTorch refuses
    y = tinymm.zeros(2)
    y += tinymm.tensor([1, 2])  # float32 += int64 is fine
    assert y.dtype == tinymm.float32


def test_modifying_a_tensor_saved_for_backward_raises():
    a = tinymm.randn(3, requires_grad=True)
    b = a * 2
    c = b * b  # Mul saves b
    b.add_(1)
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation: \[float32 "
                       r"\[3\], input 0 of Mul\] is at version 1"):
        c.sum().backward()
    e = (a * 3).exp()  # Exp saves its output
    e.mul_(2)
    with pytest.raises(RuntimeError, match="inplace"):
        e.sum().backward()


def test_in_place_not_saved_is_fine_and_graph_in_place_matches_torch():
    torch = _torch()
    rng = np.random.default_rng(0)
    a0, v0 = rng.standard_normal((3, 4)), rng.standard_normal(4)

    def program(lib, a, v):
        h = a * 2  # Mul saves a and 2, not h
        h += v  # recorded in place
        h[1] = v * 3  # x[i] = v with v requiring grad
        h.mul_(v)  # v is saved; h's old values are kept for v's gradient
        return (h * h).sum()

    ours = [tinymm.tensor(a0, requires_grad=True), tinymm.tensor(v0, requires_grad=True)]
    theirs = [torch.tensor(a0, requires_grad=True), torch.tensor(v0, requires_grad=True)]
    program(tinymm, *ours).backward()
    program(torch, *theirs).backward()
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-12)


def test_augmented_assignment_to_an_index_matches_torch():
    torch = _torch()
    x0 = np.random.default_rng(5).standard_normal((3, 4))

    def program(lib, x):
        y = x * 1.0
        z = y * 3  # consumes y before the in-place ops: its gradient must still reach x
        y[:, 0] += 5 * x[:, 1]  # getitem, in-place add on the view, setitem
        y[1] *= x[2]
        return (y * y).sum() + z.sum()

    ours, theirs = tinymm.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    program(tinymm, ours).backward()
    program(torch, theirs).backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)
    y = tinymm.tensor(x0, requires_grad=True) * 1.0
    y[1] *= y[2]  # Mul saved the view y[2]; writing y[1] bumps the shared counter: torch raises
    with pytest.raises(RuntimeError, match="inplace"):
        (y * y).sum().backward()


def test_recorded_in_place_through_a_view_refuses_a_silently_wrong_gradient():
    v = tinymm.randn(3, requires_grad=True)
    h = tinymm.zeros(2, 3)
    h[0].add_(v)  # changes h's values, but the graph records the view only
    with pytest.raises(RuntimeError, match="changed through a view.*x\\[index\\] = value"):
        h.sum()
    h[0] = v * 2  # an assignment through h itself makes it usable again
    h.sum().backward()


def test_multiplying_a_tensor_by_itself_in_place_raises_as_in_torch():
    a = tinymm.ones(3, requires_grad=True) * 2
    a.mul_(a)  # Mul saved `other`, which is a itself, now overwritten
    with pytest.raises(RuntimeError, match="inplace"):
        a.sum().backward()


def test_setitem_gradient_by_finite_differences():
    def fn(x, v):
        h = x * 1.0
        h[1:3, 0] = v
        return h * h

    rng = np.random.default_rng(1)
    assert tinymm.gradcheck(fn, [rng.standard_normal((4, 2)), rng.standard_normal(2)])


# ---------------------------------------------------------------- metadata and conversion
def test_size_numel_dim_view_narrow_t_new_type_to():
    x = tinymm.arange(24).float().view(2, 3, 4)
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.shape.numel() == x.numel() == 24 and x.dim() == 3
    assert x.view_as(tinymm.zeros(6, 4)).shape == (6, 4)
    np.testing.assert_array_equal(x.narrow(2, 1, 2).numpy(), x.numpy()[:, :, 1:3])
    m = x[0]
    np.testing.assert_array_equal(m.t().numpy(), m.numpy().T)
    with pytest.raises(ValueError, match="<= 2"):
        x.t()
    assert x.contiguous() is x
    z = x.new_zeros(2, 2)
    assert z.dtype == x.dtype and not z.numpy().any()
    assert x.new_ones((3,)).numpy().sum() == 3 and x.new_tensor([1, 2]).dtype == x.dtype
    assert x.type() == "torch.FloatTensor" and x.long().type() == "torch.LongTensor"
    assert x.type(tinymm.float64).dtype == tinymm.float64
    assert x.to(tinymm.float64).dtype == tinymm.float64 and x.to("cpu") is x
    assert x.to(tinymm.device("cpu"), tinymm.int64).dtype == tinymm.int64
    assert x.device == "cpu" and x.device == tinymm.device("cpu")
    with pytest.raises(ValueError, match="'cuda' is not available"):
        x.to("cuda")
    assert nn.Linear(2, 2).to("cpu").to(tinymm.device("cpu")).weight.device == "cpu"
    assert int(tinymm.tensor(3)) == 3 and [10, 20, 30][tinymm.tensor(1)] == 20
    assert float(tinymm.tensor([2.5])) == 2.5 and f"{tinymm.tensor(1.23456):.2f}" == "1.23"
    with pytest.raises(TypeError, match="integer"):
        [1, 2][tinymm.tensor(1.0)]


def test_dtype_objects_compare_with_tensor_dtypes():
    assert tinymm.float is tinymm.float32 and tinymm.double is tinymm.float64
    assert tinymm.long is tinymm.int64 and tinymm.int is tinymm.int32
    assert tinymm.zeros(1, dtype=tinymm.bool).dtype == tinymm.bool
    assert tinymm.tensor([1.0]).dtype == tinymm.float32 and tinymm.tensor([1]).dtype == tinymm.long
    assert tinymm.get_default_dtype() == tinymm.float32


PROMOTION = [  # (left dtype, right: a dtype for a 1-d tensor, "0d:<dtype>", or a Python scalar)
    ("float32", "int64"), ("float32", "float64"), ("int64", "int32"), ("int32", "uint8"),
    ("uint8", "int8"), ("bool", "int64"), ("int64", 2.5), ("int64", 2), ("float32", 2),
    ("bool", 1.5), ("float32", "0d:float64"), ("int64", "0d:float64"), ("int32", "0d:int64"),
    ("float64", 1e300),
]


@pytest.mark.parametrize("left,right", PROMOTION)
def test_type_promotion_matches_torch(left, right):
    torch = _torch()

    def make(lib, spec):
        if not isinstance(spec, str):
            return spec
        zero_dim = spec.startswith("0d:")
        name = spec[3:] if zero_dim else spec
        data = np.array(1 if zero_dim else [1, 1]).astype(name)
        return lib.tensor(data) if lib is tinymm else torch.from_numpy(data)

    for op in ("__add__", "__mul__", "__truediv__", "__pow__", "__sub__"):
        if op == "__sub__" and "bool" in (left, right):
            continue  # PyTorch refuses bool subtraction
        ours = getattr(make(tinymm, left), op)(make(tinymm, right))
        theirs = getattr(make(torch, left), op)(make(torch, right))
        assert str(ours.dtype) == str(theirs.dtype), (op, left, right)


def test_pow_of_float32_by_int64_tensor_stays_float32_and_differentiates():
    x = tinymm.tensor([1.5, 2.0], requires_grad=True)
    y = x ** tinymm.tensor([2, 3])
    assert y.dtype == tinymm.float32
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])


# ---------------------------------------------------------------- factories
def test_factories_match_torch_exactly():
    torch = _torch()
    cases = [("linspace", (-math.pi, math.pi, 2000)), ("linspace", (0, 1, 7)),
             ("arange", (10,)), ("arange", (0, 1, 0.1)), ("arange", (2, 11, 3)),
             ("eye", (3, 4)), ("full", ((2, 3), 1.5)), ("full", ((2,), 4))]
    for name, args in cases:
        ours, theirs = getattr(tinymm, name)(*args), getattr(torch, name)(*args)
        assert str(ours.dtype) == str(theirs.dtype), name
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=f"{name}{args}")
    x = tinymm.randn(2, 3).double()
    assert tinymm.zeros_like(x).dtype == tinymm.float64 and tinymm.ones_like(x).numpy().all()
    assert tinymm.full_like(x, 7).numpy().min() == 7


def test_random_factories_have_the_documented_distributions():
    tinymm.manual_seed(0)
    u = tinymm.rand(20000).numpy()
    assert u.dtype == np.float32 and 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
    n = tinymm.randn(20000).numpy()
    assert abs(n.mean()) < 0.03 and abs(n.std() - 1) < 0.03
    r = tinymm.randint(3, 7, (1000,)).numpy()
    assert r.dtype == np.int64 and set(r.tolist()) == {3, 4, 5, 6}
    assert sorted(tinymm.randperm(6).tolist()) == list(range(6))
    m = tinymm.normal(2.0, 0.5, size=(5000,)).numpy()
    assert abs(m.mean() - 2) < 0.05 and abs(m.std() - 0.5) < 0.05
    draws = tinymm.multinomial(tinymm.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 3.0]]), 2,
                               replacement=True)
    np.testing.assert_array_equal(draws.numpy(), [[1, 1], [2, 2]])


# ---------------------------------------------------------------- math with backward
UNARY = {  # name: (numpy reference, domain low bound or None, domain high bound)
    "sin": (np.sin, None, None), "cos": (np.cos, None, None), "tan": (np.tan, -1.0, 1.0),
    "exp": (np.exp, None, None), "log": (np.log, 0.2, None), "tanh": (np.tanh, None, None),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), None, None), "sqrt": (np.sqrt, 0.2, None),
    "rsqrt": (lambda x: 1 / np.sqrt(x), 0.2, None), "asin": (np.arcsin, -0.8, 0.8),
    "acos": (np.arccos, -0.8, 0.8), "atan": (np.arctan, None, None),
    "sinh": (np.sinh, None, None), "cosh": (np.cosh, None, None),
    "log1p": (np.log1p, -0.5, None), "expm1": (np.expm1, None, None),
    "log2": (np.log2, 0.2, None), "log10": (np.log10, 0.2, None),
    "reciprocal": (lambda x: 1 / x, 0.3, None), "abs": (np.abs, None, None),
    "square": (np.square, None, None),
}


def _domain(rng, shape, low, high):
    x = rng.uniform(-2.0 if low is None else low, 2.0 if high is None else high, shape)
    return x


@pytest.mark.parametrize("name", sorted(UNARY))
@FAST
@given(shape=shapes)
def test_unary_math_against_numpy_torch_and_finite_differences(name, shape):
    ref, low, high = UNARY[name]
    x = _domain(np.random.default_rng(len(shape)), shape, low, high)
    fn = getattr(tinymm, name)
    np.testing.assert_allclose(fn(tinymm.tensor(x)).numpy(), ref(x), rtol=1e-12)
    assert fn(tinymm.tensor(x.astype(np.float32))).dtype == tinymm.float32
    assert tinymm.gradcheck(fn, [x])
    try:
        import torch
    except ImportError:
        return
    t = torch.tensor(x, requires_grad=True)
    getattr(torch, name)(t).sum().backward()
    ours = tinymm.tensor(x, requires_grad=True)
    fn(ours).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), t.grad.numpy(), rtol=1e-10)


def test_math_on_integer_tensors_gives_float32():
    assert tinymm.exp(tinymm.tensor([0, 1])).dtype == tinymm.float32
    assert tinymm.sqrt(tinymm.arange(4)).dtype == tinymm.float32


def test_rounding_functions_have_zero_gradient():
    x = tinymm.tensor([0.4, 1.6, -2.5], requires_grad=True)
    y = x.floor() + x.ceil() + x.round() + x.sign() + x.trunc()
    np.testing.assert_array_equal(y.detach().numpy(), np.floor(x.detach().numpy()) + np.ceil(
        x.detach().numpy()) + np.round(x.detach().numpy()) + np.sign(x.detach().numpy())
        + np.trunc(x.detach().numpy()))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0.0)


@FAST
@given(shape=shapes, flags=st.lists(st.booleans(), min_size=3, max_size=3))
def test_where_maximum_minimum_gradcheck(shape, flags):
    rng = np.random.default_rng(sum(shape))
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    b_shape = tuple(1 if f else s for f, s in zip(flags, shape))
    b = b[tuple(slice(0, n) for n in b_shape)]
    cond = rng.random(shape) > 0.5
    np.testing.assert_array_equal(tinymm.where(tinymm.tensor(cond), tinymm.tensor(a),
                                               tinymm.tensor(b)).numpy(), np.where(cond, a, b))
    assert tinymm.gradcheck(lambda x, y: tinymm.where(tinymm.tensor(cond), x, y), [a, b])
    assert tinymm.gradcheck(tinymm.maximum, [a, b]) and tinymm.gradcheck(tinymm.minimum, [a, b])
    np.testing.assert_array_equal(tinymm.maximum(tinymm.tensor(a), tinymm.tensor(b)).numpy(),
                                  np.maximum(a, b))


def test_where_with_a_python_scalar_keeps_the_tensor_dtype():
    x = tinymm.tensor([-1.0, 2.0])
    out = tinymm.where(x > 0, x, 0.0)
    assert out.dtype == tinymm.float32 and out.tolist() == [0.0, 2.0]


# ---------------------------------------------------------------- indexed reductions
@FAST
@given(shape=shapes, data=st.data())
def test_max_min_along_dim_return_values_and_indices(shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    keepdim = data.draw(st.booleans())
    x = np.random.default_rng(len(shape) + dim).permutation(
        np.arange(int(np.prod(shape)), dtype=np.float64)).reshape(shape)  # no ties
    for name, arg in (("max", np.argmax), ("min", np.argmin)):
        values, indices = getattr(tinymm.tensor(x), name)(dim, keepdim=keepdim)
        expect_idx = arg(x, axis=dim)
        expect_val = np.take_along_axis(x, np.expand_dims(expect_idx, dim), dim)
        if not keepdim:
            expect_val = expect_val.squeeze(dim)
        else:
            expect_idx = np.expand_dims(expect_idx, dim)
        np.testing.assert_array_equal(values.numpy(), expect_val)
        np.testing.assert_array_equal(indices.numpy(), expect_idx)
        assert indices.dtype == tinymm.int64
        assert tinymm.gradcheck(lambda t, n=name: getattr(t, n)(dim, keepdim=keepdim).values,
                                [x])
        np.testing.assert_array_equal(
            getattr(tinymm.tensor(x), "arg" + name)(dim, keepdim=keepdim).numpy(), expect_idx)


def test_indexed_reductions_match_torch():
    torch = _torch()
    x = np.random.default_rng(3).standard_normal((4, 6))
    ours, theirs = tinymm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    picks = [lambda t: t.max(1), lambda t: t.min(0), lambda t: t.topk(3, dim=1),
             lambda t: t.topk(2, dim=0, largest=False), lambda t: t.sort(1),
             lambda t: t.sort(0, descending=True)]
    total_o, total_t = 0, 0
    for k, pick in enumerate(picks):
        (vo, io), (vt, it) = pick(ours), pick(theirs)
        np.testing.assert_array_equal(vo.detach().numpy(), vt.detach().numpy())
        np.testing.assert_array_equal(io.numpy(), it.numpy())
        total_o = total_o + (vo * (k + 1)).sum()
        total_t = total_t + (vt * (k + 1)).sum()
    total_o.backward()
    total_t.backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy())
    assert ours.argmax().item() == theirs.argmax().item()
    idx = np.array([[0, 2], [1, 1], [5, 0], [3, 3]])
    np.testing.assert_array_equal(tinymm.gather(tinymm.tensor(x), 1, tinymm.tensor(idx)).numpy(),
                                  torch.gather(torch.tensor(x), 1, torch.tensor(idx)).numpy())


@FAST
@given(shape=shapes, data=st.data())
def test_topk_sort_gather_cumsum_gradcheck(shape, data):
    dim = data.draw(st.integers(0, len(shape) - 1))
    rng = np.random.default_rng(sum(shape) + dim)
    x = rng.permutation(np.arange(int(np.prod(shape)), dtype=np.float64)).reshape(shape) / 7
    k = data.draw(st.integers(0, shape[dim]))
    assert tinymm.gradcheck(lambda t: t.topk(k, dim=dim).values, [x])
    assert tinymm.gradcheck(lambda t: t.sort(dim, descending=True).values, [x])
    assert tinymm.gradcheck(lambda t: t.cumsum(dim), [x])
    np.testing.assert_allclose(tinymm.tensor(x).cumsum(dim).numpy(), np.cumsum(x, axis=dim))
    index = rng.integers(0, shape[dim], size=shape)
    assert tinymm.gradcheck(lambda t: t.gather(dim, tinymm.tensor(index)), [x])
    np.testing.assert_array_equal(tinymm.tensor(x).gather(dim, tinymm.tensor(index)).numpy(),
                                  np.take_along_axis(x, index, dim))


# ---------------------------------------------------------------- einsum
EINSUMS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("i,i->", [(4,), (4,)]), ("i,j->ij", [(3,), (2,)]), ("ij->ji", [(2, 3)]),
    ("ij->i", [(3, 4)]), ("ij,j->i", [(3, 4), (4,)]), ("...ij,...jk->...ik", [(2, 2, 3), (3, 2)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]), ("ij,kj", [(2, 3), (4, 3)]),
    ("ij,ij->ij", [(1, 3), (2, 3)]), ("abc->", [(2, 3, 2)]),
]


@pytest.mark.parametrize("equation,shapes_", EINSUMS)
def test_einsum_forward_backward(equation, shapes_):
    rng = np.random.default_rng(len(equation))
    arrays = [rng.standard_normal(s) for s in shapes_]
    out = tinymm.einsum(equation, *[tinymm.tensor(a) for a in arrays])
    np.testing.assert_allclose(out.numpy(), np.einsum(equation, *arrays), rtol=1e-12)
    assert tinymm.gradcheck(lambda *xs: tinymm.einsum(equation, *xs), arrays)
    try:
        import torch
    except ImportError:
        return
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    ours = [tinymm.tensor(a, requires_grad=True) for a in arrays]
    torch.einsum(equation, *theirs).sum().backward()
    tinymm.einsum(equation, *ours).sum().backward()
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-12)


def test_einsum_refuses_the_gradient_of_a_diagonal():
    assert tinymm.einsum("ii->i", tinymm.eye(3)).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="diagonal"):
        tinymm.einsum("ii->i", tinymm.eye(3).requires_grad_())


# ---------------------------------------------------------------- other shape helpers
def test_cat_stack_split_take_pytorchs_dim_keyword():
    a, b = tinymm.ones(2, 3), tinymm.zeros(2, 3)
    assert tinymm.cat([a, b], dim=1).shape == (2, 6) and tinymm.cat((a, b)).shape == (4, 3)
    assert tinymm.stack([a, b], dim=2).shape == (2, 3, 2)
    assert [p.shape for p in tinymm.split(a, 2, dim=1)] == [(2, 2), (2, 1)]


def test_expand_repeat_flatten_chunk_tril():
    x = np.random.default_rng(2).standard_normal((2, 1, 3))
    assert tinymm.gradcheck(lambda t: t.expand(4, 2, 5, 3), [x])
    assert tinymm.gradcheck(lambda t: t.repeat(2, 3, 1, 2), [x])
    np.testing.assert_array_equal(tinymm.tensor(x).repeat(2, 1, 2).numpy(), np.tile(x, (2, 1, 2)))
    assert tinymm.flatten(tinymm.tensor(x), 1).shape == (2, 3)
    assert [c.shape for c in tinymm.tensor(x).chunk(2, dim=2)] == [(2, 1, 2), (2, 1, 1)]
    m = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(tinymm.tril(tinymm.tensor(m)).numpy(), np.tril(m))
    np.testing.assert_array_equal(tinymm.triu(tinymm.tensor(m), 1).numpy(), np.triu(m, 1))
    assert tinymm.gradcheck(lambda t: t.var(1) + t.std(0).sum() + t.logsumexp(1), [m / 3])
    np.testing.assert_allclose(tinymm.tensor(m).var(1).numpy(), m.var(1, ddof=1))


# ---------------------------------------------------------------- missing names
def test_missing_pytorch_names_say_what_to_use_instead():
    with pytest.raises(AttributeError, match="onnx.*PyTorch has it.*safetensors"):
        tinymm.onnx  # noqa: B018
    with pytest.raises(AttributeError, match="no TorchScript"):
        tinymm.jit  # noqa: B018
    with pytest.raises(AttributeError, match="DataParallel.*one process"):
        nn.DataParallel  # noqa: B018
    with pytest.raises(AttributeError, match="SparseAdam.*dense"):
        tinymm.optim.SparseAdam  # noqa: B018
    with pytest.raises(AttributeError, match="no FFT"):
        tinymm.fft  # noqa: B018
    with pytest.raises(AttributeError) as plain:
        tinymm.not_a_pytorch_name  # noqa: B018
    assert "PyTorch has it" not in str(plain.value)
    assert not tinymm.cuda.is_available() and not tinymm.backends.mps.is_available()


def test_pytorch_import_paths_exist():
    import tinymm.nn.functional as F
    from tinymm.nn.utils import clip_grad_norm_
    from tinymm.optim.lr_scheduler import StepLR
    from tinymm.utils.data import DataLoader, Dataset, TensorDataset, random_split  # noqa: F401

    assert F.relu is tinymm.functional.relu and F.mse_loss is tinymm.F.mse_loss
    assert clip_grad_norm_ is tinymm.optim.clip_grad_norm_ and StepLR is tinymm.optim.StepLR


# ---------------------------------------------------------------- recurrent dropout
@pytest.mark.parametrize("kind", ["LSTM", "RNN"])
def test_recurrent_dropout_between_layers_uses_the_global_generator(kind):
    tinymm.manual_seed(0)
    stacked = getattr(nn, kind)(3, 4, num_layers=2, dropout=0.5)
    first, second = getattr(nn, kind)(3, 4), getattr(nn, kind)(4, 4)
    for name, p in stacked.named_parameters():
        target = first if name.endswith("l0") else second
        getattr(target, name[:-1] + "0").array[...] = p.array
    x = tinymm.randn(5, 2, 3)
    tinymm.manual_seed(11)
    out = stacked(x)[0]
    tinymm.manual_seed(11)
    expected = second(tinymm.F.dropout(first(x)[0], 0.5))[0]  # the same mask, drawn the same way
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-6)
    stacked.eval()
    np.testing.assert_allclose(stacked(x)[0].detach().numpy(),
                               second(first(x)[0])[0].detach().numpy(), rtol=1e-6)
    assert "dropout=0.5" in repr(stacked)
    with pytest.raises(ValueError, match="dropout"):
        getattr(nn, kind)(3, 4, dropout=1.5)


def test_reductions_and_helpers_match_torch():
    torch = _torch()
    x = np.random.default_rng(8).uniform(0.5, 2.0, (3, 4))
    pairs = [
        (lambda t: t.var(1), None), (lambda t: t.std(0, unbiased=False), None),
        (lambda t: t.var(correction=0), None), (lambda t: t.logsumexp(1), None),
        (lambda t: t.prod(1), None), (lambda t: t.norm(), None),
        (lambda t: t.norm(p=1, dim=0), None), (lambda t: t.amax(0), None),
        (lambda t: t.amin(1, keepdim=True), None), (lambda t: t.sum(dim=1, keepdim=True), None),
        (lambda t: t.mean(dim=(0, 1)), None), (lambda t: t.expand(2, 3, 4), None),
        (lambda t: t.repeat(2, 1), None), (lambda t: t.clamp(min=1.0), None),
        (lambda t: t.masked_fill(t > 1.5, 0.0), None), (lambda t: t.softmax(1), None),
        (lambda t: t.log_softmax(0), None), (lambda t: t.lerp(t * 2, 0.25), None),
    ]
    for fn, _ in pairs:
        ours, theirs = tinymm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        lo, lt = fn(ours), fn(theirs)
        np.testing.assert_allclose(lo.detach().numpy(), lt.detach().numpy(), rtol=1e-12)
        lo.sum().backward()
        lt.sum().backward()
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10)
    labels = np.array([0, 3, 1])
    np.testing.assert_array_equal(tinymm.F.one_hot(tinymm.tensor(labels), 5).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor(labels), 5).numpy())
    g = np.array([[3.0, -0.2], [0.05, -7.0]])
    p, q = nn.Parameter(np.zeros((2, 2))), torch.nn.Parameter(torch.zeros(2, 2,
                                                                          dtype=torch.float64))
    p.grad, q.grad = g.copy(), torch.tensor(g)
    nn.utils.clip_grad_value_([p], 0.1)
    torch.nn.utils.clip_grad_value_([q], 0.1)
    np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())


def test_autograd_grad_matches_torch_and_leaves_dot_grad_alone():
    torch = _torch()
    x0, w0 = np.random.default_rng(9).standard_normal((2, 3)), np.array([0.5, -1.0, 2.0])

    def program(lib, x, w):
        h = (x * w).tanh()
        y = (h * h).sum()
        z = h.sum(1)
        return h, y, z

    ours = [tinymm.tensor(x0, requires_grad=True), tinymm.tensor(w0, requires_grad=True)]
    theirs = [torch.tensor(x0, requires_grad=True), torch.tensor(w0, requires_grad=True)]
    ours[1].grad = np.full(3, 7.0)
    h_o, y_o, z_o = program(tinymm, *ours)
    h_t, y_t, z_t = program(torch, *theirs)
    g_o = tinymm.autograd.grad([y_o, z_o], [ours[0], h_o],
                               grad_outputs=[None, tinymm.tensor([1.0, -2.0]).double()])
    g_t = torch.autograd.grad([y_t, z_t], [theirs[0], h_t],
                              grad_outputs=[None, torch.tensor([1.0, -2.0]).double()])
    for a, b in zip(g_o, g_t):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    assert ours[0].grad is None and ours[1].grad.tolist() == [7.0] * 3  # untouched
    with pytest.raises(RuntimeError, match="not used"):
        tinymm.autograd.grad((ours[0] * 2).sum(), [ours[0], ours[1]])
    with pytest.raises(NotImplementedError, match="create_graph"):
        tinymm.autograd.grad(y_o, ours[0], create_graph=True)


def test_sequential_from_an_ordered_dict_matches_torch_names():
    torch = _torch()
    from collections import OrderedDict

    ours = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3)), ("act", nn.ReLU())]))
    theirs = torch.nn.Sequential(OrderedDict([("fc", torch.nn.Linear(2, 3)),
                                              ("act", torch.nn.ReLU())]))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["fc.weight", "fc.bias"]
    with pytest.raises(TypeError, match="not a Module"):
        nn.Sequential(nn.ReLU(), "relu")


def test_pad_and_normalize_match_torch():
    torch = _torch()
    x = np.random.default_rng(12).standard_normal((2, 3, 4))
    for widths in [(1, 2), (0, 1, 2, 0), (1, 1, 1, 1, 1, 1)]:
        ours = tinymm.F.pad(tinymm.tensor(x), widths, value=0.5)
        np.testing.assert_array_equal(
            ours.numpy(), torch.nn.functional.pad(torch.tensor(x), widths, value=0.5).numpy())
        assert tinymm.gradcheck(lambda t, w=widths: tinymm.F.pad(t, w), [x])
    np.testing.assert_allclose(tinymm.F.normalize(tinymm.tensor(x), dim=2).numpy(),
                               torch.nn.functional.normalize(torch.tensor(x), dim=2).numpy(),
                               rtol=1e-12)
    with pytest.raises(ValueError, match="even number"):
        tinymm.F.pad(tinymm.tensor(x), (1,))

"""PyTorch's Tensor-level API: the ``torch.Tensor`` constructor and the dtype objects, held to
torch where it is installed."""

import copy
import pickle

import numpy as np
import pytest

import tinymm

# (arguments as a Python expression over np): torch.Tensor and tinymm.Tensor must agree
CONSTRUCTOR_CASES = [
    "[1, 2]", "[[1, 2], [3, 4]]", "[1.5, 2.5]", "[True, False]", "[]", "()", "(2, 3)",
    "np.array([1, 2])", "np.array([1.0, 2.0])", "np.array(3.0)", "np.array([True])",
    "np.arange(6, dtype=np.int32).reshape(2, 3)", "[np.float64(1.0), 2]",
]
SIZE_CASES = [(), (3,), (2, 3), (0,), (1, 0, 2)]


@pytest.mark.parametrize("expr", CONSTRUCTOR_CASES)
def test_tensor_constructor_converts_data_to_float32_as_torch(expr):
    torch = pytest.importorskip("torch")
    theirs = torch.Tensor(eval(expr))
    ours = tinymm.Tensor(eval(expr))
    assert str(ours.dtype) == str(theirs.dtype) == "torch.float32"
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("sizes", SIZE_CASES)
def test_tensor_constructor_of_sizes_makes_that_shape(sizes):
    torch = pytest.importorskip("torch")
    for args in (sizes, (torch.Size(sizes),)):
        theirs = torch.Tensor(*args)
        ours = tinymm.Tensor(*[tinymm.Size(a) if isinstance(a, torch.Size) else a for a in args])
        assert tuple(ours.shape) == tuple(theirs.shape) and ours.dtype is tinymm.float32
    assert not tinymm.Tensor(*sizes).numpy().any()  # zero-filled (torch: uninitialised)


def test_tensor_constructor_follows_the_default_dtype():
    tinymm.set_default_dtype(tinymm.float64)
    try:
        assert tinymm.Tensor([1, 2]).dtype is tinymm.float64
        assert tinymm.Tensor(2).dtype is tinymm.float64
    finally:
        tinymm.set_default_dtype(tinymm.float32)


def test_tensor_of_a_tensor_shares_its_storage_as_torch():
    base = tinymm.tensor([1, 2])
    alias = tinymm.Tensor(base)
    assert alias.dtype is tinymm.int64  # torch keeps the dtype too
    alias[0] = 7
    assert base.tolist() == [7, 2] and alias._version == base._version


@pytest.mark.parametrize("bad", [2.5, True, np.float64(2.0), "ab", None])
def test_tensor_constructor_refuses_a_scalar_as_torch(bad):
    with pytest.raises(TypeError, match=r"Tensor\(\): expected a sequence .*tinymm.tensor"):
        tinymm.Tensor(bad)
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError):
        torch.Tensor(bad)


def test_tinymm_additions_dtype_and_requires_grad():
    x = tinymm.Tensor([1, 2], requires_grad=True)
    assert x.requires_grad and x.dtype is tinymm.float32
    assert tinymm.Tensor([1, 2], dtype=tinymm.float64).dtype is tinymm.float64
    with pytest.raises(TypeError, match="only float32/float64"):
        tinymm.Tensor([1, 2], dtype=tinymm.int64, requires_grad=True)


def test_tensor_function_keeps_the_data_dtype():
    assert tinymm.tensor([1, 2]).dtype is tinymm.int64
    assert tinymm.tensor(np.array([1.0])).dtype is tinymm.float64
    assert tinymm.as_tensor(np.array([1], np.int32)).dtype is tinymm.int32


def test_op_results_are_plain_tensors_with_fresh_state():
    a = tinymm.tensor([1.0, 2.0], requires_grad=True)
    out = a * 2
    assert type(out) is tinymm.Tensor and out.grad_fn is not None and out.grad is None
    assert out.name is None and out._base is None and out._version == 0
    b = tinymm.Tensor._make(np.float32(3.0))  # a NumPy scalar from a kernel: a 0-d array
    assert b.shape == () and b.dtype is tinymm.float32 and not b.requires_grad


def test_arrays_tinymm_converts_for_you_keep_their_dtype():
    dataset = tinymm.utils.data.TensorDataset(np.zeros((3, 2), np.float32), np.array([0, 1, 2]))
    assert dataset.tensors[1].dtype is tinymm.int64  # labels stay integers
    assert (2 // tinymm.tensor([1, 2])).dtype is tinymm.int64
    picked = tinymm.where(np.array([True, False]), tinymm.tensor([1.0, 2.0]), 0.0)
    assert picked.tolist() == [1.0, 0.0]
    norm = tinymm.nn.LayerNorm(2)(np.ones((1, 2), np.float32))
    assert norm.dtype is tinymm.float32


def test_isinstance_and_parameters_keep_their_dtype():
    p = tinymm.nn.Parameter(tinymm.tensor(np.ones(2)))
    assert isinstance(p, tinymm.Tensor) and p.dtype is tinymm.float64 and p.requires_grad
    assert isinstance(tinymm.Tensor([1]), tinymm.FloatTensor)


# ---------------------------------------------------------------- dtype objects
DTYPE_NAMES = ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8",
               "bool"]


@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_dtype_objects_behave_as_torch(name):
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(tinymm, name), getattr(torch, name)
    x = tinymm.zeros(2, dtype=ours)
    assert x.dtype is ours and x.dtype == ours and hash(x.dtype) == hash(ours)
    assert str(ours) == repr(ours) == str(theirs) == repr(theirs)
    assert ours.is_floating_point == theirs.is_floating_point
    assert ours.is_signed == theirs.is_signed and ours.is_complex == theirs.is_complex
    assert ours.itemsize == theirs.itemsize == x.element_size()
    assert isinstance(ours, tinymm.dtype) and {ours: 1}[x.dtype] == 1
    assert pickle.loads(pickle.dumps(ours)) is ours and copy.deepcopy(ours) is ours
    assert tinymm.tensor([1, 0]).to(ours).dtype is ours


def test_dtype_aliases_are_the_same_objects():
    assert tinymm.float is tinymm.float32 and tinymm.double is tinymm.float64
    assert tinymm.half is tinymm.float16 and tinymm.long is tinymm.int64
    assert tinymm.int is tinymm.int32 and tinymm.short is tinymm.int16
    assert tinymm.float32 != tinymm.float64 and tinymm.get_default_dtype() is tinymm.float32


@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_dtype_objects_work_wherever_numpy_takes_a_dtype(name):
    ours, numpy_dtype = getattr(tinymm, name), np.dtype(name.replace("bool", "bool_"))
    assert ours == numpy_dtype and numpy_dtype == ours and ours == numpy_dtype.type
    assert {numpy_dtype: 1}[ours] == 1 and {ours: 1}[numpy_dtype] == 1
    assert np.dtype(ours) is numpy_dtype and np.zeros(2, ours).dtype == numpy_dtype
    assert np.asarray([1, 0], dtype=ours).dtype == numpy_dtype
    assert np.arange(2).astype(ours).dtype == numpy_dtype
    assert ours.kind == numpy_dtype.kind and ours.type is numpy_dtype.type
    x = tinymm.tensor([1, 0], dtype=ours)
    assert np.asarray(x, dtype=tinymm.float64).dtype == np.float64
    assert x.dtype in (numpy_dtype,) and x.dtype in {numpy_dtype}


def test_finfo_iinfo_take_the_dtype_objects():
    torch = pytest.importorskip("torch")
    for name in ("float16", "float32", "float64"):
        ours, theirs = tinymm.finfo(getattr(tinymm, name)), torch.finfo(getattr(torch, name))
        assert (ours.eps, ours.max, ours.tiny, ours.bits) == (
            theirs.eps, theirs.max, theirs.tiny, theirs.bits)
    assert tinymm.iinfo(tinymm.int32).max == torch.iinfo(torch.int32).max


def test_dtype_promotion_results_are_the_dtype_objects():
    x = tinymm.tensor([1, 2]) * 2.5
    assert x.dtype is tinymm.float32
    assert (tinymm.tensor([1.0], dtype=tinymm.float64) + x).dtype is tinymm.float64
    assert tinymm.promote_types(tinymm.int32, tinymm.float16) == tinymm.float16


# ---------------------------------------------------------------- found by the tutorial probe
def test_size_prints_and_slices_as_torch():
    torch = pytest.importorskip("torch")
    for shape in ((), (3,), (2, 3)):
        ours, theirs = tinymm.zeros(shape).shape, torch.zeros(shape).shape
        assert repr(ours) == repr(theirs) and str(ours) == str(theirs)
        assert f"{ours}" == f"{theirs}" and ours == theirs == shape
    ours, theirs = tinymm.zeros(2, 3, 4).shape, torch.zeros(2, 3, 4).shape
    for make in (lambda s: s[1:], lambda s: s + (5,), lambda s: (5,) + s, lambda s: s * 2):
        assert type(make(ours)) is tinymm.Size and repr(make(ours)) == repr(make(theirs))
    assert isinstance(ours[0], int) and ours.numel() == theirs.numel() == 24


@pytest.mark.parametrize("name", ["max", "min", "sort", "topk", "median", "kthvalue", "mode",
                                  "cummax", "cummin"])
def test_values_indices_results_print_as_torch_return_types(name):
    torch = pytest.importorskip("torch")
    data = [[3.0, 1.0, 2.0], [0.5, 4.0, 4.0]]
    args = {"topk": (2,), "kthvalue": (2,), "sort": (), "cummax": (1,), "cummin": (1,)}.get(
        name, (1,))
    ours = getattr(tinymm.tensor(data), name)(*args)
    theirs = getattr(torch.tensor(data), name)(*args)
    assert repr(ours) == repr(theirs) and type(ours).__name__ == type(theirs).__name__
    values, indices = ours  # still a (values, indices) tuple
    assert values is ours.values and indices is ours.indices
    assert repr(pickle.loads(pickle.dumps(ours))) == repr(ours)


OUT_CASES = {"add": lambda y: (y, y), "mul": lambda y: (y, y), "matmul": lambda y: (y, y.T),
             "sub": lambda y: (y, 2.0), "sum": lambda y: (y, 0), "exp": lambda y: (y,)}


@pytest.mark.parametrize("fn", sorted(OUT_CASES))
def test_out_argument_writes_the_result_in_place_as_torch(fn):
    torch = pytest.importorskip("torch")
    results = []
    for T in (tinymm, torch):
        out = T.zeros(2) if fn == "sum" else T.zeros(2, 2)
        returned = getattr(T, fn)(*OUT_CASES[fn](T.tensor([[1.0, 2.0], [3.0, 4.0]])), out=out)
        assert returned is out
        results.append(out.numpy().copy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)


def test_out_argument_resizes_and_refuses_what_torch_refuses():
    out = tinymm.zeros(0)
    tinymm.add(tinymm.ones(2, 3), 1, out=out)
    assert out.shape == (2, 3) and out.numpy().min() == 2
    values, indices = tinymm.zeros(2), tinymm.zeros(2, dtype=tinymm.int64)
    tinymm.max(tinymm.tensor([[1.0, 5.0], [7.0, 2.0]]), 1, out=(values, indices))
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type"):
        tinymm.add(tinymm.ones(2), 0.5, out=tinymm.zeros(2, dtype=tinymm.int64))
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        tinymm.mul(tinymm.ones(2), 2, out=tinymm.zeros(2, requires_grad=True))


def test_cumsum_takes_a_dtype_as_torch():
    torch = pytest.importorskip("torch")
    ours = tinymm.tensor([[1, 2], [3, 4]]).cumsum(0, dtype=tinymm.float64)
    theirs = torch.tensor([[1, 2], [3, 4]]).cumsum(0, dtype=torch.float64)
    assert repr(ours) == repr(theirs)
    assert repr(tinymm.cumsum(tinymm.tensor([1, 2]), 0, dtype=tinymm.float32)) == repr(
        torch.cumsum(torch.tensor([1, 2]), 0, dtype=torch.float32))


def test_loss_nodes_and_grad_fn_print_as_torch():
    torch = pytest.importorskip("torch")
    texts = []
    for T in (tinymm, torch):
        x, t = T.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True), T.tensor([0, 1])
        F = T.nn.functional
        texts.append([repr(F.cross_entropy(x, t)), repr(F.nll_loss(x, t)),
                      repr(T.nn.CrossEntropyLoss(reduction="none")(x, t))])
        node = repr((x * 2).grad_fn)
        assert node.startswith("<MulBackward0 object at 0x") and node.endswith(">")
    assert texts[0] == texts[1]


def test_print_of_a_parameter_and_a_tensor_as_torch():
    torch = pytest.importorskip("torch")
    assert str(tinymm.nn.Parameter(tinymm.ones(2))) == str(torch.nn.Parameter(torch.ones(2)))
    assert str(tinymm.tensor([1.5])) == str(torch.tensor([1.5]))


@pytest.mark.parametrize("method", ["float", "double", "half", "long", "int", "short", "char",
                                    "byte", "bool"])
def test_cast_methods_give_torchs_dtypes(method):
    torch = pytest.importorskip("torch")
    ours = getattr(tinymm.tensor([[1.5, -2.0, 0.0]]), method)()
    theirs = getattr(torch.tensor([[1.5, -2.0, 0.0]]), method)()
    assert repr(ours) == repr(theirs) and ours.type() == theirs.type()


INDEX_CASES = ["0", "1:", "0, 1:", "1:, 0", ":, 0", "0, :", ":", "...", "None", "None, 0",
               "0, None", "[0, 1]", "T.tensor([0, 1])", "x > 0", "..., 0", "0, 1", "0, [1, 2]",
               "::2", "1:, None", "-1"]


@pytest.mark.parametrize("index", INDEX_CASES)
def test_indexing_nodes_are_named_as_torch(index):
    torch = pytest.importorskip("torch")
    names = []
    for T in (tinymm, torch):
        x = T.ones(3, 4, 5, requires_grad=True)
        names.append(eval(f"x[{index}]", {"x": x, "T": T}).grad_fn.name())
    assert names[0] == names[1]
    x = tinymm.arange(60.0).reshape(3, 4, 5).requires_grad_()
    out = eval(f"x[{index}]", {"x": x, "T": tinymm})
    out.sum().backward()  # every named node has the same backward
    expected = np.zeros((3, 4, 5))
    np.add.at(expected, eval(f"np.s_[{index}]".replace("T.tensor", "np.array").replace(
        "x > 0", "np.arange(60.0).reshape(3, 4, 5) > 0")), 1)
    np.testing.assert_array_equal(x.grad.numpy(), expected)

"""``repr(tensor)`` held to PyTorch's, character for character, over a table of cases."""

import math

import numpy as np
import pytest

import tinymm
from tinymm.printing import tensor_repr

NAN, INF = math.nan, math.inf
R = np.random.default_rng(0)

# (data expression, dtype name or None for torch.tensor's inference)
CASES = [
    ("[1, 2, 3]", None), ("[-7, 120000, 3]", None), ("[1, 2]", "int32"), ("[1, 2]", "uint8"),
    ("[1.0, 2.5]", None), ("[1.0, 2.0, -3.0]", None), ("[0.1, 0.25, 1 / 3]", None),
    ("[1e-5, 1.0]", None), ("[1e9, 1.0]", None), ("[1.0, 2000.0]", None),
    ("[123456789.0, 1.0]", None), ("[1.0, 1001.0]", None), ("[0.5, 999.0]", None),
    ("[NAN, INF, -INF, 1.5]", None), ("[NAN, 2.0]", None), ("[0.0, -0.0]", None),
    ("[NAN, INF]", None), ("[0.0, 1e-30]", None), ("[-1e-10, 3e10]", None),
    ("3.5", None), ("7", None), ("True", None), ("NAN", None), ("2.0", "float64"),
    ("[]", None), ("[]", "int64"), ("[]", "float64"), ("np.zeros((2, 0))", "float32"),
    ("np.zeros((0, 3), np.int64)", None),
    ("[True, False]", None), ("[[True], [False]]", None),
    ("[1.0, 2.5, 3.0]", "float16"), ("[65504.0, 0.0001]", "float16"),
    ("[1.0, 2.0]", "float64"), ("[1, 2]", "float64"),
    ("np.arange(2000.0)", "float32"), ("np.arange(1001)", None),
    ("np.arange(24.0).reshape(2, 3, 4)", "float32"),
    ("np.arange(2 * 30 * 40).reshape(2, 30, 40) / 7", "float32"),
    ("np.arange(1500).reshape(30, 50)", None),
    ("R.standard_normal((12, 12))", "float32"), ("R.standard_normal((3, 40))", "float64"),
    ("R.standard_normal((2, 2, 2, 3)) * 1e5", "float32"),
    ("[[0.1, 100.0], [-3.0, 1e-3]]", None), ("[[1, -2], [30, 4]]", None),
]


def _pair(expr: str, dtype: str | None):
    torch = pytest.importorskip("torch")
    data = eval(expr)
    ours = tinymm.tensor(data, dtype=None if dtype is None else getattr(tinymm, dtype))
    theirs = torch.tensor(data, dtype=None if dtype is None else getattr(torch, dtype))
    return ours, theirs


@pytest.mark.parametrize("expr, dtype", CASES, ids=[f"{e}-{d}" for e, d in CASES])
def test_repr_matches_torch(expr, dtype):
    ours, theirs = _pair(expr, dtype)
    assert repr(ours) == repr(theirs) and str(ours) == str(theirs)


def test_repr_of_autograd_state_matches_torch():
    torch = pytest.importorskip("torch")
    ours = tinymm.tensor([1.0, 2.5], requires_grad=True)
    theirs = torch.tensor([1.0, 2.5], requires_grad=True)
    assert repr(ours) == repr(theirs)
    for make in (lambda t: t * 2, lambda t: (t * 2).sum(), lambda t: t.double() + 1,
                 lambda t: t.reshape(2, 1).expand(2, 30) * 1e-6):
        assert repr(make(ours)) == repr(make(theirs))
    assert repr(tinymm.nn.Parameter(tinymm.tensor([1.0, 2.0]))) == repr(
        torch.nn.Parameter(torch.tensor([1.0, 2.0])))


@pytest.mark.parametrize("options", [
    dict(precision=2), dict(precision=6), dict(sci_mode=True), dict(sci_mode=False),
    dict(threshold=5), dict(threshold=5, edgeitems=1), dict(threshold=5, edgeitems=0),
    dict(linewidth=30), dict(profile="short"), dict(profile="full")])
def test_repr_under_printoptions_matches_torch(options):
    torch = pytest.importorskip("torch")
    data = [[1e-5, 0.25, 3.0, 12.5, -7.0, 8.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]
    try:
        tinymm.set_printoptions(**options)
        torch.set_printoptions(**options)
        for rows in (data, data[1], [[1.5] * 40]):
            assert repr(tinymm.tensor(rows)) == repr(torch.tensor(rows))
    finally:
        tinymm.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")


def test_repr_follows_the_default_dtype_as_torch():
    torch = pytest.importorskip("torch")
    try:
        tinymm.set_default_dtype(tinymm.float64)
        torch.set_default_dtype(torch.float64)
        for data, dtype in (([1.5], None), ([1.5], "float32"), ([], None), ([], "float32")):
            ours, theirs = _pair(repr(data), dtype)
            assert repr(ours) == repr(theirs)
    finally:
        tinymm.set_default_dtype(tinymm.float32)
        torch.set_default_dtype(torch.float32)


def test_repr_names_the_cuda_device_as_torch():
    """PyTorch prints ``device='cuda:0'`` before the dtype and the autograd suffix."""
    text = tensor_repr(np.array([1.0, 2.0], np.float64), "torch.float64", False, False,
                       "cuda:0", "requires_grad=True")
    assert text == "tensor([1., 2.], device='cuda:0', dtype=torch.float64, requires_grad=True)"

"""One rule for out-of-range dims: every op raises ``DimensionError`` from ``check_dim``,
which is both an IndexError (PyTorch's type for "Dimension out of range") and a ValueError
(tinymm's type for a bad argument), with PyTorch's wording after the op's name."""

import numpy as np
import pytest

import tinymm
from tinymm import F
from tinymm.ops._checks import DimensionError

X = np.arange(6.0).reshape(2, 3)
# (op named in the message, call on a 2-d tensor with dim 3 out of range)
CASES = [
    ("size", lambda t: t.size(3)),
    ("sum", lambda t: t.sum(3)),
    ("mean", lambda t: t.mean(dim=3)),
    ("max", lambda t: t.max(3)),
    ("argmax", lambda t: t.argmax(3)),
    ("softmax", lambda t: F.softmax(t, dim=3)),
    ("log_softmax", lambda t: F.log_softmax(t, dim=3)),
    ("flatten", lambda t: F.flatten(t, 3)),
    ("flatten", lambda t: t.flatten(0, 3)),
    ("transpose", lambda t: t.transpose(0, 3)),
    ("squeeze", lambda t: t.squeeze(3)),
    ("narrow", lambda t: t.narrow(3, 0, 1)),
    ("select", lambda t: t.select(3, 0)),
    ("index_select", lambda t: t.index_select(3, np.array([0]))),
    ("topk", lambda t: t.topk(1, dim=3)),
    ("sort", lambda t: t.sort(dim=3)),
    ("gather", lambda t: t.gather(3, np.zeros((2, 3), dtype=np.int64))),
    ("cumsum", lambda t: t.cumsum(3)),
    ("concat", lambda t: tinymm.cat([t, t], dim=3)),
    ("split", lambda t: t.split(1, dim=3)),
    ("permute", lambda t: t.permute(0, 3)),
]
MESSAGE = r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 3\)"


@pytest.mark.parametrize("op,call", CASES, ids=[f"{op}-{i}" for i, (op, _) in enumerate(CASES)])
def test_out_of_range_dim_is_one_error(op, call):
    t = tinymm.tensor(X)
    with pytest.raises(DimensionError, match=rf"^{op}: \w+: {MESSAGE}") as info:
        call(t)
    assert isinstance(info.value, IndexError) and isinstance(info.value, ValueError)


def test_past_the_end_and_scalar_ranges():
    t = tinymm.tensor(X)
    assert t.unsqueeze(2).shape == (2, 3, 1)  # unsqueeze/stack accept ndim + 1 positions
    with pytest.raises(DimensionError, match=r"unsqueeze: dim: .*\[-3, 2\], but got 3\)"):
        t.unsqueeze(3)
    with pytest.raises(IndexError, match=r"stack: axis: .*\[-3, 2\], but got -4\)"):
        tinymm.stack([t, t], dim=-4)
    s = tinymm.tensor(1.5)  # a 0-d tensor takes dim 0 and -1, as PyTorch's scalars
    assert s.sum(0).item() == 1.5 and s.sum(-1).item() == 1.5
    with pytest.raises(ValueError, match=r"sum: axis: .*\[-1, 0\], but got 1\)"):
        s.sum(1)
    with pytest.raises(TypeError, match="transpose: dim0 must be an int, got 0.5"):
        t.transpose(0.5, 1)


def test_message_matches_pytorch():
    torch = pytest.importorskip("torch")
    for call in (lambda t: t.sum(3), lambda t: t.size(3), lambda t: t.unsqueeze(-4)):
        with pytest.raises(IndexError) as theirs:
            call(torch.tensor(X))
        with pytest.raises(IndexError) as ours:
            call(tinymm.tensor(X))
        assert str(ours.value).endswith(str(theirs.value) + " for a 2-d tensor")

"""histc, searchsorted and bucketize (tinymm/ops/bucketing.py): values worked by hand and,
when installed, against torch (NaN in values and at the end of sorted rows, sorter, N-d
sequences); the edge rules; errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm


def test_histc_edges_by_hand():
    x = tinymm.tensor([0.0, 1.0, 2.0, 2.0, 3.0, 5.0, -1.0, float("nan")])
    # [0, 3] in 4 bins of 0.75: 0 -> 0, 1 -> 1, 2 -> 2, 3 (top edge) -> 3; 5, -1, NaN dropped
    assert tinymm.histc(x, bins=4, min=0, max=3).tolist() == [1.0, 1.0, 2.0, 1.0]
    # min == max == 0: the data's range (NaN aside, torch's aminmax would give NaN: finite data)
    y = tinymm.tensor([1.0, 2.0, 3.0])
    assert tinymm.histc(y, bins=4, min=2, max=2).tolist() == [1.0, 0.0, 1.0, 1.0]
    # one value: [v - 1, v + 1]
    assert tinymm.histc(tinymm.tensor([2.0, 2.0]), bins=4).tolist() == [0.0, 0.0, 2.0, 0.0]
    assert tinymm.histc(tinymm.tensor([], dtype=np.float32), bins=3).tolist() == [0.0] * 3
    out = tinymm.tensor([1.0, 2.0], dtype=np.float64).histc(2)
    assert out.dtype == np.float64 and out.tolist() == [1.0, 1.0]


def test_histc_errors():
    x = tinymm.tensor([1.0, 2.0])
    with pytest.raises(ValueError, match="max must be larger than min"):
        tinymm.histc(x, 3, min=3, max=1)
    with pytest.raises(ValueError, match="not finite"):
        tinymm.histc(tinymm.tensor([1.0, float("inf")]), 3)
    with pytest.raises(ValueError, match="bins must be a positive int"):
        tinymm.histc(x, 0)
    with pytest.raises(TypeError, match="floating-point"):
        tinymm.histc(tinymm.tensor([1, 2]), 3)


@settings(deadline=None, max_examples=40)
@given(seed=st.integers(0, 10_000), bins=st.integers(1, 12), dtype=st.sampled_from(["f4", "f8"]),
       given_range=st.booleans())
def test_histc_matches_torch(seed, bins, dtype, given_range):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(seed)
    x = (r.standard_normal(40) * r.uniform(0.1, 50)).astype(dtype)
    x[::3] = np.round(x[::3])  # values on bin edges
    lo, hi = (np.sort(r.choice(x, 2)) if given_range else (0.0, 0.0))
    lo, hi = float(lo), float(hi) + (given_range and lo == hi)
    got = tinymm.histc(tinymm.tensor(x), bins, lo, hi).numpy()
    want = torch.histc(torch.from_numpy(x), bins, lo, hi).numpy()
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_searchsorted_by_hand():
    s = tinymm.tensor([[1, 3, 5, 7, 9], [2, 4, 6, 8, 10]])
    v = tinymm.tensor([[3, 6, 9], [3, 6, 9]])
    assert tinymm.searchsorted(s, v).tolist() == [[1, 3, 4], [1, 2, 4]]
    assert tinymm.searchsorted(s, v, right=True).tolist() == [[2, 3, 5], [1, 3, 4]]
    assert tinymm.searchsorted(s, v, side="right").tolist() == [[2, 3, 5], [1, 3, 4]]
    found = tinymm.searchsorted(s, v, out_int32=True)
    assert found.dtype == np.int32
    scalar = tinymm.searchsorted(tinymm.tensor([1.0, 2.0, 3.0]), 2.5)
    assert scalar.shape == () and scalar.item() == 2 and scalar.dtype == np.int64
    by_sorter = tinymm.searchsorted(tinymm.tensor([3.0, 1.0, 2.0]), tinymm.tensor([2.5]),
                                    sorter=tinymm.tensor([1, 2, 0]))
    assert by_sorter.tolist() == [2]
    nan_last = tinymm.searchsorted(tinymm.tensor([1.0, 2.0]), tinymm.tensor([float("nan")]))
    assert nan_last.tolist() == [2]


def test_bucketize_by_hand():
    b = tinymm.tensor([1, 3, 5, 7, 9])
    v = tinymm.tensor([[3, 6, 9], [3, 6, 9]])
    assert tinymm.bucketize(v, b).tolist() == [[1, 3, 4], [1, 3, 4]]
    assert tinymm.bucketize(v, b, right=True).tolist() == [[2, 3, 5], [2, 3, 5]]
    assert tinymm.bucketize(3, b).item() == 1


def test_searchsorted_errors():
    s = tinymm.tensor([[1, 3, 5], [2, 4, 6]])
    with pytest.raises(ValueError, match="opposites"):
        tinymm.searchsorted(s, s, right=True, side="left")
    with pytest.raises(ValueError, match="'left' or 'right'"):
        tinymm.searchsorted(s, s, side="middle")
    with pytest.raises(ValueError, match="share all but its last dim"):
        tinymm.searchsorted(s, tinymm.tensor([1, 2]))
    with pytest.raises(ValueError, match="sorter must have"):
        tinymm.searchsorted(s[0], s[0], sorter=tinymm.tensor([0, 1]))
    with pytest.raises(ValueError, match="sorter"):
        tinymm.searchsorted(s[0], s[0], sorter=tinymm.tensor([0, 1, 5]))
    with pytest.raises(ValueError, match="boundaries must be 1-d"):
        tinymm.bucketize(s, s)


@settings(deadline=None, max_examples=30)
@given(seed=st.integers(0, 10_000), lead=st.sampled_from([(), (3,), (2, 2)]),
       right=st.booleans(), use_sorter=st.booleans())
def test_searchsorted_matches_torch(seed, lead, right, use_sorter):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(seed)
    s = np.sort(r.integers(0, 8, lead + (6,)), -1).astype(np.float32)
    v = r.integers(-1, 9, lead + (4,)).astype(np.float32)
    s[..., -1] = np.nan if seed % 4 == 0 else s[..., -1]  # NaN sorts last
    seq = r.permuted(s, axis=-1) if use_sorter else s  # unsorted: the sorter sorts it
    sorter = np.argsort(seq, -1, kind="stable") if use_sorter else None  # NaN last
    kw = {} if sorter is None else {"sorter": sorter}
    got = tinymm.searchsorted(tinymm.tensor(seq), tinymm.tensor(v), right=right,
                              **{k: tinymm.tensor(a) for k, a in kw.items()}).numpy()
    want = torch.searchsorted(torch.from_numpy(seq), torch.from_numpy(v), right=right,
                              **{k: torch.from_numpy(a) for k, a in kw.items()}).numpy()
    np.testing.assert_array_equal(got, want)

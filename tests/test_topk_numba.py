"""The numba CPU topk against the reference kernel: the same indices and values on rows full
of ties, NaN and infinities, for every k (0, small: the insertion pass; past SELECT_K: the
sorting path; the whole row), both ends, both float dtypes; and its backward."""

import numpy as np
import pytest

import tinymm
from tinymm.kernels.numba_cpu.index import SELECT_K


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_numba_topk_matches_the_reference_on_ties_nan_and_infinities(dtype):
    ref, fast = tinymm.get_backend("reference"), tinymm.get_backend("numba")
    rng = np.random.default_rng(0)
    for _ in range(12):
        n, m = int(rng.integers(1, 5)), int(rng.integers(1, 3 * SELECT_K))
        x = rng.integers(-3, 4, (n, m)).astype(dtype)  # few values: many ties
        for value, share in ((np.nan, 0.1), (-np.inf, 0.1), (np.inf, 0.05)):
            x[rng.random((n, m)) < share] = value
        for k in sorted({0, 1, min(3, m), min(SELECT_K, m), min(SELECT_K + 1, m), m}):
            for largest in (True, False):
                (want_v, want_i), _ = ref.topk_forward(x, k, largest)
                (got_v, got_i), cache = fast.topk_forward(x, k, largest)
                np.testing.assert_array_equal(got_i, want_i, err_msg=f"k={k} {largest}")
                np.testing.assert_array_equal(got_v, want_v)
                dv = rng.standard_normal(got_v.shape).astype(dtype)
                (want_dx,) = ref.topk_backward((dv, None), (x.shape, want_i))
                (got_dx,) = fast.topk_backward((dv, None), cache)
                np.testing.assert_array_equal(got_dx, want_dx)

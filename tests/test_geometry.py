"""kernels/geometry.py: the one home of conv/pool geometry, pinned to hand-computed values."""

import numpy as np
import pytest

import tinymm
from tinymm import F
from tinymm.kernels import geometry as G


@pytest.mark.parametrize("size, k, s, d, expected", [
    (5, 3, 1, 1, (1, 1)),   # stride 1: total d*(k-1) = 2, PyTorch's "same"
    (5, 4, 1, 1, (1, 2)),   # odd total 3: the smaller half before
    (5, 3, 1, 2, (2, 2)),   # dilation 2: footprint 5
    (5, 3, 2, 1, (1, 1)),   # out ceil(5/2) = 3; total (3-1)*2 + 3 - 5 = 2
    (6, 3, 2, 1, (0, 1)),   # out 3; total (3-1)*2 + 3 - 6 = 1: the extra row goes after
    (7, 1, 3, 1, (0, 0)),   # a 1x1 kernel never pads
])
def test_same_padding_by_hand(size, k, s, d, expected):
    assert G.same_padding_1d(size, k, s, d) == expected
    before, after = expected
    assert G.output_size(size, before, after, k, s, d) == -(-size // s)


def test_conv_padding_forms():
    assert G.conv_padding(1, (3, 3)) == (1, 1, 1, 1)
    assert G.conv_padding((1, 2), (3, 3)) == (1, 1, 2, 2)
    assert G.conv_padding((0, 1, 2, 3), (3, 3)) == (0, 1, 2, 3)
    assert G.conv_padding("valid", (3, 3)) == (0, 0, 0, 0)
    assert G.conv_padding("same", (3, 5), 1) == (1, 1, 2, 2)
    assert G.conv_padding("same", (3, 3), 1, 2, (6, 5)) == (0, 1, 1, 1)


def test_four_sided_padding_equals_padding_the_input_by_hand():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((4, 3, 3, 3))
    padded = np.pad(x, ((0, 0), (0, 0), (0, 1), (2, 1)))  # top 0, bottom 1, left 2, right 1
    for backend in ("reference", "numba"):
        with tinymm.use_backend(backend):
            got = F.conv2d(tinymm.tensor(x), tinymm.tensor(w), stride=2, padding=(0, 1, 2, 1))
            want = F.conv2d(tinymm.tensor(padded), tinymm.tensor(w), stride=2)
        np.testing.assert_allclose(got.array, want.array, rtol=1e-12)


def test_pytorch_same_rule_and_bad_padding():
    x = tinymm.tensor(np.zeros((1, 1, 4, 4)))
    w = tinymm.tensor(np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="needs stride 1"):
        F.conv2d(x, w, stride=2, padding="same")
    with pytest.raises(ValueError, match="4-tuple"):
        F.conv2d(x, w, padding=(0, 1, -1, 0))

"""einsum's lowering to Tensor ops (the cuda path), binary_cross_entropy's range check and
tests/cuda_lowered_check.py (einsum, bilinear and BCE on the simulated device).

The lowering is plain Tensor ops, so it also runs on the CPU: there it is held to np.einsum
on hypothesis-drawn equations and differentiated by finite differences.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm
from tinymm import F
from tinymm.ops.einsum import lowered

LETTERS = "abcd"


@st.composite
def equations(draw):
    """(equation, shapes): 1-3 operands of 0-3 letters, sizes 1-3 per letter with some
    operands holding a letter at size 1 (broadcast), an explicit output or NumPy's implicit one."""
    sizes = {c: draw(st.integers(1, 3)) for c in LETTERS}
    subs, shapes = [], []
    for _ in range(draw(st.integers(1, 3))):
        sub = "".join(draw(st.lists(st.sampled_from(LETTERS), max_size=3)))
        subs.append(sub)
        shapes.append(tuple(1 if draw(st.booleans()) and draw(st.booleans()) else sizes[c]
                            for c in sub))
    for sub, shape in zip(subs, shapes):  # a repeated letter needs one size in its operand
        for c in set(sub):
            if sub.count(c) > 1:
                shape = tuple(sizes[c] if s == c else n for s, n in zip(sub, shape))
        shapes[subs.index(sub)] = shape
    used = sorted(set("".join(subs)))
    if draw(st.booleans()):
        return ",".join(subs), shapes
    out = draw(st.permutations(used))[:draw(st.integers(0, len(used)))]
    return ",".join(subs) + "->" + "".join(out), shapes


@settings(max_examples=60, deadline=None)
@given(equations(), st.integers(0, 2**31 - 1))
def test_lowering_matches_numpy_einsum(case, seed):
    eq, shapes = case
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    try:
        want = np.einsum(eq, *arrays)
    except ValueError:  # sizes that do not broadcast: the lowering refuses them too
        with pytest.raises(ValueError, match="einsum"):
            lowered(eq, [tinymm.tensor(a) for a in arrays])
        return
    got = lowered(eq, [tinymm.tensor(a) for a in arrays]).numpy()
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("eq,shapes", [("ij,jk->ik", [(2, 3), (3, 4)]),
                                       ("...i,oij,...j->...o", [(2, 3), (4, 3, 2), (2, 2)]),
                                       ("i,i->i", [(1,), (3,)]), ("ijk,ij->k", [(2, 3, 4), (2, 3)]),
                                       ("ab,bc,cd", [(2, 3), (3, 2), (2, 2)]), (",i", [(), (3,)])])
def test_lowering_gradients_by_finite_differences(eq, shapes):
    rng = np.random.default_rng(0)
    inputs = [tinymm.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    assert tinymm.gradcheck(lambda *ts: lowered(eq, list(ts)), inputs)


def test_binary_cross_entropy_rejects_nan_and_out_of_range_on_the_host():
    with pytest.raises(ValueError, match="input holds NaN"):
        F.binary_cross_entropy(tinymm.tensor([0.5, float("nan")]), tinymm.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\], got values in \[-0.5"):
        F.binary_cross_entropy(tinymm.tensor([-0.5, 0.5]), tinymm.tensor([1.0, 0.0]))


def test_binary_cross_entropy_clamps_logs_as_torch():
    torch = pytest.importorskip("torch")
    p = np.array([0.0, 1e-45, 0.25, 1 - 2**-24, 1.0], np.float32)
    t = np.array([1.0, 1.0, 0.5, 0.0, 0.0], np.float32)
    ours = F.binary_cross_entropy(tinymm.tensor(p), tinymm.tensor(t), reduction="none")
    theirs = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(t),
                                                      reduction="none")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_einsum_bilinear_and_bce_on_the_simulated_device():
    pytest.importorskip("numba_cuda", reason="numba-cuda not installed")
    from tests.simulated import run_simulated

    proc = run_simulated("tests.cuda_lowered_check", timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "einsum equations match the host" in proc.stdout

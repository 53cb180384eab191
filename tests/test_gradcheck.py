"""gradcheck itself: it must pass right backwards and catch wrong ones, with a useful message."""

import sys

import numpy as np
import pytest

import tinymm
from tinymm import ArrayFunction
from tinymm.ops.linear import Linear


class BrokenLinear(ArrayFunction):
    """Linear whose dweight forgets a transpose: dout @ x instead of dout^T @ x (only the
    shapes of square problems survive; we use a square weight so it runs)."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x @ w.T

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved
        return grad @ w, (grad @ x.T).T  # wrong: should be grad.T @ x


def test_passes_a_correct_backward(rng):
    assert tinymm.gradcheck(lambda x, w: Linear.apply(x, w, None),
                            [rng.standard_normal((3, 3)), rng.standard_normal((3, 3))])


def test_catches_a_broken_backward_and_names_the_input(rng):
    x, w = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    x.flags.writeable = True
    with pytest.raises(tinymm.GradcheckError) as info:
        tinymm.gradcheck(BrokenLinear.apply, [x, w])
    message = str(info.value)
    assert "inputs[1]" in message  # the weight, not the input, is wrong
    assert "worst element" in message and "analytic" in message and "numeric" in message
    assert "error map" in message and "X" in message


def test_names_come_from_tensor_names(rng):
    w = tinymm.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    w.name = "weight"
    with pytest.raises(tinymm.GradcheckError, match="weight"):
        tinymm.gradcheck(BrokenLinear.apply, [rng.standard_normal((3, 3)), w])


def test_sum_upstream_would_miss_this_bug():
    """With a ones upstream gradient, swapping two outputs' gradients is invisible; the random
    upstream gradient gradcheck uses catches it."""

    class SwapBug(ArrayFunction):
        @staticmethod
        def forward(ctx, x):
            return x * np.array([2.0, 3.0])

        @staticmethod
        def backward(ctx, grad):
            return (grad[::-1] * np.array([2.0, 3.0]),)  # reads the wrong output's gradient

    x = np.array([0.3, -0.7])
    y = tinymm.tensor(x, requires_grad=True)
    SwapBug.apply(y).sum().backward()
    np.testing.assert_allclose(y.grad, [2.0, 3.0])  # looks right with sum()
    with pytest.raises(tinymm.GradcheckError):
        tinymm.gradcheck(SwapBug.apply, [x])


def test_zero_over_zero_is_not_an_error():
    # relu of negative inputs: analytic and numeric gradient are both exactly 0
    assert tinymm.gradcheck(tinymm.F.relu, [-np.ones((2, 3))])
    report = tinymm.gradcheck_report(tinymm.F.relu, [-np.ones((2, 3))])
    assert report == {"inputs[0]": 0.0}


def test_report_gives_per_input_errors(rng):
    report = tinymm.gradcheck_report(tinymm.F.linear, [rng.standard_normal((2, 3)),
                                                       rng.standard_normal((4, 3)),
                                                       rng.standard_normal(4)])
    assert set(report) == {"inputs[0]", "inputs[1]", "inputs[2]"}
    assert all(err < 1e-6 for err in report.values())
    bad = tinymm.gradcheck_report(BrokenLinear.apply, [rng.standard_normal((3, 3)),
                                                       rng.standard_normal((3, 3))])
    assert bad["inputs[0]"] < 1e-6 and bad["inputs[1]"] > 1e-2


def test_integer_inputs_pass_through_and_constants_are_not_checked(rng):
    target = np.array([0, 2, 1])
    const = tinymm.tensor(rng.standard_normal((3, 3)))  # requires_grad False: held constant
    assert tinymm.gradcheck(lambda x, t, c: tinymm.F.cross_entropy(x * c, t),
                            [rng.standard_normal((3, 3)), target, const])


def test_runs_in_float64_even_for_float32_inputs(rng):
    seen = []

    def fn(x):
        seen.append(x.dtype)
        return x * 2.0

    tinymm.gradcheck(fn, [rng.standard_normal(3).astype(np.float32)])
    assert set(seen) == {np.dtype(np.float64)}


def test_multiple_outputs(rng):
    assert tinymm.gradcheck(lambda x: tinymm.split(x, 2, axis=0), [rng.standard_normal((4, 2))])


def test_no_float_input_is_an_error():
    with pytest.raises(ValueError, match="no floating-point input"):
        tinymm.gradcheck(lambda t: t, [np.array([1, 2])])


# ------------------------------------------------------------------ one tolerance story
def _scaled_tanh(factor):
    class Scaled(ArrayFunction):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return np.tanh(x)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved
            return (grad * (1 - np.tanh(x) ** 2) * factor,)

    return Scaled.apply


def test_default_rejects_a_backward_off_by_half_a_permille(rng):
    x = rng.standard_normal((3, 4))
    assert tinymm.gradcheck(_scaled_tanh(1.0), [x], strict=True)
    with pytest.raises(tinymm.GradcheckError, match=r"wrong \(1e-4 to 1e-2"):
        tinymm.gradcheck(_scaled_tanh(1.0005), [x])
    assert tinymm.gradcheck(_scaled_tanh(1 + 3e-6), [x])  # under the default rtol 1e-5
    with pytest.raises(tinymm.GradcheckError, match="suspicious"):
        tinymm.gradcheck(_scaled_tanh(1 + 3e-6), [x], strict=True)


def test_softplus_with_a_stray_term_is_not_called_correct(rng):
    class StraySoftplus(ArrayFunction):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return np.logaddexp(0, x)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved
            s = 1 / (1 + np.exp(-x))
            return (grad * (s + 1e-3 * s * (1 - s)),)

    with pytest.raises(tinymm.GradcheckError):
        tinymm.gradcheck(StraySoftplus.apply, [rng.standard_normal((3, 4)) * 2])


def test_verdict_bands():
    from tinymm.gradcheck import verdict

    assert verdict(1e-10).startswith("right (agreement to float64 rounding")
    assert verdict(5e-7).startswith("right (within finite-difference truncation")
    assert verdict(1e-5).startswith("suspicious")
    assert verdict(1e-3).startswith("wrong (1e-4 to 1e-2")
    assert verdict(0.5).startswith("wrong (1e-2 or more")


def test_kinks_are_reported_as_kinks_not_errors():
    with pytest.warns(tinymm.GradcheckKinkWarning, match="kink"):
        assert tinymm.gradcheck(tinymm.F.relu, [np.array([0.0, 1.0, -2.0])], strict=True)
    tie = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])  # a max-pool tie
    with pytest.warns(tinymm.GradcheckKinkWarning):
        assert tinymm.gradcheck(lambda a: tinymm.F.max_pool2d(a, 2), [tie])


def test_a_wrong_backward_at_a_kink_still_fails():
    class TripleRelu(ArrayFunction):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return np.maximum(x, 0)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved
            return (grad * (x >= 0) * 3.0,)  # 3 is not between the one-sided slopes 0 and 1

    with pytest.raises(tinymm.GradcheckError):
        tinymm.gradcheck(TripleRelu.apply, [np.array([0.0, 1.0])])


def _scaled_linear(factor):
    class ScaledBackward(ArrayFunction):
        """Linear whose backward is off by a constant factor (a subtly wrong derivative)."""

        @staticmethod
        def forward(ctx, x, w):
            ctx.save_for_backward(x, w)
            return x @ w.T

        @staticmethod
        def backward(ctx, grad):
            x, w = ctx.saved
            return grad @ w * factor, grad.T @ x * factor

    return ScaledBackward.apply


@pytest.mark.parametrize("error", [1e-2, 5e-4], ids=["1%", "0.05%"])
def test_rejects_a_backward_off_by_a_small_factor(rng, error):
    x, w = rng.standard_normal((4, 3)), rng.standard_normal((5, 3))
    assert tinymm.gradcheck(_scaled_linear(1.0), [x, w])  # the same op, exact, passes
    with pytest.raises(tinymm.GradcheckError, match=r"relative error"):
        tinymm.gradcheck(_scaled_linear(1.0 + error), [x, w])
    report = tinymm.gradcheck_report(_scaled_linear(1.0 + error), [x, w])
    assert all(abs(e - error) < 0.1 * error for e in report.values()), report


def test_default_tolerances_sit_well_above_finite_difference_noise(rng):
    """The exact backward's error is far below the defaults, so they are not flaky."""
    import tinymm.gradcheck  # noqa: F401 - the module, shadowed by the function on tinymm
    gc = sys.modules["tinymm.gradcheck"]

    x, w = rng.standard_normal((4, 3)), rng.standard_normal((5, 3))
    report = tinymm.gradcheck_report(_scaled_linear(1.0), [x, w])
    assert max(report.values()) < gc.RTOL / 100

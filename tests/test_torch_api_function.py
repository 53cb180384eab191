"""PyTorch-style ``torch.autograd.Function`` subclasses (the docs' "Extending torch.autograd"
examples, the tutorial's MyReLU) run on tinymm unchanged: Tensors in forward (run with graph
recording off) and in backward, ``ctx`` attributes, ``needs_input_grad``, ``setup_context``,
``mark_dirty``, ``mark_non_differentiable``, ``set_materialize_grads``, several outputs and
non-Tensor arguments; values and gradients held to torch and to finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tests.torch_twin import same_values_and_grads


def functions(torch):
    """The docs' and the tutorial's Functions, written once against ``torch`` (either
    library), exactly as PyTorch users write them."""
    Function = torch.autograd.Function

    class MyReLU(Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return input.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            grad_input = grad_output.clone()
            grad_input[input < 0] = 0
            return grad_input

    class LinearFunction(Function):  # the ctx-in-forward form
        @staticmethod
        def forward(ctx, input, weight, bias=None):
            ctx.save_for_backward(input, weight, bias)
            output = input.mm(weight.t())
            if bias is not None:
                output += bias.unsqueeze(0).expand_as(output)
            return output

        @staticmethod
        def backward(ctx, grad_output):
            input, weight, bias = ctx.saved_tensors
            grad_input = grad_weight = grad_bias = None
            if ctx.needs_input_grad[0]:
                grad_input = grad_output.mm(weight)
            if ctx.needs_input_grad[1]:
                grad_weight = grad_output.t().mm(input)
            if bias is not None and ctx.needs_input_grad[2]:
                grad_bias = grad_output.sum(0)
            return grad_input, grad_weight, grad_bias

    class LinearSetup(Function):  # the forward + setup_context form
        @staticmethod
        def forward(input, weight, bias):
            return input.mm(weight.t()) + bias

        @staticmethod
        def setup_context(ctx, inputs, output):
            input, weight, bias = inputs
            ctx.save_for_backward(input, weight, bias)

        @staticmethod
        def backward(ctx, grad_output):
            input, weight, bias = ctx.saved_tensors
            return grad_output.mm(weight), grad_output.t().mm(input), grad_output.sum(0)

    class MulConstant(Function):
        @staticmethod
        def forward(ctx, tensor, constant):
            ctx.constant = constant
            return tensor * constant

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output * ctx.constant, None

    class Exp(Function):
        @staticmethod
        def forward(ctx, i):
            result = i.exp()
            ctx.save_for_backward(result)
            return result

        @staticmethod
        def backward(ctx, grad_output):
            result, = ctx.saved_tensors
            return grad_output * result

    return MyReLU, LinearFunction, LinearSetup, MulConstant, Exp


CASES = {
    "MyReLU": (lambda lib, x: functions(lib)[0].apply(x), [(4, 5)]),
    "LinearFunction": (lambda lib, x, w, b: functions(lib)[1].apply(x, w, b),
                       [(4, 3), (2, 3), (2,)]),
    "LinearFunction_no_bias": (lambda lib, x, w: functions(lib)[1].apply(x, w), [(4, 3), (2, 3)]),
    "LinearSetup": (lambda lib, x, w, b: functions(lib)[2].apply(x, w, b), [(4, 3), (2, 3), (2,)]),
    "MulConstant": (lambda lib, x: functions(lib)[3].apply(x, 2.5), [(3, 2)]),
    "Exp": (lambda lib, x: functions(lib)[4].apply(x), [(6,)]),
    "composed": (lambda lib, x, w, b: functions(lib)[4].apply(functions(lib)[0].apply(
        functions(lib)[1].apply(x, w, b) * 0.5)).sum(1), [(4, 3), (2, 3), (2,)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_docs_functions_match_torch(name):
    fn, shapes = CASES[name]
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in shapes]
    same_values_and_grads(fn, arrays, rng)


@pytest.mark.parametrize("name", sorted(CASES))
def test_docs_functions_pass_gradcheck(name):
    fn, shapes = CASES[name]
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s) + 0.1 for s in shapes]  # away from ReLU's kink
    assert tinymm.gradcheck(lambda *xs: fn(tinymm, *xs), arrays)


def test_forward_gets_tensors_with_recording_off_and_backward_gets_tensors():
    seen = {}

    class Probe(tinymm.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale, *, shift=0.0):
            seen["forward"] = (type(x), tinymm.is_grad_enabled(), x.requires_grad, scale, shift)
            return x * scale + shift

        @staticmethod
        def backward(ctx, g):
            seen["backward"] = (type(g), tinymm.is_grad_enabled(), ctx.needs_input_grad)
            return g * 3.0, None

    x = tinymm.randn(3, requires_grad=True)
    y = Probe.apply(x, 3.0, shift=1.0)
    assert y.requires_grad and y.grad_fn.name() == "ProbeBackward"
    y.sum().backward()
    assert seen["forward"] == (tinymm.Tensor, False, True, 3.0, 1.0)
    assert seen["backward"] == (tinymm.Tensor, False, (True, False))
    np.testing.assert_allclose(x.grad.numpy(), 3.0)
    with tinymm.no_grad():
        assert not Probe.apply(x, 2.0).requires_grad


def test_sort_with_non_differentiable_indices_and_once_differentiable():
    torch = pytest.importorskip("torch")

    def run(lib):
        from_function = lib.autograd.function

        class Sort(from_function.Function):
            @staticmethod
            def forward(ctx, x):
                values, idx = x.sort()
                ctx.mark_non_differentiable(idx)
                ctx.save_for_backward(x, idx)
                return values, idx

            @staticmethod
            @from_function.once_differentiable
            def backward(ctx, g1, g2):
                x, idx = ctx.saved_tensors
                grad_input = lib.zeros_like(x)
                grad_input.index_add_(0, idx, g1)
                return grad_input

        x = lib.tensor([3.0, -1.0, 2.0, 0.5], dtype=lib.float64, requires_grad=True)
        values, idx = Sort.apply(x)
        (values * lib.tensor([1.0, 2.0, 3.0, 4.0], dtype=lib.float64)).sum().backward()
        return values.detach().numpy(), idx.numpy(), idx.requires_grad, x.grad.numpy()

    ours, theirs = run(tinymm), run(torch)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


def test_mark_dirty_returns_the_input_with_a_new_history_and_bumps_its_version():
    torch = pytest.importorskip("torch")

    def run(lib):
        class AddOneInPlace(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                x.add_(1.0)
                ctx.mark_dirty(x)
                return x

            @staticmethod
            def backward(ctx, grad_output):
                return grad_output * 2.0

        a = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        b = a.clone()
        version = b._version
        out = AddOneInPlace.apply(b)
        assert out is b and b._version > version
        (b * b).sum().backward()
        return b.detach().numpy(), a.grad.numpy()

    for ours, theirs in zip(run(tinymm), run(torch)):
        np.testing.assert_allclose(ours, theirs)


def test_mark_dirty_errors_as_torch_does():
    class Inplace(tinymm.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x_npy = x.detach().numpy()  # shares storage with x, behind the version counter
            x_npy += 1
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output

    a = tinymm.tensor(1.0, dtype=tinymm.float64, requires_grad=True).clone()
    b = a * a
    Inplace.apply(a)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        b.backward()
    with pytest.raises(RuntimeError, match="Inplace: a leaf Variable that requires grad"):
        Inplace.apply(tinymm.ones(2, requires_grad=True))


def test_set_materialize_grads_false_passes_none_for_an_unused_output():
    torch = pytest.importorskip("torch")

    def run(lib):
        got = []

        class TwoCopies(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(False)
                ctx.save_for_backward(x)
                return x.clone(), x.clone()

            @staticmethod
            def backward(ctx, g1, g2):
                got.append((g1 is None, g2 is None))
                x, = ctx.saved_tensors
                grad_input = lib.zeros_like(x)
                if g1 is not None:
                    grad_input += g1
                if g2 is not None:
                    grad_input += g2
                return grad_input

        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b, _ = TwoCopies.apply(a)
        (b * 3).sum().backward()
        return got, a.grad.numpy()

    (ours, g_ours), (theirs, g_theirs) = run(tinymm), run(torch)
    assert ours == theirs == [(False, True)]
    np.testing.assert_allclose(g_ours, g_theirs)


def test_non_tensor_outputs_pass_through_and_broadcast_gradients_are_summed():
    class WithCount(tinymm.autograd.Function):
        @staticmethod
        def forward(ctx, x, b):
            return x + b, int(x.shape[0])

        @staticmethod
        def backward(ctx, g, g_count):
            assert g_count is None
            return g, g  # b's gradient shaped like x: summed down to b's shape, as torch

    x = tinymm.randn(4, 3, dtype=tinymm.float64, requires_grad=True)
    b = tinymm.randn(3, dtype=tinymm.float64, requires_grad=True)
    y, count = WithCount.apply(x, b)
    assert count == 4
    (y * 2).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), np.full(3, 8.0))


def test_bad_backward_results_raise_clear_errors():
    def make(result):
        class Bad(tinymm.autograd.Function):
            @staticmethod
            def forward(ctx, x, k):
                return x * k

            @staticmethod
            def backward(ctx, g):
                return result(g)

        return Bad

    x = tinymm.randn(3, requires_grad=True)
    bad = {
        "incorrect number of gradients \\(expected 2, got 1\\)": lambda g: g,
        "different than None at position 1": lambda g: (g, g),
        "invalid gradient at index 0 - got \\[2\\]": lambda g: (tinymm.ones(2), None),
        "returned a float at position 0": lambda g: (1.0, None),
    }
    for message, result in bad.items():
        with pytest.raises((RuntimeError, TypeError), match=message):
            make(result).apply(x, 2.0).sum().backward()
    with pytest.raises(TypeError, match="save_for_backward can only save tensors"):
        class SavesInt(tinymm.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x, 3)
                return x

        SavesInt.apply(x)


def test_engine_ops_still_compute_on_arrays():
    class Square(tinymm.ArrayFunction):
        @staticmethod
        def forward(ctx, a):
            assert isinstance(a, np.ndarray)
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, grad):
            (a,) = ctx.saved
            return 2 * a * grad

    x = tinymm.tensor([1.0, -2.0], requires_grad=True)
    Square.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, -4.0])
    assert tinymm.Function is tinymm.autograd.Function is tinymm.autograd.function.Function
    assert not issubclass(tinymm.ops.elementwise.Mul, tinymm.autograd.Function)


def test_a_tinymm_op_cannot_subclass_the_tensor_level_function():
    namespace = {"__module__": "tinymm.ops.example", "forward": staticmethod(lambda ctx, a: a)}
    with pytest.raises(TypeError, match="tinymm.ops.example.Op: tinymm's own ops subclass "
                                        "ArrayFunction"):
        type("Op", (tinymm.autograd.Function,), namespace)


def test_gradient_reversal_and_straight_through_idioms_match_torch():
    """Two Functions programs write most: DANN's gradient reversal (a view_as forward, a
    negated backward) and a straight-through sign (round in forward, identity backward)."""
    torch = pytest.importorskip("torch")

    def run(lib):
        class GradReverse(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x, alpha):
                ctx.alpha = alpha
                return x.view_as(x)

            @staticmethod
            def backward(ctx, grad_output):
                return grad_output.neg() * ctx.alpha, None

        class SignSTE(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x.sign()

            @staticmethod
            def backward(ctx, grad_output):
                return grad_output.clamp(-1, 1)

        x = lib.tensor([[0.5, -1.5, 2.0], [3.0, -0.2, 0.1]], dtype=lib.float64,
                       requires_grad=True)
        w = lib.tensor([[1.0, -2.0], [0.5, 0.25], [-1.0, 3.0]], dtype=lib.float64,
                       requires_grad=True)
        features = SignSTE.apply(x * 2) @ w
        reversed_ = GradReverse.apply(features, 0.3)
        (reversed_ ** 2).sum().backward()
        return features.detach().numpy(), x.grad.numpy(), w.grad.numpy()

    for ours, theirs in zip(run(tinymm), run(torch)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)

"""Module containers and hooks, Tensor gradient hooks and layout queries, as PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tinymm import nn


def test_module_dict_and_parameter_containers_follow_torch_names():
    torch = pytest.importorskip("torch")

    def build(lib):
        class Net(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.heads = lib.nn.ModuleDict({"a": lib.nn.Linear(2, 3)})
                self.heads["b"] = lib.nn.Linear(3, 1)
                self.scales = lib.nn.ParameterList([lib.nn.Parameter(lib.ones(2))])
                self.scales.append(lib.nn.Parameter(lib.zeros(3)))
                self.extra = lib.nn.ParameterDict({"bias": lib.nn.Parameter(lib.zeros(1))})

        return Net()

    ours, theirs = build(tinymm), build(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.heads) == ["a", "b"] and "a" in ours.heads and len(ours.scales) == 2
    assert ours.heads.pop("a").out_features == 3 and list(ours.heads.keys()) == ["b"]
    assert tuple(ours.scales[-1].shape) == (3,)
    ours.extra["w"] = tinymm.ones(2)  # a tensor becomes a Parameter
    assert isinstance(ours.extra["w"], nn.Parameter)
    with pytest.raises(TypeError, match="ModuleDict: 'x' must be a Module"):
        ours.heads["x"] = 3


def test_get_submodule_parameter_and_half():
    net = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
    assert net.get_submodule("1.1") is net[1][1]
    assert net.get_parameter("1.1.bias") is net[1][1].bias
    with pytest.raises(AttributeError, match="no submodule 'x'"):
        net.get_submodule("1.x")
    with pytest.raises(AttributeError, match="no parameter 'gamma'"):
        net.get_parameter("0.gamma")
    assert net.half()[0].weight.dtype == np.float16


def test_forward_hooks_replace_args_and_output_and_remove():
    lin = nn.Linear(2, 2)
    seen = []
    pre = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    post = lin.register_forward_hook(lambda m, args, out: seen.append(args[0].sum().item()))
    x = tinymm.ones(1, 2)
    np.testing.assert_allclose(lin(x).detach().numpy(), lin.bias.detach().numpy()[None])
    assert seen == [0.0]
    pre.remove()
    post.remove()
    with lin.register_forward_hook(lambda m, args, out: out * 2):
        doubled = lin(x)
    np.testing.assert_allclose(doubled.detach().numpy(), 2 * lin(x).detach().numpy())
    assert seen == [0.0]


def test_full_backward_hook_matches_torch():
    torch = pytest.importorskip("torch")
    records = {}

    def run(lib, key):
        lib.manual_seed(0)
        lin = lib.nn.Linear(3, 2).double()
        if key == "ours":
            lin.load_state_dict(records["weights"])
        else:
            records["weights"] = {k: v.detach().numpy() for k, v in lin.state_dict().items()}
        log = []

        def hook(module, grad_input, grad_output):
            log.append((grad_input[0].detach().numpy().copy(),
                        grad_output[0].detach().numpy().copy()))
            return (grad_input[0] * 3,)

        lin.register_full_backward_hook(hook)
        x = lib.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
        (lin(x) ** 2).sum().backward()
        return log, x.grad.detach().numpy()

    log_t, grad_t = run(torch, "torch")
    log, grad = run(tinymm, "ours")
    assert len(log) == len(log_t) == 1
    for a, b in zip(log[0], log_t[0]):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(grad, grad_t, rtol=1e-12)


def test_tensor_register_hook_on_leaf_and_non_leaf():
    x = tinymm.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    calls = []
    y.register_hook(lambda g: calls.append(g.numpy().copy()))
    handle = x.register_hook(lambda g: g * 10)
    (y * y + x).sum().backward()  # two paths into x: the hook sees their sum once
    np.testing.assert_allclose(calls[0], 2 * 3 * np.array([1.0, 2.0]))
    np.testing.assert_allclose(x.grad.numpy(), 10 * (18 * np.array([1.0, 2.0]) + 1))
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        tinymm.ones(2).register_hook(print)


def test_grad_fn_and_layout_queries_match_torch():
    torch = pytest.importorskip("torch")
    x = tinymm.ones(2, 3, requires_grad=True)
    assert x.grad_fn is None and (x * 2).grad_fn is not None
    assert (x * 2).grad_fn.name().endswith("Backward0")
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    ours, theirs = tinymm.tensor(a), torch.tensor(a)
    assert ours.stride() == theirs.stride() and ours.stride(1) == theirs.stride(1)
    assert ours.nbytes == theirs.nbytes and ours.is_contiguous()
    np.testing.assert_array_equal(ours.mT.numpy(), theirs.mT.numpy())
    assert ours.transpose(0, 2).is_contiguous() == theirs.transpose(0, 2).is_contiguous()

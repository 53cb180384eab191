"""torch.optim.Optimizer's interface as programs use it: a custom optimizer written against
the base class (``Optimizer(params, defaults)``, ``self.state[p]``, in-place updates under
no_grad), ``add_param_group``, ``step(closure)``, ``maximize`` and the implementation switches
(foreach/fused/capturable), each held to PyTorch over a few steps."""

import numpy as np
import pytest

import tinymm

RNG = np.random.default_rng(0)
W0 = RNG.normal(size=(3, 4)).astype(np.float32)
B0 = RNG.normal(size=(4,)).astype(np.float32)
X = RNG.normal(size=(5, 3)).astype(np.float32)


def _loss(lib, w, b):
    return ((lib.tensor(X) @ w + b).tanh() ** 2).mean()


def _params(lib):
    return (lib.tensor(W0.copy(), requires_grad=True),
            lib.tensor(B0.copy(), requires_grad=True))


def _custom_optimizer(lib):
    """A momentum SGD as a program writes it against torch.optim.Optimizer."""

    class MomentumSGD(lib.optim.Optimizer):
        def __init__(self, params, lr=0.1, momentum=0.9):
            if lr < 0.0:
                raise ValueError(f"Invalid learning rate: {lr}")
            defaults = dict(lr=lr, momentum=momentum)
            super().__init__(params, defaults)

        @lib.no_grad()
        def step(self, closure=None):
            loss = None
            if closure is not None:
                with lib.enable_grad():
                    loss = closure()
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    if len(state) == 0:
                        state["step"] = 0
                        state["buf"] = lib.zeros_like(p)
                    state["step"] += 1
                    buf = state["buf"]
                    buf.mul_(group["momentum"]).add_(p.grad)
                    p.add_(buf, alpha=-group["lr"])
            return loss

    return MomentumSGD


def _train(lib, make_optimizer, steps=4, closure=False):
    w, b = _params(lib)
    opt = make_optimizer(lib, w, b)
    losses = []
    for _ in range(steps):
        def evaluate():
            opt.zero_grad()
            loss = _loss(lib, w, b)
            loss.backward()
            return loss
        if closure:
            losses.append(float(opt.step(evaluate).detach()))
        else:
            losses.append(float(evaluate().detach()))
            opt.step()
    return np.array(losses), w.detach().numpy(), b.detach().numpy()


def _compare(make_optimizer, closure=False, rtol=1e-5):
    torch = pytest.importorskip("torch")
    ours = _train(tinymm, make_optimizer, closure=closure)
    theirs = _train(torch, make_optimizer, closure=closure)
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a, t, rtol=rtol, atol=1e-6)


def test_custom_optimizer_on_the_base_class_matches_pytorch():
    _compare(lambda lib, w, b: _custom_optimizer(lib)([w, b], lr=0.2, momentum=0.8))


def test_custom_optimizer_with_param_groups_and_closure():
    def make(lib, w, b):
        return _custom_optimizer(lib)([{"params": [w]}, {"params": [b], "lr": 0.05}], lr=0.3)
    _compare(make, closure=True)


def test_add_param_group_as_in_fine_tuning():
    def make(lib, w, b):
        opt = lib.optim.Adam([w], lr=1e-2)
        opt.add_param_group({"params": b, "lr": 1e-1, "betas": (0.8, 0.9)})
        return opt
    _compare(make)


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 1e-2, "amsgrad": True}),
    ("AdamW", {"lr": 1e-2}),
    ("RMSprop", {"lr": 1e-2, "centered": True, "momentum": 0.5}),
    ("Adagrad", {"lr": 1e-1}),
    ("Adadelta", {"lr": 1.0}),
    ("NAdam", {"lr": 1e-2}),
    ("RAdam", {"lr": 1e-2}),
    ("Adamax", {"lr": 1e-2}),
])
def test_maximize_and_implementation_switches_match_pytorch(name, kwargs):
    def make(lib, w, b):
        return getattr(lib.optim, name)([w, b], maximize=True, foreach=False, **kwargs)
    _compare(make, closure=(name == "SGD"))


def test_step_with_closure_returns_the_loss():
    w, b = _params(tinymm)
    opt = tinymm.optim.SGD([w, b], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = _loss(tinymm, w, b)
        loss.backward()
        return loss

    first = opt.step(closure)
    assert float(first) == pytest.approx(float(_loss(tinymm, *_params(tinymm))))
    assert opt.step() is None


def test_optimizer_argument_errors():
    w, b = _params(tinymm)
    with pytest.raises(TypeError, match="unexpected keyword argument 'momentun'"):
        tinymm.optim.SGD([w], lr=0.1, momentun=0.9)
    with pytest.raises(ValueError, match="differentiable=True"):
        tinymm.optim.Adam([w], differentiable=True)
    with pytest.raises(TypeError, match="got a single Tensor"):
        tinymm.optim.SGD(w, lr=0.1)
    opt = tinymm.optim.SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [w]})

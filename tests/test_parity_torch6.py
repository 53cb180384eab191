"""Differential tests, part six: the losses' weight, ignore_index and label_smoothing combined,
optimizers' less-used options (maximize, foreach=False, nesterov with weight decay, per-group
settings, add_param_group), schedulers over several param groups, Module and state_dict
semantics, padding modes and the norms' eps and momentum, and the default initialisation's
bounds and spread, on tinymm and on PyTorch (``m`` is the module a row runs under)."""

import numpy as np
import pytest

import tinymm
from tests.test_parity_torch import _assert_same, _run, _total

torch = pytest.importorskip("torch")

_R = np.random.default_rng(6)
X = _R.standard_normal((6, 5)).astype(np.float32)
IGNORED = np.array([1, 0, 4, 2, -100, 3])
TARGET = np.array([1, 0, 4, 2, 3, 3])
W5 = np.array([0.5, 1, 2, 0.1, 3], np.float32)
P = np.abs(_R.standard_normal((6, 5))).astype(np.float32)
P /= P.sum(1, keepdims=True)
BITS = (P > 0.2).astype(np.float32)
SIGNS = np.array([1.0, -1, 1, -1, 1, -1], np.float32)


def _F(m):
    return m.nn.functional


LOSSES = {
    "cross_entropy weight, ignore_index and label_smoothing": (lambda m, a: (
        _F(m).cross_entropy(a, m.tensor(IGNORED), weight=m.tensor(W5), label_smoothing=0.2),
        _F(m).cross_entropy(a, m.tensor(IGNORED), weight=m.tensor(W5), label_smoothing=0.2,
                            reduction="sum"),
        _F(m).cross_entropy(a, m.tensor(IGNORED), weight=m.tensor(W5), label_smoothing=0.2,
                            reduction="none")), X),
    "cross_entropy label_smoothing with ignored targets": (lambda m, a: _F(m).cross_entropy(
        a, m.tensor(IGNORED), label_smoothing=0.3), X),
    "cross_entropy a positive ignore_index with label_smoothing": (
        lambda m, a: _F(m).cross_entropy(a, m.tensor(TARGET), ignore_index=3,
                                         label_smoothing=0.1), X),
    "cross_entropy probability targets: smoothing, weight, reductions": (lambda m, a: (
        _F(m).cross_entropy(a, m.tensor(P), label_smoothing=0.2),
        _F(m).cross_entropy(a, m.tensor(P), weight=m.tensor(W5)),
        _F(m).cross_entropy(a, m.tensor(P), weight=m.tensor(W5), reduction="none"),
        _F(m).cross_entropy(a, m.tensor(P), weight=m.tensor(W5), label_smoothing=0.1,
                            reduction="sum")), X),
    "cross_entropy of one unbatched sample": (lambda m, a: (
        _F(m).cross_entropy(a[0], m.tensor(2)), _F(m).cross_entropy(a[0], m.tensor(P[0]))), X),
    "cross_entropy (N, C, d) weight, smoothing, ignored": (lambda m, a: _F(m).cross_entropy(
        a[:4].reshape(2, 5, 2), m.tensor(np.array([[1, -100], [3, 4]])), weight=m.tensor(W5),
        label_smoothing=0.1), X),
    "cross_entropy of a uint8 target": (lambda m, a: _F(m).cross_entropy(
        a, m.tensor(TARGET, dtype=m.uint8)), X),
    "nll_loss none with ignored, unbatched, all ignored with weight": (lambda m, a: (
        _F(m).nll_loss(a, m.tensor(IGNORED), reduction="none"),
        _F(m).nll_loss(a[0], m.tensor(2)),
        _F(m).nll_loss(a[:1], m.tensor([-100]), weight=m.tensor(W5))), X),
    "cross_entropy weight and smoothing with every target ignored": (
        lambda m, a: _F(m).cross_entropy(a[:2], m.tensor([-100, -100]), weight=m.tensor(W5),
                                         label_smoothing=0.1), X),
    "CrossEntropyLoss and NLLLoss modules": (lambda m, a: (
        m.nn.CrossEntropyLoss(weight=m.tensor(W5), ignore_index=0, label_smoothing=0.05)(
            a, m.tensor(TARGET)),
        m.nn.NLLLoss(reduction="sum", ignore_index=4)(a, m.tensor(TARGET))), X),
    "binary_cross_entropy weight broadcast and none": (lambda m, a: (
        _F(m).binary_cross_entropy(a, m.tensor(BITS), weight=m.tensor(W5)),
        _F(m).binary_cross_entropy(a, m.tensor(P[::-1].copy()), reduction="none")), P),
    "bce_with_logits pos_weight with weight, none, and per-channel": (lambda m, a: (
        _F(m).binary_cross_entropy_with_logits(a, m.tensor(P), weight=m.tensor(W5[:1]),
                                               pos_weight=m.tensor(W5), reduction="none"),
        _F(m).binary_cross_entropy_with_logits(a.reshape(6, 5, 1), m.tensor(P.reshape(6, 5, 1)),
                                               pos_weight=m.tensor([2.0])),
        m.nn.BCEWithLogitsLoss(pos_weight=m.tensor(W5), reduction="sum")(a, m.tensor(P))), X),
    "huber and smooth_l1 none and sum": (lambda m, a: (
        _F(m).huber_loss(a, m.tensor(P), reduction="none", delta=0.3),
        _F(m).smooth_l1_loss(a, m.tensor(P), reduction="sum", beta=2.0)), X),
    "kl_div batchmean with log_target, none": (lambda m, a: (
        _F(m).kl_div(a.log_softmax(1), m.tensor(np.log(P[::-1].copy())), reduction="batchmean",
                     log_target=True),
        _F(m).kl_div(a.log_softmax(1), m.tensor(P[::-1].copy()), reduction="none")), X),
    "triplet p=1 with swap, none": (lambda m, a, b: (
        _F(m).triplet_margin_loss(a, b, a.flip(0), p=1, swap=True, margin=2.0),
        _F(m).triplet_margin_loss(a, b, a.flip(0), reduction="none")), X, P),
    "cosine_embedding and margin_ranking none": (lambda m, a, b: (
        _F(m).cosine_embedding_loss(a, b, m.tensor(SIGNS), margin=0.2, reduction="none"),
        _F(m).margin_ranking_loss(a[:, 0], b[:, 1], m.tensor(SIGNS), reduction="none")), X, P),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_options_combined_match_torch(name):
    fn, *arrays = LOSSES[name]
    ours_in, ours = _run(tinymm, fn, arrays)
    theirs_in, theirs = _run(torch, fn, arrays)
    _assert_same(ours, theirs)

    def upstream(shape):
        return np.random.default_rng(1).standard_normal(tuple(shape)).astype(np.float32)

    _total(ours, upstream).backward()
    _total(theirs, upstream).backward()
    for a, b in zip(ours_in, theirs_in):
        if b.grad is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_empty_batches_match_torch():
    for m in (tinymm, torch):
        assert np.isnan(_F(m).cross_entropy(m.zeros(0, 5), m.zeros(0, dtype=m.int64)).item())
        assert _F(m).cross_entropy(m.zeros(0, 5), m.zeros(0, dtype=m.int64),
                                   reduction="sum").item() == 0
        assert np.isnan(_F(m).mse_loss(m.zeros(0), m.zeros(0)).item())


# ---------------------------------------------------------------- optimizers' options
_W0 = [_R.standard_normal((3, 4)).astype(np.float32), _R.standard_normal(4).astype(np.float32)]
_GRADS = [[_R.standard_normal(w.shape).astype(np.float32) for w in _W0] for _ in range(5)]


def _o(m):
    return m.optim


def _lr(m):
    return m.optim.lr_scheduler


def _groups(m, p, first=None, second=None, **options):
    return [{"params": [p[0]], **(first or {})}, {"params": [p[1]], **(second or {})}]


class _Both:
    """Two schedulers on one optimizer, stepped one after the other (chained by hand)."""

    def __init__(self, *schedulers):
        self.schedulers = schedulers

    def step(self):
        for s in self.schedulers:
            s.step()


OPTIMIZERS = {
    "SGD maximize": lambda m, p: _o(m).SGD(p, lr=0.1, momentum=0.9, maximize=True),
    "SGD nesterov with weight_decay": lambda m, p: _o(m).SGD(
        p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.05),
    "SGD foreach=False": lambda m, p: _o(m).SGD(p, lr=0.1, momentum=0.5, foreach=False),
    "SGD default lr": lambda m, p: _o(m).SGD(p),
    "Adam maximize, amsgrad, weight_decay": lambda m, p: _o(m).Adam(
        p, lr=0.01, maximize=True, amsgrad=True, weight_decay=0.1),
    "Adam foreach=False": lambda m, p: _o(m).Adam(p, lr=0.01, foreach=False),
    "AdamW maximize": lambda m, p: _o(m).AdamW(p, lr=0.01, maximize=True),
    "RMSprop maximize momentum": lambda m, p: _o(m).RMSprop(p, lr=0.01, maximize=True,
                                                            momentum=0.5),
    "Adagrad, Adamax, NAdam, RAdam, Adadelta maximize": lambda m, p: _o(m).Adagrad(
        p, lr=0.1, maximize=True),
    "Adamax maximize": lambda m, p: _o(m).Adamax(p, lr=0.01, maximize=True),
    "NAdam maximize": lambda m, p: _o(m).NAdam(p, lr=0.01, maximize=True),
    "RAdam maximize": lambda m, p: _o(m).RAdam(p, lr=0.01, maximize=True),
    "Adadelta maximize": lambda m, p: _o(m).Adadelta(p, maximize=True),
    "SGD groups with their own lr and weight_decay": lambda m, p: _o(m).SGD(
        _groups(m, p, {"lr": 0.5, "weight_decay": 0.1}), lr=0.1, momentum=0.9, nesterov=True),
    "Adam groups with their own betas and lr": lambda m, p: _o(m).Adam(
        _groups(m, p, {"betas": (0.5, 0.9)}, {"lr": 0.1}), lr=0.01),
}

SCHEDULED = {
    "StepLR over two groups": (
        lambda m, p: _o(m).SGD(_groups(m, p, {"lr": 0.5}), lr=0.1),
        lambda m, o: _lr(m).StepLR(o, 2, 0.5)),
    "LambdaLR with one lambda per group": (
        lambda m, p: _o(m).SGD(_groups(m, p, {"lr": 0.5}), lr=0.1),
        lambda m, o: _lr(m).LambdaLR(o, [lambda e: 0.9 ** e, lambda e: 1 / (e + 1)])),
    "OneCycleLR with a max_lr per group": (
        lambda m, p: _o(m).SGD(_groups(m, p), lr=0.1, momentum=0.9),
        lambda m, o: _lr(m).OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=6)),
    "OneCycleLR cycles Adam's beta1": (
        lambda m, p: _o(m).Adam(p, lr=0.1),
        lambda m, o: _lr(m).OneCycleLR(o, max_lr=0.5, total_steps=6, div_factor=5,
                                       final_div_factor=10, pct_start=0.4)),
    "CosineAnnealingLR over two groups": (
        lambda m, p: _o(m).SGD(_groups(m, p, {"lr": 0.5}), lr=0.1),
        lambda m, o: _lr(m).CosineAnnealingLR(o, 3, eta_min=0.01)),
    "StepLR and ExponentialLR stepped together": (
        lambda m, p: _o(m).SGD(p, lr=0.1),
        lambda m, o: _Both(_lr(m).StepLR(o, 2, 0.5), _lr(m).ExponentialLR(o, 0.9))),
    "CyclicLR exp_range": (
        lambda m, p: _o(m).SGD(p, lr=0.1, momentum=0.9),
        lambda m, o: _lr(m).CyclicLR(o, 0.01, 0.1, step_size_up=2, mode="exp_range",
                                     gamma=0.9)),
    "CyclicLR on Adam without cycling momentum": (
        lambda m, p: _o(m).Adam(p, lr=0.1),
        lambda m, o: _lr(m).CyclicLR(o, 0.01, 0.1, step_size_up=2, cycle_momentum=False)),
    "LinearLR end_factor": (
        lambda m, p: _o(m).SGD(p, lr=0.1),
        lambda m, o: _lr(m).LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=3)),
    "MultiStepLR with a repeated milestone": (
        lambda m, p: _o(m).SGD(p, lr=0.1),
        lambda m, o: _lr(m).MultiStepLR(o, [2, 2, 4], gamma=0.5)),
    "CosineAnnealingWarmRestarts eta_min": (
        lambda m, p: _o(m).SGD(p, lr=0.1),
        lambda m, o: _lr(m).CosineAnnealingWarmRestarts(o, 2, eta_min=0.01)),
    "SequentialLR of three": (
        lambda m, p: _o(m).SGD(p, lr=0.1),
        lambda m, o: _lr(m).SequentialLR(o, [_lr(m).ConstantLR(o, 0.5, total_iters=1),
                                             _lr(m).StepLR(o, 1, 0.5),
                                             _lr(m).ExponentialLR(o, 0.9)], milestones=[1, 3])),
}


def _train(m, make_optimizer, make_scheduler=None):
    params = [m.nn.Parameter(m.tensor(w.copy())) for w in _W0]
    optimizer = make_optimizer(m, params)
    scheduler = make_scheduler(m, optimizer) if make_scheduler else None
    lrs = []
    for step, grads in enumerate(_GRADS):
        optimizer.zero_grad()
        for p, g in zip(params, grads):
            p.grad = m.tensor(g * (1 + step))
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
            lrs.append([group["lr"] for group in optimizer.param_groups])
    return [p.detach().numpy() for p in params], np.array(lrs, np.float64)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_options_match_torch(name):
    for a, b in zip(_train(tinymm, OPTIMIZERS[name])[0], _train(torch, OPTIMIZERS[name])[0]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(SCHEDULED))
def test_schedulers_over_groups_and_chains_match_torch(name):
    ours_params, ours = _train(tinymm, *SCHEDULED[name])
    theirs_params, theirs = _train(torch, *SCHEDULED[name])
    np.testing.assert_allclose(ours, theirs, rtol=1e-7)
    for a, b in zip(ours_params, theirs_params):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- Module and state_dict
def _net(m):
    """Linear, BatchNorm1d, ReLU, Linear with the same seeded weights on both sides."""
    net = m.nn.Sequential(m.nn.Linear(3, 4), m.nn.BatchNorm1d(4), m.nn.ReLU(), m.nn.Linear(4, 2))
    rng = np.random.default_rng(0)
    net.load_state_dict({k: v if v.dtype == m.int64 else m.tensor(
        rng.standard_normal(tuple(v.shape)).astype(np.float32))
        for k, v in net.state_dict().items()})
    return net


def _buffers(m):
    class Holder(m.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("kept", m.ones(2))
            self.register_buffer("dropped", m.zeros(2), persistent=False)
            self.register_buffer("empty", None)
            self.w = m.nn.Parameter(m.ones(3))
            self.sub = m.nn.Linear(2, 2)
            self.register_parameter("none", None)

    held = Holder()
    return (list(held.state_dict()), [k for k, _ in held.named_buffers()],
            [k for k, _ in held.named_parameters()])


def _loads_copies(m):
    net = _net(m)
    source = {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(source)
    with m.no_grad():
        source["0.bias"].fill_(9.0)
    return net[0].bias


def _state_dict_shares(m):
    net = _net(m)
    with m.no_grad():
        net.state_dict()["0.bias"].fill_(5.0)
    return net[0].bias, net.state_dict()["0.bias"].requires_grad


def _loads_with_cast(m):
    layer = m.nn.Linear(2, 2)
    layer.load_state_dict({"weight": m.ones(2, 2, dtype=m.float64), "bias": m.tensor([1, 2])})
    return layer.weight, layer.bias


def _named(m):
    net = _net(m)
    return ([k for k, _ in net.named_modules()], [k for k, _ in net.named_parameters()],
            [k for k, _ in net.named_buffers()], [k for k, _ in net.named_children()])


def _shared_parameter(m):
    layer = m.nn.Linear(2, 2)
    net = m.nn.Sequential(layer, layer)
    return [k for k, _ in net.named_parameters()], len(list(net.parameters())), list(
        net.state_dict())


def _train_flags(m):
    net = _net(m)
    net.eval()
    evaluating = [x.training for x in net.modules()]
    net[1].train()
    return evaluating, [x.training for x in net.modules()], net.training


def _grads_after(m, set_to_none):
    net = _net(m)
    optimizer = m.optim.SGD(net.parameters(), 0.1)
    net(m.ones(2, 3)).sum().backward()
    optimizer.zero_grad(set_to_none=set_to_none)
    return [p.grad is None if set_to_none else p.grad for p in net.parameters()]


def _apply(m):
    def fill(module):
        if isinstance(module, m.nn.Linear):
            with m.no_grad():
                module.weight.fill_(1.0)
    net = _net(m)
    net.apply(fill)
    return net[0].weight, net[3].weight


def _adam_state(m):
    net = _net(m)
    optimizer = m.optim.Adam([{"params": list(net[0].parameters())},
                              {"params": list(net[3].parameters()), "lr": 0.1}], lr=0.01)
    net(m.ones(2, 3)).sum().backward()
    optimizer.step()
    state = optimizer.state_dict()
    return (sorted(state["state"]), [sorted(g["params"]) for g in state["param_groups"]],
            sorted(state["state"][0]), [g["lr"] for g in state["param_groups"]],
            state["state"][2]["exp_avg"])


def _scheduler_state(m):
    net = _net(m)
    optimizer = m.optim.SGD(net.parameters(), 0.1)
    scheduler = _lr(m).StepLR(optimizer, 2, 0.5)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    state = scheduler.state_dict()
    again = m.optim.SGD(net.parameters(), 0.1)
    restored = _lr(m).StepLR(again, 2, 0.5)
    restored.load_state_dict(state)
    return state["last_epoch"], state["_last_lr"], restored.get_last_lr()


def _add_param_group(m):
    net = _net(m)
    optimizer = m.optim.SGD(net[0].parameters(), lr=0.1, momentum=0.9)
    optimizer.add_param_group({"params": net[3].parameters(), "lr": 0.5})
    net(m.ones(2, 3)).sum().backward()
    optimizer.step()
    return ([g["lr"] for g in optimizer.param_groups],
            [g["momentum"] for g in optimizer.param_groups], net[3].weight, net[0].bias)


def _scheduler_then_new_group(m):
    net = _net(m)
    optimizer = m.optim.SGD(net[0].parameters(), lr=0.1)
    scheduler = _lr(m).StepLR(optimizer, 1, 0.5)
    optimizer.add_param_group({"params": net[3].parameters(), "lr": 0.4})
    optimizer.step()
    scheduler.step()
    return [g["lr"] for g in optimizer.param_groups], [
        "initial_lr" in g for g in optimizer.param_groups]


def _clipping(m):
    net = _net(m)
    net(m.ones(2, 3) * 3).sum().backward()
    total = m.nn.utils.clip_grad_norm_(net.parameters(), 0.1)
    clipped = [p.grad.clone() for p in net.parameters()]
    m.nn.utils.clip_grad_value_(net.parameters(), 0.005)
    return [total] + clipped + [p.grad for p in net.parameters()]


def _hooks(m):
    layer = _net(m)[0]
    handle = layer.register_forward_hook(lambda module, inputs, out: out * 2)
    hooked = layer(m.ones(1, 3))
    handle.remove()
    layer.register_forward_pre_hook(lambda module, inputs: (inputs[0] * 0,))
    return hooked, layer(m.ones(1, 3))


def _tensor_hooks(m):
    x, leaf = m.ones(2, requires_grad=True), m.ones(2, requires_grad=True)
    y = x * 3
    y.register_hook(lambda g: g * 10)
    leaf.register_hook(lambda g: g * 10)
    (y + leaf * 3).sum().backward()
    return x.grad, leaf.grad


MODULES = {fn.__name__.strip("_").replace("_", " "): fn for fn in (
    _buffers, _loads_copies, _state_dict_shares, _loads_with_cast, _named, _shared_parameter,
    _train_flags, _apply, _adam_state, _scheduler_state, _add_param_group,
    _scheduler_then_new_group, _clipping, _hooks, _tensor_hooks)}
MODULES["zero_grad set_to_none"] = lambda m: _grads_after(m, True)
MODULES["zero_grad set_to_none=False"] = lambda m: _grads_after(m, False)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_and_state_dict_semantics_match_torch(name):
    _assert_same(MODULES[name](tinymm), MODULES[name](torch), tol=1e-4)


# ---------------------------------------------------------------- layers' options
def _nn(m):
    return m.nn


# name: (layer, input shape, training); two steps in that mode, torch's weights loaded
LAYERS = {
    "Conv2d padding_mode reflect": (
        lambda m: _nn(m).Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), (2, 2, 5, 5), True),
    "Conv2d padding_mode replicate, padding 2": (
        lambda m: _nn(m).Conv2d(2, 3, 3, padding=2, padding_mode="replicate"), (2, 2, 5, 5),
        True),
    "Conv2d padding_mode circular, uneven padding": (
        lambda m: _nn(m).Conv2d(2, 3, 3, padding=(1, 2), padding_mode="circular"),
        (2, 2, 5, 5), True),
    "Conv2d reflect with stride": (
        lambda m: _nn(m).Conv2d(2, 3, 3, stride=2, padding=1, padding_mode="reflect"),
        (2, 2, 6, 6), True),
    "Conv1d padding_mode circular": (
        lambda m: _nn(m).Conv1d(2, 3, 3, padding=1, padding_mode="circular"), (2, 2, 7), True),
    "Conv2d same, dilated, replicate": (
        lambda m: _nn(m).Conv2d(2, 3, 3, padding="same", dilation=2, padding_mode="replicate"),
        (2, 2, 7, 7), True),
    "BatchNorm2d eps and momentum, evaluated first": (
        lambda m: _nn(m).BatchNorm2d(3, eps=1e-2, momentum=0.3), (4, 3, 2, 2), False),
    "BatchNorm1d eps and momentum over steps": (
        lambda m: _nn(m).BatchNorm1d(3, eps=1e-2, momentum=0.3), (4, 3), True),
    "BatchNorm1d one sample in eval": (lambda m: _nn(m).BatchNorm1d(3), (1, 3), False),
    "LayerNorm eps without affine": (
        lambda m: _nn(m).LayerNorm(4, eps=0.5, elementwise_affine=False), (3, 4), True),
    "GroupNorm eps without affine": (
        lambda m: _nn(m).GroupNorm(2, 4, eps=0.5, affine=False), (3, 4, 5), True),
    "InstanceNorm2d in eval without running stats": (
        lambda m: _nn(m).InstanceNorm2d(3), (2, 3, 4, 4), False),
    "InstanceNorm2d tracking with momentum": (
        lambda m: _nn(m).InstanceNorm2d(3, track_running_stats=True, momentum=0.5),
        (2, 3, 4, 4), True),
    "MaxPool2d ceil_mode with dilation and padding": (
        lambda m: _nn(m).MaxPool2d(3, stride=2, padding=1, dilation=2, ceil_mode=True),
        (2, 2, 9, 9), True),
    "AvgPool2d ceil_mode without the pad in the count": (
        lambda m: _nn(m).AvgPool2d(3, stride=2, padding=1, ceil_mode=True,
                                   count_include_pad=False), (2, 2, 6, 6), True),
    "Upsample nearest-exact and bicubic": (lambda m: _nn(m).Sequential(
        _nn(m).Upsample(scale_factor=1.5, mode="nearest-exact"),
        _nn(m).Upsample(scale_factor=2, mode="bicubic")), (2, 2, 4, 4), True),
    "Softplus beta and threshold, Threshold, CELU": (lambda m: _nn(m).Sequential(
        _nn(m).Softplus(beta=2, threshold=3), _nn(m).Threshold(0.5, -2.0), _nn(m).CELU(0.5)),
        (2, 9), True),
    "GRU two layers batch_first, unbatched LSTM": (
        lambda m: _nn(m).GRU(3, 4, num_layers=2, batch_first=True), (2, 5, 3), True),
    "unbatched bidirectional GRU": (lambda m: _nn(m).GRU(3, 4, bidirectional=True), (5, 3),
                                    True),
    "TransformerEncoderLayer norm_first gelu batch_first": (
        lambda m: _nn(m).TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu",
                                                 norm_first=True, batch_first=True),
        (2, 5, 8), True),
    "Linear on 1-d and 3-d input": (lambda m: _nn(m).Linear(4, 3), (2, 5, 4), True),
}


def _layer_steps(m, name, state):
    make, shape, training = LAYERS[name]
    layer = make(m)
    layer.load_state_dict({k: m.tensor(v) for k, v in state.items()})
    layer.train(training)
    rng, seen = np.random.default_rng(3), []
    for _ in range(2):
        x = m.tensor((rng.standard_normal(shape) * 2 + 1).astype(np.float32),
                     requires_grad=True)
        out = layer(x)
        out = out[0] if isinstance(out, tuple) else out
        (out * m.tensor(rng.standard_normal(tuple(out.shape)).astype(np.float32))).sum().backward()
        seen += [out, x.grad]
    return seen + [v for _, v in sorted(layer.state_dict().items())]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_options_match_torch(name):
    torch.manual_seed(0)
    state = {k: v.numpy().copy() for k, v in LAYERS[name][0](torch).state_dict().items()}
    _assert_same(_layer_steps(tinymm, name, state), _layer_steps(torch, name, state), tol=1e-4)


# ---------------------------------------------------------------- default initialisation
INITS = {
    "Linear": lambda m: _nn(m).Linear(200, 300),
    "Bilinear": lambda m: _nn(m).Bilinear(30, 40, 50),
    "Conv1d": lambda m: _nn(m).Conv1d(16, 32, 5),
    "Conv2d grouped": lambda m: _nn(m).Conv2d(16, 32, 3, groups=4),
    "ConvTranspose2d grouped (fan_in from weight dim 1)": lambda m: _nn(m).ConvTranspose2d(
        16, 64, 3, groups=4),
    "Embedding N(0, 1) with the padding row zero": lambda m: _nn(m).Embedding(
        300, 64, padding_idx=3),
    "LSTM two layers": lambda m: _nn(m).LSTM(64, 128, num_layers=2),
    "GRUCell": lambda m: _nn(m).GRUCell(64, 128),
    "MultiheadAttention with kdim and vdim": lambda m: _nn(m).MultiheadAttention(
        64, 4, kdim=32, vdim=48),
    "TransformerEncoderLayer": lambda m: _nn(m).TransformerEncoderLayer(64, 4, 128),
    "PReLU init and norms' ones and zeros": lambda m: _nn(m).Sequential(
        _nn(m).PReLU(3, init=0.1), _nn(m).BatchNorm2d(5), _nn(m).GroupNorm(2, 4)),
}


@pytest.mark.parametrize("name", sorted(INITS))
def test_default_initialisation_bounds_and_spread_match_torch(name):
    tinymm.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = INITS[name](tinymm).state_dict(), INITS[name](torch).state_dict()
    assert list(ours) == list(theirs)
    for key, b in theirs.items():
        a, b = np.asarray(ours[key].numpy(), np.float64), b.numpy().astype(np.float64)
        assert a.shape == b.shape, key
        if b.size < 2 or b.std() == 0:  # constants: ones, zeros, the PReLU slope, counters
            np.testing.assert_array_equal(a, b, err_msg=key)
            continue
        bound = np.abs(b).max() * (1.02 if b.size >= 1000 else 1.15)  # a sample's maximum
        assert np.abs(a).max() <= bound or "Embedding" in name, key
        assert abs(a.std() - b.std()) < (0.1 + 3 / np.sqrt(b.size)) * b.std(), key
        assert abs(a.mean() - b.mean()) < 6 * b.std() / np.sqrt(b.size), key
        assert np.count_nonzero(a == 0) == np.count_nonzero(b == 0), key  # the padding row

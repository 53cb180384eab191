"""Optimizers and schedules: closed-form expectations always, torch.optim parity over 100
steps when torch is importable, state_dict resume bit for bit, gradient clipping."""

import math

import numpy as np
import pytest

import tinymm
from tinymm import nn, optim


def _param(values, dtype=np.float64):
    return nn.Parameter(np.array(values, dtype=dtype))


CPU_BACKENDS = ["reference", "numba"]


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    """Run the test body with each CPU backend selected: SGD and Adam/AdamW step through that
    backend's update kernels, so a bug in either backend's kernel shows here."""
    with tinymm.use_backend(request.param):
        yield request.param


# ---------------------------------------------------------------- closed forms
def test_sgd_plain_closed_form(backend):
    p = _param([1.0, -2.0])
    opt = optim.SGD([p], lr=0.1)
    for _ in range(10):
        p.grad = np.array([0.5, 1.0])
        opt.step()
    np.testing.assert_allclose(p.array, [1.0 - 10 * 0.05, -2.0 - 10 * 0.1])


def test_sgd_momentum_closed_form(backend):
    # constant gradient g: b_t = g (1 + m + ... + m^(t-1)); p_t = p_0 - lr sum_k b_k
    p = _param([0.0])
    m, lr, g = 0.9, 0.1, 2.0
    opt = optim.SGD([p], lr=lr, momentum=m)
    for _ in range(5):
        p.grad = np.array([g])
        opt.step()
    buffers = [g * (1 - m ** t) / (1 - m) for t in range(1, 6)]
    np.testing.assert_allclose(p.array, [-lr * sum(buffers)], rtol=1e-12)


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_sgd_dampening_closed_form(backend):
    # b_1 = g_1 (no dampening on the first step, as torch); b_t = m b_(t-1) + (1 - d) g_t
    p = _param([0.0])
    m, d, lr = 0.9, 0.5, 0.1
    grads = [2.0, -1.0, 3.0]
    with tinymm.use_backend(backend):
        opt = optim.SGD([p], lr=lr, momentum=m, dampening=d)
        for g in grads:
            p.grad = np.array([g])
            opt.step()
    b1 = grads[0]
    b2 = m * b1 + (1 - d) * grads[1]
    b3 = m * b2 + (1 - d) * grads[2]
    np.testing.assert_allclose(p.array, [-lr * (b1 + b2 + b3)], rtol=1e-12)


def test_sgd_nesterov_and_weight_decay_one_step(backend):
    p = _param([1.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.5)
    p.grad = np.array([1.0])
    opt.step()
    g = 1.0 + 0.5 * 1.0  # weight decay adds wd * p
    np.testing.assert_allclose(p.array, [1.0 - 0.1 * (g + 0.9 * g)])  # nesterov: g + m b


def test_adam_first_steps_closed_form(backend):
    # with a constant gradient g, Adam's bias-corrected step is lr * g / (|g| + eps')
    p = _param([0.0, 0.0])
    opt = optim.Adam([p], lr=0.01)
    for t in range(1, 4):
        p.grad = np.array([3.0, -0.5])
        opt.step()
        m_hat, v_hat = np.array([3.0, -0.5]), np.array([9.0, 0.25])
        step = 0.01 * m_hat / (np.sqrt(v_hat) + 1e-8 * 1.0)
        np.testing.assert_allclose(p.array, -t * step, rtol=1e-6)


def test_adamw_decouples_weight_decay(backend):
    p, q = _param([2.0]), _param([2.0])
    opt_w = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    opt_a = optim.Adam([q], lr=0.1)
    p.grad = np.array([1.0])
    q.grad = np.array([1.0])
    opt_w.step()
    opt_a.step()
    adam_step = 2.0 - q.array  # the gradient-only Adam update (about lr = 0.1)
    np.testing.assert_allclose(p.array, 2.0 * (1 - 0.1 * 0.5) - adam_step)  # p(1 - lr wd) - step


# Textbook updates in plain Python floats, one element at a time (the formulas of the papers
# and of the torch.optim documentation), for a few steps with changing gradients: every
# hyper-parameter changes the expected value, so dropping or misplacing one fails.
GRADS = [[0.5, -2.0], [-1.5, 0.25], [2.0, 1.0], [0.1, -0.3]]
P0 = [1.0, -0.5]


def _sgd(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    b = None
    for g in grads:
        g = g + weight_decay * p
        if momentum:
            b = g if b is None else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p = p - lr * g
    return p


def _adam(p, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
          decoupled=False):
    (b1, b2), m, v, v_max = betas, 0.0, 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        v_max = max(v_max, v)
        v_hat = (v_max if amsgrad else v) / (1 - b2 ** t)
        p = p - lr * (m / (1 - b1 ** t)) / (math.sqrt(v_hat) + eps)
    return p


def _rmsprop(p, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
             centered=False):
    v = gbar = b = 0.0
    for g in grads:
        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        gbar = alpha * gbar + (1 - alpha) * g
        avg = math.sqrt(v - gbar * gbar if centered else v) + eps
        b = momentum * b + g / avg
        p = p - lr * (b if momentum else g / avg)
    return p


def _adagrad(p, grads, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
             eps=1e-10):
    s = initial_accumulator_value
    for t, g in enumerate(grads, start=1):
        g = g + weight_decay * p
        s = s + g * g
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (math.sqrt(s) + eps)
    return p


def _adadelta(p, grads, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    v = u = 0.0
    for g in grads:
        g = g + weight_decay * p
        v = rho * v + (1 - rho) * g * g
        delta = math.sqrt(u + eps) / math.sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta
        p = p - lr * delta
    return p


def _nadam(p, grads, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
           momentum_decay=4e-3, decoupled_weight_decay=False):
    (b1, b2), m, v, prod = betas, 0.0, 0.0, 1.0
    for t, g in enumerate(grads, start=1):
        if decoupled_weight_decay:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        mu = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        prod *= mu
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        denom = math.sqrt(v / (1 - b2 ** t)) + eps
        p = p - lr * (1 - mu) / (1 - prod) * g / denom
        p = p - lr * mu_next / (1 - prod * mu_next) * m / denom
    return p


CLOSED_FORMS = [
    ("SGD", _sgd, {"lr": 0.1}),
    ("SGD", _sgd, {"lr": 0.1, "weight_decay": 0.3}),
    ("SGD", _sgd, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.2}),
    ("SGD", _sgd, {"lr": 0.1, "momentum": 0.8, "dampening": 0.4, "weight_decay": 0.1}),
    ("SGD", _sgd, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.2}),
    ("Adam", _adam, {"lr": 0.1}),
    ("Adam", _adam, {"lr": 0.1, "betas": (0.5, 0.9), "eps": 1e-3, "weight_decay": 0.3}),
    ("Adam", _adam, {"lr": 0.1, "betas": (0.5, 0.9), "amsgrad": True}),
    ("AdamW", _adam, {"lr": 0.1, "weight_decay": 0.5}),
    ("AdamW", _adam, {"lr": 0.05, "betas": (0.6, 0.8), "weight_decay": 0.9, "amsgrad": True}),
    ("RMSprop", _rmsprop, {"lr": 0.05, "alpha": 0.7, "weight_decay": 0.2}),
    ("RMSprop", _rmsprop, {"lr": 0.05, "alpha": 0.7, "eps": 1e-3, "momentum": 0.8,
                           "centered": True}),
    ("Adagrad", _adagrad, {"lr": 0.2, "lr_decay": 0.5, "initial_accumulator_value": 0.3,
                           "weight_decay": 0.2, "eps": 1e-3}),
    ("Adadelta", _adadelta, {"lr": 0.7, "rho": 0.6, "eps": 1e-3, "weight_decay": 0.2}),
    ("NAdam", _nadam, {"lr": 0.05, "betas": (0.7, 0.8), "weight_decay": 0.2,
                       "momentum_decay": 0.5}),
    ("NAdam", _nadam, {"lr": 0.05, "weight_decay": 0.4, "decoupled_weight_decay": True}),
]


@pytest.mark.parametrize("name,expected,kwargs", CLOSED_FORMS,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CLOSED_FORMS)])
def test_optimizer_matches_textbook_update(backend, name, expected, kwargs):
    p = _param(P0)
    opt = getattr(optim, name)([p], **kwargs)
    for g in GRADS:
        p.grad = np.array(g)
        opt.step()
    hp = dict(kwargs)
    if name == "AdamW":
        hp["decoupled"] = True
    want = [expected(p0, [g[i] for g in GRADS], **hp) for i, p0 in enumerate(P0)]
    # NAdam keeps its running product of mu in float32, as torch's state tensor does
    rtol = 1e-6 if name == "NAdam" else 1e-12
    np.testing.assert_allclose(p.array, want, rtol=rtol)


def test_step_lr_and_cosine_closed_form():
    p = _param([0.0])
    opt = optim.SGD([p], lr=1.0)
    sched = optim.StepLR(opt, step_size=3, gamma=0.5)
    lrs = []
    for _ in range(9):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    assert lrs == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]
    opt2 = optim.SGD([p], lr=0.1)
    cos = optim.CosineAnnealingLR(opt2, T_max=10, eta_min=0.01)
    for t in range(1, 11):
        cos.step()
        expected = 0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * t / 10)) / 2
        assert opt2.param_groups[0]["lr"] == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_clip_grad_norm_closed_form():
    a, b = _param([0.0, 0.0]), _param([0.0])
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])
    total = optim.clip_grad_norm_([a, b], max_norm=1.0)
    assert isinstance(total, tinymm.Tensor) and total.ndim == 0  # as torch: a 0-d tensor
    assert float(total) == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([a.grad, b.grad]), np.array([3, 0, 4]) / 5,
                               rtol=1e-5)
    a.grad = np.array([0.1, 0.0])
    b.grad = np.array([0.0])
    optim.clip_grad_norm_([a, b], max_norm=1.0)
    np.testing.assert_allclose(a.grad, [0.1, 0.0])  # under the limit: unchanged
    a.grad = np.array([np.nan, 0.0])
    with pytest.raises(RuntimeError, match="NaN or Inf"):
        optim.clip_grad_norm_([a], 1.0, error_if_nonfinite=True)


def test_bad_hyperparameters():
    p = _param([0.0])
    with pytest.raises(ValueError, match="nesterov momentum requires momentum > 0"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="invalid hyper-parameters"):
        optim.Adam([p], betas=(1.0, 0.999))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="T_max must be a positive"):
        optim.CosineAnnealingLR(optim.SGD([p], lr=0.1), T_max=0)


# ---------------------------------------------------------------- torch parity
CASES = [
    ("SGD", {"lr": 0.1}, None),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}, None),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}, None),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.1}, None),
    ("Adam", {"lr": 0.01}, None),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}, None),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.05}, None),
    ("SGD", {"lr": 0.1, "momentum": 0.9}, ("StepLR", {"step_size": 7, "gamma": 0.5})),
    ("Adam", {"lr": 0.01}, ("CosineAnnealingLR", {"T_max": 30, "eta_min": 0.001})),
    ("RMSprop", {}, None),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1}, None),
    ("Adagrad", {}, None),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.5,
                 "weight_decay": 0.1}, None),
    ("Adadelta", {}, None),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.1}, None),
    ("NAdam", {}, None),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1}, None),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}, None),
    ("SGD", {"lr": 0.1}, ("ExponentialLR", {"gamma": 0.97})),
    ("SGD", {"lr": 0.1}, ("MultiStepLR", {"milestones": [10, 30, 30, 60], "gamma": 0.5})),
    ("RMSprop", {"lr": 0.01}, ("LambdaLR", {"lr_lambda": lambda e: 1 / (1 + e)})),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,kwargs,schedule", CASES)
def test_matches_torch_over_100_steps(name, kwargs, schedule, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    start = [rng.standard_normal((5, 3)).astype(dtype), rng.standard_normal(4).astype(dtype)]
    grads = [[rng.standard_normal(w.shape).astype(dtype) for w in start] for _ in range(100)]
    theirs = [torch.nn.Parameter(torch.tensor(w)) for w in start]
    ours = [nn.Parameter(w.copy()) for w in start]
    t_opt = getattr(torch.optim, name)(theirs, **kwargs)
    m_opt = getattr(optim, name)(ours, **kwargs)
    t_sched = m_sched = None
    if schedule:
        t_sched = getattr(torch.optim.lr_scheduler, schedule[0])(t_opt, **schedule[1])
        m_sched = getattr(optim.lr_scheduler, schedule[0])(m_opt, **schedule[1])
    # PyTorch fuses a + w*b into one FMA (and its float32 sqrt rounds differently): the
    # sequences agree to a few units in the last place, not bit for bit (see optim.Adam)
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    for g in grads:
        for p, gi in zip(theirs, g):
            p.grad = torch.tensor(gi)
        for p, gi in zip(ours, g):
            p.grad = gi.copy()
        t_opt.step()
        m_opt.step()
        if schedule:
            t_sched.step()
            m_sched.step()
            assert m_sched.get_last_lr() == t_sched.get_last_lr()  # same floats exactly
        for a, b in zip(theirs, ours):
            np.testing.assert_allclose(b.array, a.detach().numpy(), rtol=rtol, atol=rtol)


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    for norm_type in (2.0, 1.0, math.inf):
        ours = [nn.Parameter(np.zeros_like(g)) for g in grads]
        theirs = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
        for p, t, g in zip(ours, theirs, grads):
            p.grad, t.grad = g.copy(), torch.tensor(g)
        total = optim.clip_grad_norm_(ours, 0.5, norm_type)
        t_total = torch.nn.utils.clip_grad_norm_(theirs, 0.5, norm_type)
        assert float(total) == pytest.approx(float(t_total), rel=1e-12)
        for p, t in zip(ours, theirs):
            np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)


# ---------------------------------------------------------------- resume
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta",
                                  "NAdam"])
def test_state_dict_resume_bit_for_bit(name):
    rng = np.random.default_rng(5)
    grads = [rng.standard_normal((3, 2)).astype(np.float32) for _ in range(20)]
    kwargs = {"lr": 0.05, "momentum": 0.9} if name in ("SGD", "RMSprop") else {"lr": 0.01}

    def run(steps, p, opt):
        for g in steps:
            p.grad = g.copy()
            opt.step()

    p = nn.Parameter(np.ones((3, 2), dtype=np.float32))
    opt = getattr(optim, name)([p], **kwargs)
    run(grads[:10], p, opt)
    saved_params, saved_state = p.array.copy(), opt.state_dict()
    run(grads[10:], p, opt)

    q = nn.Parameter(saved_params)
    opt2 = getattr(optim, name)([q], lr=123.0)  # hyper-parameters come from the state
    opt2.load_state_dict(saved_state)
    run(grads[10:], q, opt2)
    np.testing.assert_array_equal(q.array, p.array)


def test_load_state_dict_mismatch():
    a = optim.Adam([_param([1.0, 2.0])])
    b = optim.Adam([_param([1.0, 2.0]), _param([3.0])])
    with pytest.raises(ValueError, match=r"parameter groups of sizes \[1\].*\[2\]"):
        b.load_state_dict(a.state_dict())


def test_scheduler_state_dict_resume():
    p = _param([0.0])
    opt = optim.SGD([p], lr=0.1)
    sched = optim.CosineAnnealingLR(opt, T_max=20)
    for _ in range(5):
        sched.step()
    state, opt_state = sched.state_dict(), opt.state_dict()
    expected = []
    for _ in range(5):
        sched.step()
        expected.append(opt.param_groups[0]["lr"])
    opt2 = optim.SGD([_param([0.0])], lr=0.1)
    opt2.load_state_dict(opt_state)
    sched2 = optim.CosineAnnealingLR(opt2, T_max=20, last_epoch=4)
    sched2.load_state_dict(state)
    got = []
    for _ in range(5):
        sched2.step()
        got.append(opt2.param_groups[0]["lr"])
    assert got == expected


def test_optimizer_trains_a_linear_model():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)
    model = nn.Linear(3, 1)
    opt = optim.Adam(model.parameters(), lr=0.05)
    for _ in range(200):
        loss = ((model(tinymm.tensor(x)) - tinymm.tensor(y)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 1e-3


def test_reduce_lr_on_plateau_matches_torch():
    torch = pytest.importorskip("torch")
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.89, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.5, 0.6, 0.6]
    for kwargs in ({"patience": 2}, {"patience": 1, "cooldown": 2, "factor": 0.5},
                   {"mode": "max", "patience": 1, "threshold_mode": "abs", "threshold": 0.01,
                    "min_lr": 0.02}):
        t_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        m_opt = optim.SGD([_param([0.0])], lr=0.1)
        t_s = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, **kwargs)
        m_s = optim.lr_scheduler.ReduceLROnPlateau(m_opt, **kwargs)
        for value in metrics:
            t_s.step(value)
            m_s.step(value)
            assert m_s.get_last_lr() == t_s.get_last_lr(), kwargs


def test_lr_scheduler_is_an_importable_module():
    from tinymm.optim.lr_scheduler import LambdaLR, StepLR

    assert StepLR is optim.StepLR and LambdaLR is optim.LambdaLR
    opt = optim.SGD([_param([0.0])], lr=1.0)
    sched = LambdaLR(opt, lr_lambda=lambda epoch: 0.5 ** epoch)
    for expected in (0.5, 0.25, 0.125):
        sched.step()
        assert opt.param_groups[0]["lr"] == expected

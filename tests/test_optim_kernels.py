"""The optimizer-update kernels of the reference and numba backends, and the optimizers that
call them: sgd_step and adam_step against NumPy formulas, bit for bit; rmsprop_step,
adagrad_step, adadelta_step and nadam_step, numba against the reference, bit for bit.

The expectation is computed here in NumPy, line by line in the order tinymm.optim evaluated
its updates before the optimizers called these kernels (``_numpy_sgd``, ``_numpy_adam``, each
Python-float hyper-parameter rounded to the array dtype as NumPy does); tests/test_optim.py
checks the optimizers against closed forms and torch.optim.
"""

import numpy as np
import pytest

import tinymm
from tinymm import nn, optim

SGD_CONFIGS = [
    {"lr": 0.1},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
]
ADAM_CONFIGS = [
    (optim.Adam, {"lr": 1e-2}),
    (optim.Adam, {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True}),
    (optim.AdamW, {"lr": 3e-3, "betas": (0.8, 0.99), "eps": 1e-6}),
    (optim.AdamW, {"lr": 1e-2, "weight_decay": 0.05, "amsgrad": True}),
]
BACKENDS = ["reference", "numba"]
# 77 elements: more than one SIMD block of float32 and float64 plus a remainder, so both the
# vectorised body of the numba update loops and their scalar tail are held to the reference
SHAPE = (7, 11)


def _numpy_sgd(p, g, state, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
               nesterov=False):
    if weight_decay:
        g = np.multiply(p, weight_decay) + g
    if momentum:
        if "buf" not in state:
            state["buf"] = np.array(g, copy=True)
        else:
            state["buf"] *= momentum
            state["buf"] += np.multiply(g, 1 - dampening)
        g = g + np.multiply(state["buf"], momentum) if nesterov else state["buf"]
    p -= np.multiply(g, lr)


def _numpy_adam(p, g, state, t, lr, b1, b2, eps, wd, amsgrad, decoupled):
    if wd:
        if decoupled:
            p *= p.dtype.type(1 - lr * wd)
        else:
            g = g + wd * p
    m, v = state.setdefault("m", np.zeros_like(p)), state.setdefault("v", np.zeros_like(p))
    work = np.subtract(g, m)
    work *= 1 - b1
    m += work
    v *= b2
    work = np.multiply(g, 1 - b2)
    work *= g
    v += work
    if amsgrad:
        vmax = state.setdefault("vmax", np.zeros_like(p))
        np.maximum(vmax, v, out=vmax)
        v = vmax
    denom = np.sqrt(v)
    denom /= (1 - b2**t) ** 0.5
    denom += eps
    work = np.multiply(m, -(lr / (1 - b1**t)))
    work /= denom
    p += work


def _grads(dtype, steps=4, shape=None):
    shape = SHAPE if shape is None else shape
    rng = np.random.default_rng(0)
    return [rng.standard_normal(shape).astype(dtype) for _ in range(steps)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cfg", SGD_CONFIGS, ids=lambda c: "-".join(map(str, c.values())))
def test_sgd_step_and_optim_sgd_match_numpy(cfg, dtype, backend):
    kernels = tinymm.get_backend(backend)
    start = np.random.default_rng(1).standard_normal(SHAPE).astype(dtype)
    expected, state = start.copy(), {}
    param, buf = start.copy(), np.zeros_like(start)
    with tinymm.use_backend(backend):
        p = nn.Parameter(start.copy())
        opt = optim.SGD([p], **cfg)
        for step, g in enumerate(_grads(dtype)):
            _numpy_sgd(expected, g, state, **cfg)
            kernels.sgd_step(param, g, buf, first_step=step == 0, **cfg)
            p.grad = g.copy()
            opt.step()
            np.testing.assert_array_equal(param, expected)
            np.testing.assert_array_equal(p.array, expected)
    assert param.dtype == dtype and p.array.dtype == dtype


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cls,cfg", ADAM_CONFIGS,
                         ids=lambda c: c.__name__ if isinstance(c, type) else
                         "-".join(map(str, c.values())))
def test_adam_step_and_optim_adam_match_numpy(cls, cfg, dtype, backend):
    kernels = tinymm.get_backend(backend)
    start = np.random.default_rng(2).standard_normal(SHAPE).astype(dtype)
    with tinymm.use_backend(backend):
        p = nn.Parameter(start.copy())
        opt = cls([p], **cfg)
        group = opt.param_groups[0]
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        amsgrad, decoupled = group["amsgrad"], cls is optim.AdamW
        expected, state = start.copy(), {}
        param = start.copy()
        m, v, vmax = (np.zeros_like(start) for _ in range(3))
        for step, g in enumerate(_grads(dtype), start=1):
            _numpy_adam(expected, g, state, float(step), lr, b1, b2, eps, wd, amsgrad, decoupled)
            kernels.adam_step(param, g, m, v, vmax if amsgrad else None, step, lr, b1, b2, eps,
                              weight_decay=wd, decoupled=decoupled)
            p.grad = g.copy()
            opt.step()
            np.testing.assert_array_equal(param, expected)
            np.testing.assert_array_equal(m, state["m"])
            np.testing.assert_array_equal(p.array, expected)


OTHER_CONFIGS = [
    (optim.RMSprop, {"lr": 0.01}),
    (optim.RMSprop, {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1}),
    (optim.Adagrad, {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.5,
                     "weight_decay": 0.1}),
    (optim.Adadelta, {"lr": 0.5, "rho": 0.8, "weight_decay": 0.1}),
    (optim.NAdam, {"lr": 0.01, "weight_decay": 0.1}),
    (optim.NAdam, {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cls,cfg", OTHER_CONFIGS,
                         ids=lambda c: c.__name__ if isinstance(c, type) else
                         "-".join(map(str, c.values())))
def test_numba_update_kernels_match_the_reference_bit_for_bit(cls, cfg, dtype):
    start = np.random.default_rng(3).standard_normal(SHAPE).astype(dtype)
    runs = {}
    for backend in ("reference", "numba"):
        with tinymm.use_backend(backend):
            p = nn.Parameter(start.copy())
            opt = cls([p], **cfg)
            trace = []
            for g in _grads(dtype):
                p.grad = g.copy()
                opt.step()
                trace.append(p.array.copy())
            runs[backend] = (trace, opt.state[id(p)])
    (ref_trace, ref_state), (got_trace, got_state) = runs["reference"], runs["numba"]
    moved = [np.abs(b - a).max() for a, b in zip(ref_trace, ref_trace[1:])]
    assert min(moved) > 0  # every step changed the parameter
    for want, got in zip(ref_trace, got_trace):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want)
    for key, value in ref_state.items():
        np.testing.assert_array_equal(got_state[key], value, err_msg=key)


def test_numba_update_kernels_take_strided_arrays_through_the_reference():
    rng = np.random.default_rng(4)
    want, got = (rng.standard_normal((4, 6))[:, ::2] for _ in range(2))
    got[...] = want
    g = np.ones((4, 3))
    s_want, s_got = np.zeros((4, 3)), np.zeros((4, 3))
    tinymm.get_backend("reference").adagrad_step(want, g, s_want, 1, 0.1)
    tinymm.get_backend("numba").adagrad_step(got, g, s_got, 1, 0.1)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(s_got, s_want)

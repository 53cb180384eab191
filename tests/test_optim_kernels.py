"""The optimizer-update kernels (sgd_step, adam_step) against tinymm.optim, bit for bit.

tinymm.optim is the independent expectation here: its NumPy formulas run through
torch.optim parity in tests/test_optim.py. The reference kernels are what the cuda backend
is checked against (tests/cuda_simulator_check.py), so they must reproduce the optimizers
exactly, in float32 and float64, with every option.
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


def _grads(dtype, steps=4, shape=(3, 5)):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(shape).astype(dtype) for _ in range(steps)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cfg", SGD_CONFIGS, ids=lambda c: "-".join(map(str, c.values())))
def test_sgd_step_matches_optim_sgd(cfg, dtype):
    ref = tinymm.get_backend("reference")
    start = np.random.default_rng(1).standard_normal((3, 5)).astype(dtype)
    p = nn.Parameter(start.copy())
    opt = optim.SGD([p], **cfg)
    param, buf = start.copy(), np.zeros_like(start)
    for step, g in enumerate(_grads(dtype)):
        p.grad = g.copy()
        opt.step()
        ref.sgd_step(param, g, buf, first_step=step == 0, **cfg)
        np.testing.assert_array_equal(param, p.array)
    assert param.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cls,cfg", ADAM_CONFIGS,
                         ids=lambda c: c.__name__ if isinstance(c, type) else
                         "-".join(map(str, c.values())))
def test_adam_step_matches_optim_adam(cls, cfg, dtype):
    ref = tinymm.get_backend("reference")
    start = np.random.default_rng(2).standard_normal((3, 5)).astype(dtype)
    p = nn.Parameter(start.copy())
    opt = cls([p], **cfg)
    group = opt.param_groups[0]
    b1, b2 = group["betas"]
    param = start.copy()
    m, v, vmax = (np.zeros_like(start) for _ in range(3))
    for step, g in enumerate(_grads(dtype), start=1):
        p.grad = g.copy()
        opt.step()
        ref.adam_step(param, g, m, v, vmax if group["amsgrad"] else None, step, group["lr"], b1,
                      b2, group["eps"], weight_decay=group["weight_decay"],
                      decoupled=cls is optim.AdamW)
        np.testing.assert_array_equal(param, p.array)
        np.testing.assert_array_equal(m, opt.state[id(p)]["exp_avg"])


def test_numba_backend_serves_the_update_kernels():
    numba = tinymm.get_backend("numba")
    ref = tinymm.get_backend("reference")
    assert numba.sgd_step is ref.sgd_step and "adam_step" in numba.fallbacks

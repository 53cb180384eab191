"""lr schedules against PyTorch's sequences, the RAdam and Adamax updates against PyTorch's,
nn.init.trunc_normal_ / eye_, and the data additions (WeightedRandomSampler, IterableDataset).
"""

from __future__ import annotations

import numpy as np
import pytest

import tinymm


def _sched(lib, name):
    s = lib.optim.lr_scheduler
    return {
        "linear": lambda o: s.LinearLR(o, start_factor=0.25, total_iters=4),
        "constant": lambda o: s.ConstantLR(o, factor=0.5, total_iters=3),
        "polynomial": lambda o: s.PolynomialLR(o, total_iters=6, power=2.0),
        "warm_restarts": lambda o: s.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2,
                                                                 eta_min=0.01),
        "onecycle": lambda o: s.OneCycleLR(o, max_lr=0.5, total_steps=12),
        "onecycle_3phase_linear": lambda o: s.OneCycleLR(o, max_lr=[0.5], epochs=3,
                                                         steps_per_epoch=4, three_phase=True,
                                                         anneal_strategy="linear"),
        "sequential": lambda o: s.SequentialLR(o, [s.LinearLR(o, 0.1, total_iters=3),
                                                   s.ExponentialLR(o, 0.8),
                                                   s.StepLR(o, 2, 0.5)], milestones=[3, 7]),
        "sequential_cosine": lambda o: s.SequentialLR(
            o, [s.ConstantLR(o, 0.5, total_iters=2), s.CosineAnnealingLR(o, T_max=5)],
            milestones=[2]),
        "chained": lambda o: s.ChainedScheduler([s.ConstantLR(o, 0.5, total_iters=4),
                                                 s.ExponentialLR(o, 0.9)]),
    }[name]


SCHEDULES = ["linear", "constant", "polynomial", "warm_restarts", "onecycle",
             "onecycle_3phase_linear", "sequential", "sequential_cosine", "chained"]


def _run(lib, name, optimizer_name, steps=12):
    p = lib.nn.Parameter(lib.zeros(2))
    kwargs = dict(lr=0.1, momentum=0.9) if optimizer_name == "SGD" else dict(lr=0.1)
    opt = getattr(lib.optim, optimizer_name)([p], **kwargs)
    scheduler = _sched(lib, name)(opt)
    seen = []
    for _ in range(steps):
        group = opt.param_groups[0]
        seen.append((group["lr"], group.get("momentum", group.get("betas", (None,))[0])))
        opt.step()
        scheduler.step()
    return seen, scheduler.get_last_lr()


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedules_match_torch(name):
    torch = pytest.importorskip("torch")
    for optimizer_name in ("SGD", "Adam") if name.startswith("onecycle") else ("SGD",):
        ours, last = _run(tinymm, name, optimizer_name)
        theirs, last_t = _run(torch, name, optimizer_name)
        np.testing.assert_allclose(np.array(ours, float), np.array(theirs, float), rtol=1e-12)
        np.testing.assert_allclose(last, last_t, rtol=1e-12)


def test_warm_restarts_fractional_epochs_and_schedule_errors():
    torch = pytest.importorskip("torch")
    runs = []
    for lib in (tinymm, torch):
        opt = lib.optim.SGD([lib.nn.Parameter(lib.zeros(1))], lr=0.1)
        s = lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
        lrs = []
        for epoch in np.arange(0, 7, 0.5):
            s.step(float(epoch))
            lrs.append(opt.param_groups[0]["lr"])
        runs.append(lrs)
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-12)
    opt = tinymm.optim.SGD([tinymm.nn.Parameter(tinymm.zeros(1))], lr=0.1)
    s = tinymm.optim.lr_scheduler
    with pytest.raises(ValueError, match="LinearLR: start_factor must be in"):
        s.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="SequentialLR: expects one milestone fewer"):
        s.SequentialLR(opt, [s.ConstantLR(opt)], milestones=[2])
    with pytest.raises(ValueError, match="OneCycleLR: give total_steps"):
        s.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="must support momentum or beta1"):
        s.OneCycleLR(tinymm.optim.Adagrad([tinymm.nn.Parameter(tinymm.zeros(1))]), 1.0,
                     total_steps=3)
    one = s.OneCycleLR(opt, max_lr=1.0, total_steps=2)
    one.step()
    one.step()
    with pytest.raises(ValueError, match="tried to step 3 times"):
        one.step()

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


@pytest.mark.parametrize("name,kw", [("RAdam", dict(lr=0.1)),
                                     ("RAdam", dict(lr=0.05, weight_decay=0.1,
                                                    decoupled_weight_decay=True)),
                                     ("Adamax", dict(lr=0.1, weight_decay=0.01))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_radam_and_adamax_follow_torch(name, kw, dtype):
    torch = pytest.importorskip("torch")
    start = np.random.default_rng(0).standard_normal(5).astype(dtype)
    p, pt = tinymm.nn.Parameter(start.copy()), torch.nn.Parameter(torch.tensor(start))
    opt, opt_t = getattr(tinymm.optim, name)([p], **kw), getattr(torch.optim, name)([pt], **kw)
    for step in range(8):  # RAdam's rectified branch starts at step 6
        grad = np.cos(start * (step + 1)).astype(dtype)
        p.grad, pt.grad = tinymm.tensor(grad), torch.tensor(grad)
        opt.step()
        opt_t.step()
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(p.detach().numpy(), pt.detach().numpy(), rtol=rtol)
    with pytest.raises(ValueError, match=f"{name}: invalid hyper-parameters"):
        getattr(tinymm.optim, name)([p], lr=-1.0)


def test_trunc_normal_and_eye_init():
    torch = pytest.importorskip("torch")
    w = tinymm.empty(200, 50)
    tinymm.manual_seed(0)
    tinymm.nn.init.trunc_normal_(w, mean=0.5, std=1.0, a=-1.0, b=1.5)
    values = w.numpy()
    assert values.min() >= -1.0 and values.max() <= 1.5
    reference = torch.nn.init.trunc_normal_(torch.empty(200, 50), 0.5, 1.0, -1.0, 1.5).numpy()
    assert abs(values.mean() - reference.mean()) < 0.03  # the same truncated distribution
    assert abs(values.std() - reference.std()) < 0.03
    e = tinymm.nn.init.eye_(tinymm.empty(2, 3))
    np.testing.assert_array_equal(e.numpy(), torch.nn.init.eye_(torch.empty(2, 3)).numpy())
    with pytest.raises(ValueError, match="eye_: only tensors with 2 dimensions"):
        tinymm.nn.init.eye_(tinymm.empty(3))


def test_weighted_sampler_and_iterable_dataset():
    from tinymm.utils import data

    tinymm.manual_seed(0)
    sampler = data.WeightedRandomSampler([0.0, 1.0, 3.0], num_samples=4000)
    counts = np.bincount(list(sampler), minlength=3)
    assert counts[0] == 0 and len(sampler) == 4000
    assert abs(counts[2] / counts[1] - 3.0) < 0.4
    unique = list(data.WeightedRandomSampler([1.0, 1.0, 1.0], 3, replacement=False))
    assert sorted(unique) == [0, 1, 2]
    with pytest.raises(RuntimeError, match="without replacement from 2 non-zero"):
        data.WeightedRandomSampler([0.0, 1.0, 1.0], 3, replacement=False)
    with pytest.raises(ValueError, match="num_samples must be a positive integer"):
        data.WeightedRandomSampler([1.0], 0)

    class Squares(data.IterableDataset):
        def __iter__(self):
            return iter(float(i * i) for i in range(5))

    batches = [b.tolist() for b in data.DataLoader(Squares(), batch_size=2)]
    assert batches == [[0.0, 1.0], [4.0, 9.0], [16.0]]
    assert len(list(data.DataLoader(Squares(), batch_size=2, drop_last=True))) == 2
    assert data.get_worker_info() is None
    with pytest.raises(ValueError, match="IterableDataset gives its own order"):
        data.DataLoader(Squares(), shuffle=True)

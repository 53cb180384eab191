"""The VQA trainer's learning-rate schedules: ``tinymm train --lr-schedule SPEC``.

A schedule is built from ``tinymm.optim.lr_scheduler`` (PyTorch's names and floats) and
stepped once per optimizer step by ``ScheduleStep``, a callback of the shared loop
(tinymm/loop.py). SPEC is one of (E the run's epochs, S its steps per epoch; a K over E
counts as E):

    constant     the lr stays ``--lr`` (no scheduler)
    cosine       CosineAnnealingLR(T_max=E*S): from --lr down to 0 over the whole run
    cosine:K     --lr for the first E-K epochs, then CosineAnnealingLR(T_max=K*S) down to 0
                 over the last K epochs (SequentialLR of ConstantLR(factor=1) and the cosine)
    linear:K     --lr, then LinearLR(1 -> 0, total_iters=K*S) over the last K epochs
    step:K       --lr, then 0.1 * --lr for the last K epochs (MultiStepLR, one milestone)

The schedule is that of a run of E epochs: a run resumed with more --epochs continues on the
schedule of the longer run from the step it stopped at (``fast_forward``).
"""

from __future__ import annotations

from tinymm.optim.lr_scheduler import (
    ConstantLR,
    CosineAnnealingLR,
    LinearLR,
    MultiStepLR,
    SequentialLR,
)

SCHEDULE_KINDS = ("constant", "cosine", "linear", "step")
SCHEDULE_HELP = "constant | cosine | cosine:K | linear:K | step:K"


def parse_schedule(spec: str, epochs: int) -> tuple[str, int]:
    """``spec`` -> (kind, K), K the epochs the decay covers (``epochs`` for plain "cosine");
    a ValueError names --lr-schedule, what is valid and what came."""
    if not isinstance(spec, str):
        raise ValueError(f"train: lr-schedule must be a string ({SCHEDULE_HELP}), got {spec!r}")
    kind, sep, tail = spec.partition(":")
    if kind not in SCHEDULE_KINDS or (sep and kind == "constant") or (
            not sep and kind in ("linear", "step")):
        raise ValueError(f"train: unknown lr-schedule {spec!r}; valid: {SCHEDULE_HELP} "
                         "(K: the final epochs the decay covers)")
    if not sep:
        return kind, epochs if kind == "cosine" else 0
    if not tail.isdigit() or int(tail) < 1:
        raise ValueError(f"train: lr-schedule {spec!r}: K must be a whole number of epochs, "
                         f"at least 1, got {tail!r}")
    return kind, min(int(tail), epochs)


def build_scheduler(spec: str, optimizer, epochs: int, steps_per_epoch: int):
    """The scheduler of ``spec`` over ``epochs`` x ``steps_per_epoch`` optimizer steps (None
    for "constant"); it sets the optimizer's lr of the first step now."""
    kind, decay_epochs = parse_schedule(spec, epochs)
    if kind == "constant":
        return None
    decay = decay_epochs * steps_per_epoch  # the steps of the decay
    hold = (epochs - decay_epochs) * steps_per_epoch  # the steps at --lr before it
    if kind == "step":
        return MultiStepLR(optimizer, milestones=[hold], gamma=0.1)
    if hold == 0:
        return _decay(kind, optimizer, decay)
    first = ConstantLR(optimizer, factor=1.0, total_iters=hold)
    return SequentialLR(optimizer, [first, _decay(kind, optimizer, decay)], milestones=[hold])


def _decay(kind: str, optimizer, steps: int):
    if kind == "cosine":
        return CosineAnnealingLR(optimizer, T_max=steps, eta_min=0.0)
    return LinearLR(optimizer, start_factor=1.0, end_factor=0.0, total_iters=steps)


def fast_forward(scheduler, steps: int) -> None:
    """Take ``steps`` scheduler steps (a resumed run's completed ones), so the lr floats are
    those an uninterrupted run reaches there."""
    if scheduler is not None:
        for _ in range(steps):
            scheduler.step()


class ScheduleStep:
    """A tinymm/loop.py callback: one ``scheduler.step()`` after every optimizer step, as a
    PyTorch loop calls it after ``optimizer.step()``."""

    def __init__(self, scheduler):
        self.scheduler = scheduler

    def on_train_batch_end(self, step, logs=None):
        self.scheduler.step()

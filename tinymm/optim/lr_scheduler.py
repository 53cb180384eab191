"""Learning-rate schedules with ``torch.optim.lr_scheduler``'s names, protocol and floats.

Each schedule rewrites ``group["lr"]`` of its optimizer's param groups on ``step()``; the
formulas are PyTorch's recursive (chainable) forms, so the sequence of floats is the one torch
produces. ``step(epoch)`` (deprecated in PyTorch, used by ``SequentialLR`` at a milestone)
jumps to ``epoch`` with the closed form where the schedule has one. ``ReduceLROnPlateau`` is
driven by a metric: ``scheduler.step(val_loss)``. ``SequentialLR`` runs schedules one after
another, ``ChainedScheduler`` steps several at once.
"""

from __future__ import annotations

import math
import warnings
from bisect import bisect_right
from collections import Counter

from tinymm.optim import Optimizer


class _SchedulerState:
    """What every scheduler shares: the lrs it last set, and its state (all but the optimizer)."""

    optimizer: Optimizer

    def _record_lr(self) -> None:
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)


class LRScheduler(_SchedulerState):
    """Base of the schedules, with ``torch.optim.lr_scheduler``'s protocol.

    Construction records each group's ``initial_lr`` and takes the initial step
    (``last_epoch`` becomes 0). Call ``scheduler.step()`` after ``optimizer.step()``, once per
    epoch (or per iteration, if that is what ``step_size`` / ``T_max`` count).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected a tinymm.optim optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        elif any("initial_lr" not in g for g in optimizer.param_groups):
            raise KeyError(f"{type(self).__name__}: last_epoch={last_epoch} resumes a schedule, "
                           "so every param group needs 'initial_lr' (load the optimizer's "
                           "state_dict first)")
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        self.step()
        self._is_initial = False

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def step(self, epoch=None) -> None:
        self._step_count += 1
        if epoch is not None:
            warnings.warn(f"{type(self).__name__}.step(epoch) is deprecated (as in PyTorch); "
                          "call step() once per epoch", UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch=None) -> None:
        """Advance one step, or jump to ``epoch`` (the closed form where there is one)."""
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed = getattr(self, "_closed_form", None)
            values = closed() if closed is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._record_lr()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        self.step()
        self._is_initial = False



class StepLR(LRScheduler):
    """lr = initial_lr * gamma ** (last_epoch // step_size), applied as torch does: the
    current lr is multiplied by gamma whenever last_epoch reaches a multiple of step_size."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        if step_size <= 0:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [g["lr"] for g in self.optimizer.param_groups]
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]

    def _closed_form(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size)
                for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from the initial lr down to ``eta_min`` over ``T_max`` steps::

        lr_t = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2

    computed with PyTorch's recursive form (each lr from the previous one), so the sequence
    of floats is the one ``torch.optim.lr_scheduler.CosineAnnealingLR`` produces.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,  # noqa: N803
                 last_epoch: int = -1):
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive integer, got {T_max}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self._is_initial:
            return [g["lr"] for g in groups]
        if self._step_count == 1 and self.last_epoch > 0:
            return [self.eta_min + (base - self.eta_min)
                    * (1 + math.cos(self.last_epoch * math.pi / self.T_max)) / 2
                    for base in self.base_lrs]
        if (self.last_epoch - 1 - self.T_max) % (2 * self.T_max) == 0:
            return [g["lr"] + (base - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
                    for base, g in zip(self.base_lrs, groups)]
        return [(1 + math.cos(math.pi * self.last_epoch / self.T_max))
                / (1 + math.cos(math.pi * (self.last_epoch - 1) / self.T_max))
                * (g["lr"] - self.eta_min) + self.eta_min for g in groups]

    def _closed_form(self) -> list[float]:
        return [self.eta_min + (base - self.eta_min)
                * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]




class ExponentialLR(LRScheduler):
    """lr_t = lr_{t-1} * gamma (every step after the initial one)."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [g["lr"] for g in self.optimizer.param_groups]
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]

    def _closed_form(self) -> list[float]:
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at every epoch listed in ``milestones`` (a repeated
    milestone multiplies once per repetition, as torch)."""

    def __init__(self, optimizer: Optimizer, milestones, gamma: float = 0.1,
                 last_epoch: int = -1):
        self.milestones = Counter(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch not in self.milestones:
            return [g["lr"] for g in groups]
        return [g["lr"] * self.gamma ** self.milestones[self.last_epoch] for g in groups]

    def _closed_form(self) -> list[float]:
        passed = bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """lr_t = initial_lr * lr_lambda(t); ``lr_lambda`` is one function or one per group."""

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1):
        groups = optimizer.param_groups
        if callable(lr_lambda):
            self.lr_lambdas = [lr_lambda] * len(groups)
        else:
            self.lr_lambdas = list(lr_lambda)
            if len(self.lr_lambdas) != len(groups):
                raise ValueError(f"LambdaLR: expected {len(groups)} lr_lambdas (one per param "
                                 f"group), got {len(self.lr_lambdas)}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict:  # functions are not state (torch drops them too)
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}


def _check_factor(who: str, name: str, value: float, low_open: bool) -> None:
    if value > 1.0 or value < 0 or (low_open and value == 0):
        bound = "(0, 1]" if low_open else "[0, 1]"
        raise ValueError(f"{who}: {name} must be in {bound}, got {value}")


class LinearLR(LRScheduler):
    """The lr goes linearly from base * start_factor to base * end_factor over total_iters
    steps, then stays (PyTorch's chainable form)."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5, last_epoch: int = -1):
        _check_factor("LinearLR", "start_factor", start_factor, low_open=True)
        _check_factor("LinearLR", "end_factor", end_factor, low_open=False)
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [g["lr"] * self.start_factor for g in groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return [g["lr"] for g in groups]
        change = self.end_factor - self.start_factor
        ratio = 1.0 + change / (self.total_iters * self.start_factor
                                + (self.last_epoch - 1) * change)
        return [g["lr"] * ratio for g in groups]

    def _closed_form(self) -> list[float]:
        fraction = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * (self.start_factor + (self.end_factor - self.start_factor) * fraction)
                for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """lr = base * factor for the first total_iters steps, then base."""

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1):
        _check_factor("ConstantLR", "factor", factor, low_open=False)
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [g["lr"] * self.factor for g in groups]
        if self.last_epoch != self.total_iters:
            return [g["lr"] for g in groups]
        return [g["lr"] * (1.0 / self.factor) for g in groups]

    def _closed_form(self) -> list[float]:
        done = self.last_epoch >= self.total_iters
        return [base * (self.factor + done * (1 - self.factor)) for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """lr = base * (1 - t / total_iters) ** power until total_iters, then it stays."""

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0,
                 last_epoch: int = -1):
        self.total_iters, self.power = total_iters, power
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self._is_initial or self.last_epoch > self.total_iters:
            return [g["lr"] for g in groups]
        decay = ((1.0 - self.last_epoch / self.total_iters)
                 / (1.0 - (self.last_epoch - 1) / self.total_iters)) ** self.power
        return [g["lr"] * decay for g in groups]

    def _closed_form(self) -> list[float]:
        left = 1.0 - min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * left ** self.power for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing restarted every T_i steps (T_0, then T_i * T_mult)::

        lr = eta_min + (base - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2

    ``step(epoch)`` takes a fractional epoch (``epoch + i / iters`` per batch), as PyTorch.
    """

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1,  # noqa: N803
                 eta_min: float = 0.0, last_epoch: int = -1):
        if not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: T_0 must be a positive integer, "
                             f"got {T_0!r}")
        if not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"CosineAnnealingWarmRestarts: T_mult must be an integer >= 1, "
                             f"got {T_mult!r}")
        self.T_0, self.T_i, self.T_mult, self.eta_min = T_0, T_0, T_mult, eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [self.eta_min + (base - self.eta_min)
                * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2 for base in self.base_lrs]

    def step(self, epoch=None) -> None:
        self._step_count += 1
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:
                self.T_cur -= self.T_i
                self.T_i *= self.T_mult
        else:
            self._jump_to(epoch)
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._record_lr()

    def _jump_to(self, epoch: float) -> None:
        if epoch < 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: epoch must be non-negative, got "
                             f"{epoch}")
        if epoch < self.T_0:
            self.T_i, self.T_cur = self.T_0, epoch
        elif self.T_mult == 1:
            self.T_cur = epoch % self.T_0
        else:
            n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
            self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
            self.T_i = self.T_0 * self.T_mult ** n


class ReduceLROnPlateau(_SchedulerState):
    """Multiply the lr by ``factor`` once the metric passed to ``step(metric)`` has not
    improved for more than ``patience`` steps (torch's rules for ``mode``, ``threshold``,
    ``threshold_mode``, ``cooldown``, ``min_lr`` and ``eps``)."""

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr=0.0, eps: float = 1e-8):
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1.0, got {factor}")
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max' and "
                             f"threshold_mode 'rel' or 'abs', got {mode!r}, {threshold_mode!r}")
        self.optimizer = optimizer
        groups = optimizer.param_groups
        self.min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * len(
            groups)
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._record_lr()

    def _is_better(self, value: float) -> bool:
        if self.mode == "min":
            bound = (self.best * (1 - self.threshold) if self.threshold_mode == "rel"
                     else self.best - self.threshold)
            return value < bound
        bound = (self.best * (1 + self.threshold) if self.threshold_mode == "rel"
                 else self.best + self.threshold)
        return value > bound

    def step(self, metrics) -> None:
        value = float(metrics)
        self.last_epoch += 1
        if self._is_better(value):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                new_lr = max(group["lr"] * self.factor, min_lr)
                if group["lr"] - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._record_lr()



def _per_group(who: str, name: str, value, groups: list) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != len(groups):
            raise ValueError(f"{who}: expected {len(groups)} values for {name} (one per param "
                             f"group), got {len(value)}")
        return list(value)
    return [value] * len(groups)


def _anneal_cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def _anneal_linear(start: float, end: float, pct: float) -> float:
    return (end - start) * pct + start


class _MomentumCycle:
    """Momentum (or Adam's beta1) cycled against the lr: OneCycleLR's and CyclicLR's."""

    def _start_momentum(self, optimizer, base_momentum, max_momentum, last_epoch) -> None:
        who = type(self).__name__
        defaults = getattr(optimizer, "defaults", {})
        if "momentum" not in defaults and "betas" not in defaults:
            raise ValueError(f"{who}: optimizer must support momentum or beta1 with "
                             "cycle_momentum=True")
        self.use_beta1 = "betas" in defaults
        groups = optimizer.param_groups
        tops = _per_group(who, "max_momentum", max_momentum, groups)
        bases = _per_group(who, "base_momentum", base_momentum, groups)
        if last_epoch == -1:
            for group, top, base in zip(groups, tops, bases):
                self._set_momentum(group, top)
                group["max_momentum"], group["base_momentum"] = top, base

    def _set_momentum(self, group: dict, value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value


class OneCycleLR(_MomentumCycle, LRScheduler):
    """The 1cycle policy (PyTorch's phases, names and group keys): the lr rises from
    max_lr / div_factor to max_lr over pct_start of total_steps, then anneals to
    initial_lr / final_div_factor (three_phase: back to the initial lr first); momentum (or
    Adam's beta1) cycles the opposite way between max_momentum and base_momentum. Step once per
    batch."""

    def __init__(self, optimizer: Optimizer, max_lr, total_steps=None, epochs=None,
                 steps_per_epoch=None, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum=0.85, max_momentum=0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1):
        self.total_steps = self._total(total_steps, epochs, steps_per_epoch)
        if not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: pct_start must be a float in [0, 1], got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got "
                             f"{anneal_strategy!r}")
        self._anneal = _anneal_cos if anneal_strategy == "cos" else _anneal_linear
        self._phases = self._make_phases(pct_start, three_phase)
        groups = optimizer.param_groups
        if last_epoch == -1:
            for group, top in zip(groups, _per_group("OneCycleLR", "max_lr", max_lr, groups)):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self._start_momentum(optimizer, base_momentum, max_momentum, last_epoch)
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _total(total_steps, epochs, steps_per_epoch) -> int:
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"OneCycleLR: total_steps must be a positive integer, got "
                                 f"{total_steps!r}")
            return total_steps
        if epochs is None or steps_per_epoch is None or epochs <= 0 or steps_per_epoch <= 0:
            raise ValueError("OneCycleLR: give total_steps, or positive epochs and "
                             f"steps_per_epoch (got epochs={epochs!r}, "
                             f"steps_per_epoch={steps_per_epoch!r})")
        return epochs * steps_per_epoch

    def _make_phases(self, pct_start: float, three_phase: bool) -> list[tuple]:
        """(end_step, start_lr key, end_lr key, start_momentum key, end_momentum key)."""
        up = float(pct_start * self.total_steps) - 1
        last = self.total_steps - 1
        if three_phase:
            return [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                    (float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr",
                     "base_momentum", "max_momentum"),
                    (last, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        return [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (last, "max_lr", "min_lr", "base_momentum", "max_momentum")]

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step} times; the specified number of "
                             f"total steps is {self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr0, lr1, m0, m1) in enumerate(self._phases):
                if step <= end or i == len(self._phases) - 1:
                    pct = (step - start) / (end - start)
                    lrs.append(self._anneal(group[lr0], group[lr1], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[m0], group[m1], pct))
                    break
                start = end
        return lrs

    def state_dict(self) -> dict:  # the annealing function is code, not state
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_anneal")}


class CyclicLR(_MomentumCycle, LRScheduler):
    """The cyclical learning rate policy (PyTorch's formulas, modes and group keys): the lr
    goes from base_lr up to max_lr over step_size_up steps and back over step_size_down
    (default: as many), the amplitude scaled by ``scale_fn`` of the cycle number
    ("triangular": 1, "triangular2": halved each cycle) or of the step ("exp_range":
    gamma ** step); momentum moves the opposite way between max_momentum and base_momentum.
    Construction sets each group's lr to base_lr. Step once per batch."""

    def __init__(self, optimizer: Optimizer, base_lr, max_lr, step_size_up: int = 2000,
                 step_size_down=None, mode: str = "triangular", gamma: float = 1.0,
                 scale_fn=None, scale_mode: str = "cycle", cycle_momentum: bool = True,
                 base_momentum=0.8, max_momentum=0.9, last_epoch: int = -1):
        groups = optimizer.param_groups
        base_lrs = _per_group("CyclicLR", "base_lr", base_lr, groups)
        if last_epoch == -1:
            for group, lr in zip(groups, base_lrs):
                group["lr"] = lr
        self.max_lrs = _per_group("CyclicLR", "max_lr", max_lr, groups)
        down = step_size_up if step_size_down is None else step_size_down
        if step_size_up <= 0 or down < 0:
            raise ValueError(f"CyclicLR: step_size_up must be positive and step_size_down "
                             f"non-negative, got {step_size_up} and {down}")
        self.total_size = float(step_size_up + down)
        self.step_ratio = step_size_up / self.total_size
        if scale_fn is None and mode not in ("triangular", "triangular2", "exp_range"):
            raise ValueError(f"CyclicLR: mode must be 'triangular', 'triangular2' or "
                             f"'exp_range' (or give scale_fn), got {mode!r}")
        self.mode, self.gamma, self._scale_fn_custom = mode, gamma, scale_fn
        self.scale_mode = scale_mode if scale_fn is not None else \
            ("iterations" if mode == "exp_range" else "cycle")
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self._start_momentum(optimizer, base_momentum, max_momentum, last_epoch)
            self.base_momentums = [g["base_momentum"] for g in groups]
            self.max_momentums = [g["max_momentum"] for g in groups]
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def scale_fn(self, x: float) -> float:
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x

    def get_lr(self) -> list[float]:
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        factor = x / self.step_ratio if x <= self.step_ratio else \
            (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [base + (top - base) * factor * scale
               for base, top in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for group, base, top in zip(self.optimizer.param_groups, self.base_momentums,
                                        self.max_momentums):
                self._set_momentum(group, top - (top - base) * factor * scale)
        return lrs

    def state_dict(self) -> dict:  # a custom scale_fn is code, not state
        return {k: v for k, v in self.__dict__.items()
                if k not in ("optimizer", "_scale_fn_custom")}


def _check_schedulers(who: str, schedulers, optimizer) -> None:
    for i, scheduler in enumerate(schedulers):
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError(f"{who}: ReduceLROnPlateau (at index {i}) needs a metric in step(), "
                             "so it cannot be sequenced or chained")
        if not hasattr(scheduler, "optimizer"):
            raise TypeError(f"{who}: the scheduler at index {i} has no optimizer")
        if optimizer is not None and scheduler.optimizer is not optimizer:
            raise ValueError(f"{who}: every scheduler must belong to the same optimizer; the one "
                             f"at index {i} ({type(scheduler).__name__}) has another")


class SequentialLR(_SchedulerState):
    """Run ``schedulers`` one after another, switching at each of ``milestones`` (steps); a
    schedule switched to starts from its epoch 0 (its closed form), as PyTorch."""

    def __init__(self, optimizer: Optimizer, schedulers, milestones, last_epoch: int = -1):
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError("SequentialLR: expects at least one scheduler, got none")
        _check_schedulers("SequentialLR", schedulers, optimizer)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: expects one milestone fewer than schedulers, got "
                             f"{len(schedulers)} schedulers and {len(milestones)} milestones")
        self._schedulers, self._milestones = schedulers, list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self._undo(self)  # the schedules' own initial steps
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def _undo(self, scheduler) -> None:
        if hasattr(scheduler, "_schedulers"):
            for inner in scheduler._schedulers:
                self._undo(inner)
        elif hasattr(scheduler, "last_epoch"):
            scheduler.last_epoch -= 1

    def step(self) -> None:
        self.last_epoch += 1
        index = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state = dict(state_dict)
        for scheduler, inner in zip(self._schedulers, state.pop("_schedulers")):
            scheduler.load_state_dict(inner)
        self.__dict__.update(state)


class ChainedScheduler(SequentialLR):
    """Step every one of ``schedulers`` on each ``step()`` (their effects compose)."""

    def __init__(self, schedulers, optimizer: Optimizer | None = None):
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError("ChainedScheduler: expects at least one scheduler, got none")
        optimizer = optimizer or schedulers[0].optimizer
        _check_schedulers("ChainedScheduler", schedulers, optimizer)
        self._schedulers, self.optimizer = schedulers, optimizer
        self._last_lr = [g["lr"] for g in schedulers[-1].optimizer.param_groups]

    def step(self) -> None:
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = [g["lr"] for g in self._schedulers[-1].optimizer.param_groups]

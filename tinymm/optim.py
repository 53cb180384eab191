"""Optimizers with ``torch.optim``'s update rules, step for step.

Every optimizer holds ``param_groups`` (a list of dicts with "params" and hyper-parameters)
and per-parameter ``state``; ``step()`` reads each parameter's ``.grad`` and updates
``.array`` in place. Formulas are written exactly as PyTorch's documentation states them, in
the parameter's own dtype, so the same gradients give the same parameter sequence.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from tinymm.tensor import Tensor


class Optimizer:
    defaults: dict = {}

    def __init__(self, params, **hyper):
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if isinstance(params[0], dict):
            groups = [dict(g) for g in params]
        else:
            groups = [{"params": params}]
        self.param_groups = []
        for g in groups:
            group = {**self.defaults, **hyper, **g}
            group["params"] = list(group["params"])
            for p in group["params"]:
                if not isinstance(p, Tensor):
                    raise TypeError(f"{type(self).__name__}: parameters must be Tensors, got "
                                    f"{type(p).__name__}")
            self.param_groups.append(group)
        self.state: dict[int, dict] = {}

    def _params(self):
        for group in self.param_groups:
            for p in group["params"]:
                yield group, p

    def _scratch(self, p, slot: int = 0) -> np.ndarray:
        """A reusable buffer shaped like ``p`` (shared by all parameters of one dtype).

        The update formulas run with ``out=`` into it instead of allocating temporaries:
        the same operations in the same order (so the same rounding), without a fresh
        multi-megabyte array, and its page faults, per operation and step.
        """
        workspace = self.__dict__.setdefault("_workspace", {})
        key = (p.dtype.str, slot)
        buf = workspace.get(key)
        if buf is None or buf.size < p.size:
            buf = workspace[key] = np.empty(p.size, dtype=p.dtype)
        return buf[:p.size].reshape(p.shape)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for _, p in self._params():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.array[...] = 0

    def step(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ resume bit-for-bit
    def state_dict(self) -> dict:
        """Hyper-parameters and per-parameter state, keyed by parameter position."""
        index = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {index[pid]: {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v)
                              for k, v in s.items()}
                 for pid, s in self.state.items() if pid in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        saved_sizes = [len(g["params"]) for g in groups]
        own_sizes = [len(g["params"]) for g in self.param_groups]
        if saved_sizes != own_sizes:
            raise ValueError(f"{type(self).__name__}.load_state_dict: the saved state has "
                             f"parameter groups of sizes {saved_sizes}, this optimizer "
                             f"{own_sizes}; build the optimizer over the same parameters")
        by_index = {}
        for g, own in zip(groups, self.param_groups):
            for i, p in zip(g["params"], own["params"]):
                by_index[int(i)] = p
            own.update({k: v for k, v in g.items() if k != "params"})
        self.state = {}
        for i, s in state_dict["state"].items():
            p = by_index[int(i)]
            for k, v in s.items():
                if isinstance(v, np.ndarray) and v.shape != p.shape:
                    raise ValueError(f"{type(self).__name__}.load_state_dict: state {k!r} of "
                                     f"parameter {i} has shape {v.shape}, the parameter has "
                                     f"{p.shape}")
            self.state[id(p)] = {k: (np.array(v, dtype=p.dtype, copy=True)
                                     if isinstance(v, np.ndarray) else v) for k, v in s.items()}


class SGD(Optimizer):
    """SGD with momentum, dampening, Nesterov and (L2) weight decay, as torch.optim.SGD."""

    defaults = {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0,
                "nesterov": False}

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov momentum requires momentum > 0 and dampening = 0")
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov)

    def step(self) -> None:
        for group, p in self._params():
            if p.grad is None:
                continue
            g = p.grad.array
            if group["weight_decay"]:
                g = np.multiply(p.array, group["weight_decay"], out=self._scratch(p, 1))
                g += p.grad.array  # g + wd * p
            if group["momentum"]:
                state = self.state.setdefault(id(p), {})
                if "momentum_buffer" not in state:
                    buf = np.array(g, copy=True)  # first step: b = g
                else:
                    buf = state["momentum_buffer"]
                    buf *= group["momentum"]
                    buf += np.multiply(g, 1 - group["dampening"], out=self._scratch(p, 0))
                state["momentum_buffer"] = buf
                if group["nesterov"]:  # g + m b
                    nesterov = np.multiply(buf, group["momentum"], out=self._scratch(p, 0))
                    g = np.add(g, nesterov, out=nesterov)
                else:
                    g = buf
            p.array -= np.multiply(g, group["lr"], out=self._scratch(p, 0))


class Adam(Optimizer):
    """Adam (Kingma & Ba) with PyTorch's bias correction, L2 ``weight_decay`` and ``amsgrad``.

    Per parameter, with gradient g at step t (t counts from 1)::

        g  = g + weight_decay * p                 (Adam; AdamW decays p instead, see below)
        m  = m + (1 - b1) * (g - m)               (torch's lerp_, = b1 m + (1 - b1) g)
        v  = b2 * v + ((1 - b2) * g) * g          (torch's mul_ then addcmul_)
        v_max = max(v_max, v)                     (amsgrad only; then v_max replaces v below)
        p  = p + (-lr / (1 - b1^t) * m) / (sqrt(v) / sqrt(1 - b2^t) + eps)

    Each line is evaluated in the parameter's dtype in the same order as PyTorch's
    single-tensor CPU path. The results agree with ``torch.optim`` to a few units in the last
    place, not bit for bit: PyTorch's vectorised CPU kernels fuse ``a + w * b`` into one
    fused multiply-add (one rounding instead of two) and its float32 ``sqrt`` is not the
    correctly rounded one NumPy computes (both measured against torch 2.13).
    """

    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                "amsgrad": False}
    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False):
        if lr < 0 or eps < 0 or weight_decay < 0 or not (0 <= betas[0] < 1 and
                                                         0 <= betas[1] < 1):
            raise ValueError(f"{type(self).__name__}: invalid hyper-parameters lr={lr}, "
                             f"betas={betas}, eps={eps}, weight_decay={weight_decay} (need "
                             "lr, eps, weight_decay >= 0 and 0 <= beta < 1)")
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)

    def step(self) -> None:
        for group, p in self._params():
            if p.grad is None:
                continue
            g = p.grad.array
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            if wd:
                if self.decoupled:
                    p.array *= p.dtype.type(1 - lr * wd)
                else:
                    g = g + wd * p.array
            state = self.state.setdefault(id(p), {})
            if not state:
                state["step"] = 0
                state["exp_avg"] = np.zeros_like(p.array)
                state["exp_avg_sq"] = np.zeros_like(p.array)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = np.zeros_like(p.array)
            state["step"] += 1
            t = float(state["step"])
            m, v = state["exp_avg"], state["exp_avg_sq"]
            work = self._scratch(p, 0)
            np.subtract(g, m, out=work)
            work *= 1 - b1
            m += work  # m + (1 - b1) (g - m): lerp toward g with weight 1 - b1 (< 0.5)
            v *= b2
            np.multiply(g, 1 - b2, out=work)
            work *= g
            v += work  # b2 v + ((1 - b2) g) g
            if group["amsgrad"]:
                np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                v = state["max_exp_avg_sq"]
            bias_correction1 = 1 - b1**t
            bias_correction2 = 1 - b2**t
            step_size = lr / bias_correction1
            denom = np.sqrt(v, out=self._scratch(p, 1))
            denom /= bias_correction2**0.5
            denom += eps  # sqrt(v) / sqrt(1 - b2^t) + eps
            np.multiply(m, -step_size, out=work)
            work /= denom
            p.array += work  # torch's addcdiv_: p + (value * m) / denom


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the Adam step."""

    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2,
                "amsgrad": False}
    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale all gradients in place so their joint norm is at most ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_``: the joint norm is the norm of the per-parameter
    norms; every gradient is multiplied by min(1, max_norm / (norm + 1e-6)). Returns the norm
    before clipping (a float).
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad.array for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    norm_type = float(norm_type)
    if norm_type == math.inf:
        norms = [np.abs(g).max() for g in grads]
        total = float(max(norms))
    else:
        norms = [np.sum(np.abs(g) ** norm_type) ** (1.0 / norm_type) for g in grads]
        total = float(np.sum(np.asarray(norms, dtype=np.float64) ** norm_type)
                      ** (1.0 / norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total {norm_type}-norm of the gradients is "
                           f"{total}; a gradient holds NaN or Inf (pass "
                           "error_if_nonfinite=False to scale anyway)")
    coef = min(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        g *= g.dtype.type(coef)
    return total


# ---------------------------------------------------------------- learning-rate schedules
class LRScheduler:
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

    def step(self) -> None:
        self._step_count += 1
        self.last_epoch += 1
        values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)


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


lr_scheduler = sys.modules[__name__]  # torch.optim.lr_scheduler.StepLR -> optim.lr_scheduler...

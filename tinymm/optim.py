"""Optimizers with ``torch.optim``'s update rules, step for step.

Every optimizer holds ``param_groups`` (a list of dicts with "params" and hyper-parameters)
and per-parameter ``state``; ``step()`` reads each parameter's ``.grad`` and updates
``.data`` in place. Formulas are written exactly as PyTorch's documentation states them, in
the parameter's own dtype, so the same gradients give the same parameter sequence.
"""

from __future__ import annotations

import math

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

    def zero_grad(self, set_to_none: bool = True) -> None:
        for _, p in self._params():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

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
        if len(groups) != len(self.param_groups) or any(
                len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)):
            raise ValueError(f"{type(self).__name__}.load_state_dict: the saved state has a "
                             "different number of parameter groups or parameters")
        by_index = {}
        for g, own in zip(groups, self.param_groups):
            for i, p in zip(g["params"], own["params"]):
                by_index[int(i)] = p
            own.update({k: v for k, v in g.items() if k != "params"})
        self.state = {}
        for i, s in state_dict["state"].items():
            p = by_index[int(i)]
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
            g = p.grad
            if group["weight_decay"]:
                g = g + group["weight_decay"] * p.data
            if group["momentum"]:
                state = self.state.setdefault(id(p), {})
                if "momentum_buffer" not in state:
                    buf = np.array(g, copy=True)  # first step: b = g
                else:
                    buf = state["momentum_buffer"]
                    buf *= group["momentum"]
                    buf += (1 - group["dampening"]) * g
                state["momentum_buffer"] = buf
                g = g + group["momentum"] * buf if group["nesterov"] else buf
            p.data -= (group["lr"] * g).astype(p.dtype, copy=False)


class Adam(Optimizer):
    """Adam (Kingma & Ba) with PyTorch's bias correction and L2 ``weight_decay``.

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """

    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}
    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"{type(self).__name__}: invalid hyper-parameters lr={lr}, "
                             f"betas={betas}, eps={eps}")
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    def step(self) -> None:
        for group, p in self._params():
            if p.grad is None:
                continue
            g = p.grad
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            if wd:
                if self.decoupled:
                    p.data *= p.dtype.type(1 - lr * wd)
                else:
                    g = g + wd * p.data
            state = self.state.setdefault(id(p), {})
            if not state:
                state["step"] = 0
                state["exp_avg"] = np.zeros_like(p.data)
                state["exp_avg_sq"] = np.zeros_like(p.data)
            state["step"] += 1
            t = state["step"]
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            bias_correction1 = 1 - b1**t
            bias_correction2 = 1 - b2**t
            step_size = lr / bias_correction1
            denom = np.sqrt(v) / math.sqrt(bias_correction2) + eps
            p.data -= (step_size * (m / denom)).astype(p.dtype, copy=False)


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the Adam step."""

    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2}
    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0) -> float:
    """Scale all gradients so their joint norm is at most ``max_norm``; returns the norm."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    if norm_type == math.inf:
        total = max(float(np.abs(g).max()) for g in grads)
    else:
        total = float(sum(float(np.sum(np.abs(g.astype(np.float64)) ** norm_type))
                          for g in grads) ** (1.0 / norm_type))
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g *= g.dtype.type(coef)
    return total

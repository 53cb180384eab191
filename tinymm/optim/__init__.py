"""Optimizers with ``torch.optim``'s update rules, step for step.

Every optimizer holds ``param_groups`` (a list of dicts with "params" and hyper-parameters)
and per-parameter ``state``; ``step()`` reads each parameter's ``.grad`` and updates
``.array`` in place with the update kernels of the parameter's device (``sgd_step``,
``adam_step``, ``rmsprop_step``, ``adagrad_step``, ``adadelta_step``, ``nadam_step``,
``radam_step``, ``adamax_step``: one fused pass per parameter; kernels/reference/optim.py has
the formulas).
Formulas are written exactly as PyTorch's documentation states them, in the parameter's own
dtype, so the same gradients give the same parameter sequence.
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict

import numpy as np

from tinymm.backend import current_backend, get_backend
from tinymm.kernels.numba_cuda import device as cuda_device
from tinymm.tensor import Tensor, from_data


def _host_copy(value):
    """State for a checkpoint: NumPy copies (a counted device->host copy for cuda state)."""
    if cuda_device.is_device_array(value):
        return cuda_device.to_host(value)
    return np.array(value, copy=True) if isinstance(value, np.ndarray) else value


def _kernels_for(p: Tensor):
    """The backend whose update kernels run on ``p``'s device (the selected one on the cpu)."""
    return get_backend("cuda") if getattr(p, "device", "cpu") == "cuda" else current_backend()


# torch.optim's implementation switches: they choose how PyTorch runs the same update, so
# tinymm accepts them and computes the one update it has (differentiable=True, a step that
# autograd can see through, is the exception: it is refused).
IMPLEMENTATION_OPTIONS = ("foreach", "fused", "capturable", "differentiable")


def _implementation(cls, options: dict) -> dict:
    """``options`` (torch's foreach/fused/capturable/differentiable) checked for ``cls``."""
    for name, value in options.items():
        if name not in IMPLEMENTATION_OPTIONS:
            raise TypeError(f"{cls.__name__}.__init__() got an unexpected keyword argument "
                            f"{name!r}")
        if name == "differentiable" and value:
            raise ValueError(f"{cls.__name__}: differentiable=True (autograd through the "
                             "update) is not supported in tinymm")
    return options


class Optimizer:
    """The base of every optimizer, with torch.optim.Optimizer's interface.

    ``Optimizer(params, defaults)`` as in PyTorch (a subclass passes its hyper-parameters as
    the ``defaults`` dict, or as keywords); ``params`` is an iterable of Tensors or of dicts
    (parameter groups whose own keys override the defaults). ``state`` maps each parameter
    Tensor to its dict of state (a ``defaultdict(dict)``: ``self.state[p]`` starts empty)."""

    defaults: dict = {}

    def __init__(self, params, defaults: dict | None = None, **hyper):
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors or "
                            "of dicts, got a single Tensor; pass [tensor]")
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        self.defaults = {**type(self).defaults, **(defaults or {}), **hyper}
        self.param_groups = []
        self.state: defaultdict = defaultdict(dict)
        for g in params if isinstance(params[0], dict) else [{"params": params}]:
            self.add_param_group(g)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters (a dict with "params" and any hyper-parameters to
        override), as torch.optim.Optimizer.add_param_group; a parameter may be in one group
        only."""
        group = {**self.defaults, **param_group}
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameters must be Tensors, got "
                                f"{type(p).__name__}")
            if id(p) in seen:
                raise ValueError(f"{type(self).__name__}: some parameters appear in more than "
                                 "one parameter group")
        self.param_groups.append(group)

    def _grad(self, group, p, kernels):
        """``p``'s gradient array as the update reads it: negated when the group has
        ``maximize`` (PyTorch: ascend the objective instead of descending it)."""
        if group.get("maximize"):
            return kernels.neg_forward(p.grad.array)[0]
        return p.grad.array

    @staticmethod
    def _closure_loss(closure):
        """torch's ``step(closure)``: the closure (which zeroes the gradients, computes the
        loss and calls backward) runs with gradients enabled before the update, and its loss
        is what ``step`` returns; no closure, None."""
        if closure is None:
            return None
        from tinymm.torch_functions import enable_grad

        with enable_grad():
            return closure()

    def _params(self):
        for group in self.param_groups:
            for p in group["params"]:
                yield group, p

    def zero_grad(self, set_to_none: bool = True) -> None:
        for _, p in self._params():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                if p.device == "cuda":  # zeros written by a kernel: no transfer
                    p.grad = Tensor._make(_kernels_for(p).full(p.shape, 0, p.grad.dtype))
                else:
                    p.grad.array[...] = 0

    def step(self) -> None:
        raise NotImplementedError

    def _stepping(self):
        """(group, p, kernels, state) for each parameter with a gradient, its step count
        already advanced; a parameter's first step creates its state from ``_new_state``
        (zero arrays on the parameter's device)."""
        for group, p in self._params():
            if p.grad is None:
                continue
            kernels = _kernels_for(p)
            state = self.state[p]
            if not state:
                zeros = self._new_state(group)
                state.update({"step": 0, **{name: kernels.full(p.shape, 0, p.dtype)
                                            for name in zeros}}, **self._scalar_state)
            state["step"] += 1
            yield group, p, kernels, state

    _scalar_state: dict = {}

    def _new_state(self, group) -> tuple:
        """The names of the zero-initialised state arrays of one parameter in ``group``."""
        return ()

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
        state = {index[id(p)]: {k: _host_copy(v) for k, v in s.items()}
                 for p, s in self.state.items() if id(p) in index}
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
        self.state = defaultdict(dict)
        for i, s in state_dict["state"].items():
            p = by_index[int(i)]
            for k, v in s.items():
                if isinstance(v, np.ndarray) and v.shape != p.shape:
                    raise ValueError(f"{type(self).__name__}.load_state_dict: state {k!r} of "
                                     f"parameter {i} has shape {v.shape}, the parameter has "
                                     f"{p.shape}")
            self.state[p] = {k: (from_data(v, p.dtype, p.device).array
                                     if isinstance(v, np.ndarray) else v) for k, v in s.items()}


class SGD(Optimizer):
    """SGD with momentum, dampening, Nesterov and (L2) weight decay, as torch.optim.SGD."""

    defaults = {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0,
                "nesterov": False}

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False,
                 maximize: bool = False, **implementation):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov momentum requires momentum > 0 and dampening = 0")
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov,
                         maximize=maximize, **_implementation(type(self), implementation))

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group, p in self._params():
            if p.grad is None:
                continue
            kernels = _kernels_for(p)
            buf, first = None, False
            if group["momentum"]:
                state = self.state[p]
                if "momentum_buffer" not in state:  # the first step sets b = g
                    state["momentum_buffer"] = kernels.full(p.shape, 0, p.dtype)
                    first = True
                buf = state["momentum_buffer"]
            g = self._grad(group, p, kernels)
            kernels.sgd_step(p.array, g, buf, group["lr"], group["momentum"],
                             group["dampening"], group["weight_decay"], group["nesterov"],
                             first)
        return loss


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
                 weight_decay: float = 0.0, amsgrad: bool = False,
                 maximize: bool = False, **implementation):
        if lr < 0 or eps < 0 or weight_decay < 0 or not (0 <= betas[0] < 1 and
                                                         0 <= betas[1] < 1):
            raise ValueError(f"{type(self).__name__}: invalid hyper-parameters lr={lr}, "
                             f"betas={betas}, eps={eps}, weight_decay={weight_decay} (need "
                             "lr, eps, weight_decay >= 0 and 0 <= beta < 1)")
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad,
                         maximize=maximize, **_implementation(type(self), implementation))

    def _new_state(self, group) -> tuple:
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())

    def _epsilon(self, group, step) -> float:
        """The eps of the update above at ``step`` (PyTorch's: the constant group["eps"])."""
        return group["eps"]

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group, p, kernels, state in self._stepping():
            (b1, b2) = group["betas"]
            g = self._grad(group, p, kernels)
            kernels.adam_step(p.array, g, state["exp_avg"], state["exp_avg_sq"],
                              state.get("max_exp_avg_sq"), state["step"], group["lr"], b1, b2,
                              self._epsilon(group, state["step"]), group["weight_decay"],
                              self.decoupled)
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the Adam step."""

    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2,
                "amsgrad": False}
    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False,
                 maximize: bool = False, **implementation):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad,
                         maximize=maximize, **_implementation(type(self), implementation))


class RMSprop(Optimizer):
    """RMSprop (Hinton), as torch.optim.RMSprop::

        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        avg = sqrt(v - gbar^2) + eps    with gbar = gbar + (1 - alpha)(g - gbar) (centered)
            = sqrt(v) + eps             (otherwise)
        b = momentum * b + g / avg;  p = p - lr * b      (momentum > 0)
        p = p - lr * g / avg                             (momentum = 0)
    """

    defaults = {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0,
                "centered": False}

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 maximize: bool = False, **implementation):
        if lr < 0 or eps < 0 or alpha < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"RMSprop: lr, alpha, eps, momentum and weight_decay must be >= 0, "
                             f"got {lr}, {alpha}, {eps}, {momentum}, {weight_decay}")
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                         momentum=momentum, centered=centered,
                         maximize=maximize, **_implementation(type(self), implementation))

    def _new_state(self, group) -> tuple:
        return (("square_avg",) + (("momentum_buffer",) if group["momentum"] > 0 else ())
                + (("grad_avg",) if group["centered"] else ()))

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group, p, kernels, state in self._stepping():
            g = self._grad(group, p, kernels)
            kernels.rmsprop_step(p.array, g, state["square_avg"],
                                 state.get("momentum_buffer"), state.get("grad_avg"),
                                 group["lr"], group["alpha"], group["eps"],
                                 group["weight_decay"], group["momentum"])
        return loss


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), as torch.optim.Adagrad, at step t (from 1)::

        g   = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s   = s + g * g                   (s starts at initial_accumulator_value)
        p   = p - clr * g / (sqrt(s) + eps)
    """

    defaults = {"lr": 1e-2, "lr_decay": 0.0, "weight_decay": 0.0,
                "initial_accumulator_value": 0.0, "eps": 1e-10}

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10,
                 maximize: bool = False, **implementation):
        if min(lr, lr_decay, weight_decay, initial_accumulator_value, eps) < 0:
            raise ValueError("Adagrad: lr, lr_decay, weight_decay, initial_accumulator_value "
                             f"and eps must be >= 0, got {lr}, {lr_decay}, {weight_decay}, "
                             f"{initial_accumulator_value}, {eps}")
        super().__init__(params, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps,
                         maximize=maximize, **_implementation(type(self), implementation))
        for group, p in self._params():  # torch creates the state at construction
            self.state[p] = {"step": 0, "sum": _kernels_for(p).full(
                p.shape, group["initial_accumulator_value"], p.dtype)}

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group, p in self._params():
            if p.grad is None:
                continue
            state = self.state[p]
            if getattr(p, "device", "cpu") == "cuda" and isinstance(state["sum"], np.ndarray):
                state["sum"] = from_data(state["sum"], device="cuda").array  # built before .to
            state["step"] += 1
            kernels = _kernels_for(p)
            g = self._grad(group, p, kernels)
            kernels.adagrad_step(p.array, g, state["sum"], state["step"], group["lr"],
                                 group["lr_decay"], group["weight_decay"], group["eps"])
        return loss


class Adadelta(Optimizer):
    """Adadelta (Zeiler), as torch.optim.Adadelta::

        g     = g + weight_decay * p
        v     = rho * v + (1 - rho) * g * g
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u     = rho * u + (1 - rho) * delta * delta
        p     = p - lr * delta
    """

    defaults = {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0}

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0,
                 maximize: bool = False, **implementation):
        if lr < 0 or eps < 0 or weight_decay < 0 or not 0.0 <= rho <= 1.0:
            raise ValueError(f"Adadelta: need lr, eps, weight_decay >= 0 and 0 <= rho <= 1, "
                             f"got lr={lr}, rho={rho}, eps={eps}, weight_decay={weight_decay}")
        super().__init__(params, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                         maximize=maximize, **_implementation(type(self), implementation))

    def _new_state(self, group) -> tuple:
        return ("square_avg", "acc_delta")

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group, p, kernels, state in self._stepping():
            g = self._grad(group, p, kernels)
            kernels.adadelta_step(p.array, g, state["square_avg"],
                                  state["acc_delta"], group["lr"], group["rho"], group["eps"],
                                  group["weight_decay"])
        return loss


class NAdam(Optimizer):
    """Adam with Nesterov momentum (Dozat), as torch.optim.NAdam, at step t (from 1)::

        g        = g + weight_decay * p        (or p *= 1 - lr * wd, decoupled_weight_decay)
        mu_t     = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        prod_t   = mu_1 * ... * mu_t           (kept in float32, as torch's state tensor)
        m        = m + (1 - b1) * (g - m);   v = b2 * v + (1 - b2) * g * g
        denom    = sqrt(v / (1 - b2^t)) + eps
        p        = p - lr (1 - mu_t) / (1 - prod_t) * g / denom
                     - lr mu_{t+1} / (1 - prod_t mu_{t+1}) * m / denom
    """

    defaults = {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                "momentum_decay": 4e-3, "decoupled_weight_decay": False}

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False,
                 maximize: bool = False, **implementation):
        if lr < 0 or eps < 0 or weight_decay < 0 or momentum_decay < 0 or not (
                0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"NAdam: invalid hyper-parameters lr={lr}, betas={betas}, eps={eps}, "
                             f"weight_decay={weight_decay}, momentum_decay={momentum_decay}")
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                         momentum_decay=momentum_decay,
                         decoupled_weight_decay=decoupled_weight_decay,
                         maximize=maximize, **_implementation(type(self), implementation))

    _scalar_state = {"mu_product": 1.0}

    def _new_state(self, group) -> tuple:
        return ("exp_avg", "exp_avg_sq")

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group, p, kernels, state in self._stepping():
            b1, b2 = group["betas"]
            t = float(state["step"])
            mu = b1 * (1.0 - 0.5 * 0.96 ** (t * group["momentum_decay"]))
            state["mu_product"] = float(np.float32(state["mu_product"]) * np.float32(mu))
            g = self._grad(group, p, kernels)
            kernels.nadam_step(p.array, g, state["exp_avg"], state["exp_avg_sq"],
                               state["step"], state["mu_product"], group["lr"], b1, b2,
                               group["eps"], group["weight_decay"], group["momentum_decay"],
                               group["decoupled_weight_decay"])
        return loss


def _check_adam_like(who: str, lr, betas, eps, weight_decay) -> None:
    if lr < 0 or eps < 0 or weight_decay < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
        raise ValueError(f"{who}: invalid hyper-parameters lr={lr}, betas={betas}, eps={eps}, "
                         f"weight_decay={weight_decay} (need lr, eps, weight_decay >= 0 and "
                         "0 <= beta < 1)")


class RAdam(Optimizer):
    """Rectified Adam (Liu et al.), as torch.optim.RAdam's single-tensor path, at step t::

        g = g + weight_decay * p   (or p *= 1 - lr * weight_decay, decoupled_weight_decay)
        m = m + (1 - b1) (g - m);   v = b2 v + (1 - b2) g g
        rho_inf = 2 / (1 - b2) - 1;   rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
        rho_t > 5:  p -= lr m / (1 - b1^t) * sqrt(1 - b2^t) / (sqrt(v) + eps) * r_t,
                    r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        otherwise:  p -= lr m / (1 - b1^t)
    """

    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                "decoupled_weight_decay": False}

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False,
                 maximize: bool = False, **implementation):
        _check_adam_like("RAdam", lr, betas, eps, weight_decay)
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                         decoupled_weight_decay=decoupled_weight_decay,
                         maximize=maximize, **_implementation(type(self), implementation))

    def _new_state(self, group) -> tuple:
        return ("exp_avg", "exp_avg_sq")

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group, p, kernels, state in self._stepping():
            b1, b2 = group["betas"]
            g = self._grad(group, p, kernels)
            kernels.radam_step(p.array, g, state["exp_avg"], state["exp_avg_sq"],
                               state["step"], group["lr"], b1, b2, group["eps"],
                               group["weight_decay"], group["decoupled_weight_decay"])
        return loss


class Adamax(Optimizer):
    """Adam with the infinity norm (Kingma & Ba), as torch.optim.Adamax, at step t::

        g = g + weight_decay * p
        m = m + (1 - b1) (g - m);   u = max(b2 u, |g| + eps)
        p = p - lr / (1 - b1^t) * m / u
    """

    defaults = {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0,
                 maximize: bool = False, **implementation):
        _check_adam_like("Adamax", lr, betas, eps, weight_decay)
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                         maximize=maximize, **_implementation(type(self), implementation))

    def _new_state(self, group) -> tuple:
        return ("exp_avg", "exp_inf")

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group, p, kernels, state in self._stepping():
            b1, b2 = group["betas"]
            g = self._grad(group, p, kernels)
            kernels.adamax_step(p.array, g, state["exp_avg"], state["exp_inf"],
                                state["step"], group["lr"], b1, b2, group["eps"],
                                group["weight_decay"])
        return loss


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients in place so their joint norm is at most ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_``: the joint norm is the norm of the per-parameter
    norms; every gradient is multiplied by min(1, max_norm / (norm + 1e-6)). Returns the norm
    before clipping as a 0-d tensor in the gradients' dtype (summed in float64).
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    parameters = [p for p in parameters if p.grad is not None]
    if not parameters:
        return Tensor._make(np.zeros((), np.float32))
    norm_type = float(norm_type)
    if any(p.grad.is_cuda for p in parameters):  # the norm comes back as a host 0-d tensor
        total = _clip_on_device(parameters, float(max_norm), norm_type, error_if_nonfinite)
        return Tensor._make(np.asarray(total, dtype=parameters[0].grad.dtype))
    grads = [p.grad.array for p in parameters]
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
    return Tensor._make(np.asarray(total, dtype=grads[0].dtype))


def _clip_on_device(parameters, max_norm: float, norm_type: float,
                    error_if_nonfinite: bool) -> float:
    """``clip_grad_norm_`` for cuda gradients with the device's kernels: the per-gradient
    norms and their joint norm are reduced on the device and only the joint norm crosses
    (one counted copy: the float returned); each gradient is then rescaled there."""
    from tinymm.autograd import no_grad
    from tinymm.ops.shape import stack

    with no_grad():
        grads = [p.grad.detach() for p in parameters]
        if norm_type == math.inf:
            norms = stack([g.abs().amax() for g in grads])  # (P,)
            total = float(norms.amax().item())
        else:
            norms = stack([(g.abs() ** norm_type).sum() ** (1.0 / norm_type)
                           for g in grads]).double()  # (P,) float64, as the host path sums
            total = float(((norms ** norm_type).sum() ** (1.0 / norm_type)).item())
        if error_if_nonfinite and not math.isfinite(total):
            raise RuntimeError(f"clip_grad_norm_: the total {norm_type}-norm of the gradients "
                               f"is {total}; a gradient holds NaN or Inf (pass "
                               "error_if_nonfinite=False to scale anyway)")
        coef = min(max_norm / (total + 1e-6), 1.0)
        for p, g in zip(parameters, grads):
            p.grad.array = (g * coef).array  # coef rounded to g's dtype, as the host path
    return total


# The schedules live in tinymm/optim/lr_scheduler.py (torch.optim.lr_scheduler's path); the
# names are also exported here, as tinymm always did.
from tinymm.optim import lr_scheduler  # noqa: E402
from tinymm.optim.lbfgs import LBFGS  # noqa: E402 - torch.optim.LBFGS (optim/lbfgs.py)
from tinymm.optim.lr_scheduler import (  # noqa: E402
    ChainedScheduler,
    ConstantLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    CyclicLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    OneCycleLR,
    PolynomialLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)

__all__ = [
    "Adadelta", "Adagrad", "Adam", "AdamW", "CosineAnnealingLR", "ExponentialLR", "LRScheduler",
    "LambdaLR", "MultiStepLR", "NAdam", "Optimizer", "RMSprop", "ReduceLROnPlateau", "SGD",
    "StepLR", "clip_grad_norm_", "lr_scheduler",
    "ChainedScheduler", "ConstantLR", "CosineAnnealingWarmRestarts", "LinearLR", "OneCycleLR",
    "PolynomialLR", "SequentialLR", "Adamax", "RAdam", "CyclicLR", "LBFGS",
]


def __getattr__(name: str):
    from tinymm.missing import OPTIM, attribute_error

    raise attribute_error(sys.modules[__name__], name, OPTIM)

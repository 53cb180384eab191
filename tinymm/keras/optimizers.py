"""Keras-style optimizers: ``Adam(learning_rate=1e-3)`` before the model's weights exist.

A Keras optimizer is created without parameters (``compile(optimizer=Adam(1e-3))``), so these
classes are specifications: ``build(params)`` returns the ``tinymm.optim`` optimizer that does
the work, with Keras's default hyper-parameters (Adam's epsilon is 1e-7 in Keras, 1e-8 in
PyTorch). A ``tinymm.optim`` optimizer passed to ``compile`` is used as it is.

Where Keras's update rule differs from PyTorch's, the rule is Keras's (written here):

    RMSprop (Keras's default optimizer; rho=0.9, epsilon=1e-7, lr=1e-3), epsilon INSIDE the
    square root (PyTorch adds it outside, to sqrt(v)):
        v = rho v + (1 - rho) g^2;   (centered: a = rho a + (1 - rho) g, v' = v - a^2)
        step = lr g / sqrt(v' + eps);   p -= step   (momentum: b = momentum b + step; p -= b)
    Adagrad (lr=1e-3, initial_accumulator_value=0.1, epsilon=1e-7; PyTorch starts the sum at
    0 and adds eps outside the root):
        s = s + g^2;   p -= lr g / sqrt(s + eps)
    Adam and AdamW, epsilon added to sqrt(v) before the bias correction:
        p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
    which is ``tinymm.optim.Adam``'s rule with eps / sqrt(1 - b2^t) at step t.

Adadelta (rho=0.95, epsilon=1e-7, lr=1e-3) has the same formula in both libraries and maps
onto ``tinymm.optim.Adadelta``. Nadam is ``tinymm.optim.NAdam`` with momentum_decay=1: Keras's
momentum schedule is mu_t = b1 (1 - 0.5 * 0.96^t), PyTorch's 0.96^(0.004 t).

``learning_rate`` may be a schedule from ``optimizers.schedules`` (ExponentialDecay,
PiecewiseConstantDecay, CosineDecay): the rate of step t (from 0) is ``schedule(t)``, set
before every update.
"""

from __future__ import annotations

import math

import numpy as np

from tinymm import optim
from tinymm.keras.engine import by_name
from tinymm.tensor import Tensor


class Applying:
    """Keras's ``apply(grads, trainable_variables)`` and ``apply_gradients(zip(grads,
    variables))`` on a built optimizer: one update of exactly those variables with those
    gradients (the optimizer's other parameters are left alone), as a custom ``train_step``
    calls them after ``loss.backward()``."""

    def apply(self, grads, trainable_variables=None) -> None:
        params = [p for _, p in self._params()]
        variables = params if trainable_variables is None else list(trainable_variables)
        grads = list(grads)
        who = f"{type(self).__name__}.apply"
        if len(grads) != len(variables):
            raise ValueError(f"{who}: got {len(grads)} gradients for {len(variables)} variables")
        known = {id(p) for p in params}
        if any(id(v) not in known for v in variables):
            raise ValueError(f"{who}: a variable is not among the {len(params)} this optimizer "
                             "was built for (build it over every variable it will update)")
        chosen = {id(v) for v in variables}
        others = [(p, p.grad) for p in params if id(p) not in chosen]
        for p, _ in others:
            p.grad = None
        for v, g in zip(variables, grads):
            v.grad = None if g is None else _as_grad(g, v)
        try:
            self.step()
        finally:
            for p, grad in others:
                p.grad = grad

    def apply_gradients(self, grads_and_vars) -> None:
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def step(self) -> None:
        """One update; ``iterations`` counts them (Keras's ``optimizer.iterations``). Then,
        as Keras, each updated weight's constraint projects it (keras/constraints.py)."""
        from tinymm.keras.constraints import apply_constraints

        super().step()
        self.iterations = getattr(self, "iterations", 0) + 1
        apply_constraints([p for _, p in self._params()])


def _as_grad(g, v) -> Tensor:
    if isinstance(g, Tensor):
        return g
    return Tensor._make(np.asarray(g, dtype=v.dtype).reshape(v.shape))


_APPLYING: dict[type, type] = {}


def with_apply(opt: optim.Optimizer) -> optim.Optimizer:
    """``opt`` with Keras's ``apply``/``apply_gradients`` (``Applying``); its class keeps its
    name, which checkpoints record."""
    cls = type(opt)
    if not isinstance(opt, Applying):
        if cls not in _APPLYING:
            _APPLYING[cls] = type(cls.__name__, (Applying, cls), {"__doc__": cls.__doc__})
        opt.__class__ = _APPLYING[cls]
    return opt


class Optimizer:
    def __init__(self, learning_rate: float = 1e-3, **unsupported):
        for name, value in unsupported.items():
            if value not in (None, False, 0, 0.0):
                raise ValueError(f"{type(self).__name__}: {name}={value!r} is not supported by "
                                 "tinymm.keras")
        if isinstance(learning_rate, dict) and "class_name" in learning_rate:  # get_config's
            learning_rate = getattr(schedules, learning_rate["class_name"])(
                **learning_rate.get("config", {}))
        self.learning_rate = learning_rate
        self._applied = None

    def build(self, params) -> optim.Optimizer:
        """The tinymm optimizer over ``params`` with this one's settings (and ``apply``); this
        spec remembers it, so ``apply`` and ``iterations`` reach the optimizer a model built."""
        schedule = self.learning_rate if callable(self.learning_rate) else None
        lr0 = float(schedule(0)) if schedule is not None else float(self.learning_rate)
        inner = self._build(params, lr0)
        self._applied = with_apply(inner if schedule is None else Scheduled(inner, schedule))
        return self._applied

    @property
    def iterations(self) -> Tensor:
        """The number of updates applied so far (an int64 scalar, as Keras's variable)."""
        done = 0 if self._applied is None else getattr(self._applied, "iterations", 0)
        return Tensor._make(np.array(done, dtype=np.int64))

    def apply(self, grads, trainable_variables) -> None:
        """Keras's ``optimizer.apply`` on an optimizer object that no model built: the first
        call builds it over ``trainable_variables`` (a GAN's per-network optimizers)."""
        if self._applied is None:
            self._applied = self.build(list(trainable_variables))
        self._applied.apply(grads, trainable_variables)

    def apply_gradients(self, grads_and_vars) -> None:
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def _build(self, params, lr: float) -> optim.Optimizer:
        raise NotImplementedError

    def get_config(self) -> dict:
        """The constructor's arguments; a schedule as ``{"class_name", "config"}`` (as Keras
        serializes it), which the constructor reads back."""
        config = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        if isinstance(self.learning_rate, LearningRateSchedule):
            config["learning_rate"] = {"class_name": type(self.learning_rate).__name__,
                                       "config": self.learning_rate.get_config()}
        return config


class Adam(Optimizer):
    def __init__(self, learning_rate: float = 1e-3, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False):
        super().__init__(learning_rate)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def _build(self, params, lr) -> optim.Optimizer:
        return KerasAdam(params, lr=lr, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                         amsgrad=self.amsgrad)


class AdamW(Adam):
    def __init__(self, learning_rate: float = 1e-3, weight_decay: float = 0.004,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 amsgrad: bool = False):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad)
        self.weight_decay = weight_decay

    def _build(self, params, lr) -> optim.Optimizer:
        return KerasAdamW(params, lr=lr, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                          weight_decay=self.weight_decay, amsgrad=self.amsgrad)


class SGD(Optimizer):
    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0,
                 nesterov: bool = False):
        super().__init__(learning_rate)
        self.momentum, self.nesterov = momentum, nesterov

    def _build(self, params, lr) -> optim.Optimizer:
        return optim.SGD(params, lr=lr, momentum=self.momentum,
                         nesterov=self.nesterov)


class RMSprop(Optimizer):
    def __init__(self, learning_rate=1e-3, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, **unsupported):
        super().__init__(learning_rate, **unsupported)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def _build(self, params, lr) -> optim.Optimizer:
        return KerasRMSprop(params, lr=lr, rho=self.rho, momentum=self.momentum,
                            eps=self.epsilon, centered=self.centered)


class Adagrad(Optimizer):
    def __init__(self, learning_rate=1e-3, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, **unsupported):
        super().__init__(learning_rate, **unsupported)
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon

    def _build(self, params, lr) -> optim.Optimizer:
        return KerasAdagrad(params, lr=lr, initial_accumulator_value=(
            self.initial_accumulator_value), eps=self.epsilon)


class Adadelta(Optimizer):
    def __init__(self, learning_rate=1e-3, rho: float = 0.95, epsilon: float = 1e-7,
                 **unsupported):
        super().__init__(learning_rate, **unsupported)
        self.rho, self.epsilon = rho, epsilon

    def _build(self, params, lr) -> optim.Optimizer:
        return optim.Adadelta(params, lr=lr, rho=self.rho, eps=self.epsilon)


class Nadam(Optimizer):
    def __init__(self, learning_rate=1e-3, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **unsupported):
        super().__init__(learning_rate, **unsupported)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def _build(self, params, lr) -> optim.Optimizer:
        return optim.NAdam(params, lr=lr, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                           momentum_decay=1.0)  # Keras: mu_t = b1 (1 - 0.5 * 0.96^t)


class Adamax(Optimizer):
    def __init__(self, learning_rate=1e-3, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **unsupported):
        super().__init__(learning_rate, **unsupported)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def _build(self, params, lr) -> optim.Optimizer:
        return KerasAdamax(params, lr=lr, beta_1=self.beta_1, beta_2=self.beta_2,
                           eps=self.epsilon)


class Lion(Optimizer):
    def __init__(self, learning_rate=1e-3, beta_1: float = 0.9, beta_2: float = 0.99,
                 **unsupported):
        super().__init__(learning_rate, **unsupported)
        if not 0 < beta_1 <= 1:
            raise ValueError(f"Lion: beta_1 must be in (0, 1], got {beta_1}")
        self.beta_1, self.beta_2 = beta_1, beta_2

    def _build(self, params, lr) -> optim.Optimizer:
        return KerasLion(params, lr=lr, beta_1=self.beta_1, beta_2=self.beta_2)


# ---------------------------------------------------------------- Keras's own update rules
def _host_only(optimizer, p) -> None:
    """A clear error for a cuda parameter: these Keras rules update host arrays in NumPy."""
    if p.device == "cuda":
        raise RuntimeError(f"{type(optimizer).__name__}: cuda parameters are not supported "
                           "(Keras's rule has no cuda kernel); use Adam, AdamW, SGD, Nadam, "
                           "Adadelta or Lion, or keep the model on the cpu")


def _host_state(optimizer, p, names) -> dict:
    """The state dict of parameter ``p`` (host arrays; the step count advanced)."""
    _host_only(optimizer, p)
    state = optimizer.state[p]
    if not state:
        state.update({"step": 0, **{name: np.zeros_like(p.array) for name in names}})
    state["step"] += 1
    return state


class KerasAdam(optim.Adam):
    """Keras's Adam: p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps), epsilon
    added before the bias correction; that is PyTorch's rule (optim.Adam) with
    eps / sqrt(1 - b2^t) at step t."""

    def _epsilon(self, group, step) -> float:
        return group["eps"] / math.sqrt(1.0 - group["betas"][1] ** float(step))


class KerasAdamW(KerasAdam):
    """Keras's AdamW: p *= 1 - lr * weight_decay, then Keras's Adam step."""

    decoupled = True


class KerasAdamax(optim.Optimizer):
    """Keras's Adamax: m = b1 m + (1 - b1) g, u = max(b2 u, |g|),
    p -= lr m / ((1 - b1^t) (u + eps)); host arrays."""

    defaults = {"lr": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "eps": 1e-7}

    def step(self) -> None:
        for group, p in self._params():
            if p.grad is None:
                continue
            g = p.grad.array
            state = _host_state(self, p, ("m", "u"))
            m, u = state["m"], state["u"]
            m += (g - m) * (1 - group["beta_1"])
            np.maximum(group["beta_2"] * u, np.abs(g), out=u)
            bias = 1 - group["beta_1"] ** state["step"]
            p.array -= group["lr"] * m / (bias * (u + group["eps"]))


class KerasLion(optim.Optimizer):
    """Keras's Lion: p -= lr sign(b1 m + (1 - b1) g), then m = b2 m + (1 - b2) g (the
    ``lion_step`` kernel of the parameter's device)."""

    defaults = {"lr": 1e-3, "beta_1": 0.9, "beta_2": 0.99}

    def _new_state(self, group) -> tuple:
        return ("m",)

    def step(self) -> None:
        for group, p, kernels, state in self._stepping():
            kernels.lion_step(p.array, p.grad.array, state["m"], group["lr"], group["beta_1"],
                              group["beta_2"])
class KerasRMSprop(optim.Optimizer):
    """Keras's RMSprop rule (module docstring): epsilon inside the square root."""

    defaults = {"lr": 1e-3, "rho": 0.9, "momentum": 0.0, "eps": 1e-7, "centered": False}

    def step(self) -> None:
        for group, p in self._params():
            if p.grad is None:
                continue
            _host_only(self, p)
            g, rho = p.grad.array, group["rho"]
            state = self.state[p]
            if not state:
                state["velocity"] = np.zeros_like(p.array)
                state["average_grad"] = np.zeros_like(p.array)
                state["momentum"] = np.zeros_like(p.array)
            v = state["velocity"]
            v[...] = rho * v + (1 - rho) * g * g
            denominator = v
            if group["centered"]:
                a = state["average_grad"]
                a[...] = rho * a + (1 - rho) * g
                denominator = v - a * a
            increment = group["lr"] * g / np.sqrt(denominator + group["eps"])
            if group["momentum"] > 0:
                b = state["momentum"]
                b[...] = group["momentum"] * b + increment
                p.array -= b
            else:
                p.array -= increment


class KerasAdagrad(optim.Optimizer):
    """Keras's Adagrad rule (module docstring): the sum starts at initial_accumulator_value,
    epsilon inside the square root."""

    defaults = {"lr": 1e-3, "initial_accumulator_value": 0.1, "eps": 1e-7}

    def step(self) -> None:
        for group, p in self._params():
            if p.grad is None:
                continue
            _host_only(self, p)
            g = p.grad.array
            state = self.state[p]
            if not state:
                state["accumulator"] = np.full_like(p.array, group["initial_accumulator_value"])
            s = state["accumulator"]
            s += g * g
            p.array -= group["lr"] * g / np.sqrt(s + group["eps"])


class Scheduled(optim.Optimizer):
    """An optimizer whose learning rate follows a schedule: before update t (from 0) every
    group's lr is ``schedule(t)``. Holds the inner optimizer's groups and state."""

    def __init__(self, inner: optim.Optimizer, schedule):
        self.inner, self.schedule, self.iterations = inner, schedule, 0
        self.param_groups, self.state = inner.param_groups, inner.state

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.inner.zero_grad(set_to_none)

    def step(self) -> None:
        lr = float(self.schedule(self.iterations))
        for group in self.inner.param_groups:
            group["lr"] = lr
        self.inner.step()
        for group in self.inner.param_groups:  # Applying.step then counts this update
            group["iterations"] = self.iterations + 1  # saved with the groups by tinymm.io

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        self.inner.load_state_dict(state_dict)
        self.state = self.inner.state
        self.iterations = int(self.inner.param_groups[0].get("iterations", 0))


# ---------------------------------------------------------------- schedules
class LearningRateSchedule:
    """Base of ``optimizers.schedules``: ``schedule(step) -> learning rate``."""

    def __call__(self, step):
        raise NotImplementedError

    def get_config(self) -> dict:
        return dict(vars(self))


class ExponentialDecay(LearningRateSchedule):
    """lr(t) = initial_learning_rate * decay_rate ** (t / decay_steps) (t // decay_steps
    with staircase=True)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name=None):
        if decay_steps <= 0:
            raise ValueError(f"ExponentialDecay: decay_steps must be > 0, got {decay_steps}")
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.decay_rate, self.staircase = decay_rate, staircase

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p)
                                                                if self.staircase else p)


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] while t <= boundaries[0], values[i] while boundaries[i-1] < t <=
    boundaries[i], values[-1] after the last boundary."""

    def __init__(self, boundaries, values, name=None):
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay: needs len(values) == len(boundaries) + "
                             f"1, got {len(values)} values and {len(boundaries)} boundaries")
        self.boundaries, self.values = list(boundaries), list(values)

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]


class CosineDecay(LearningRateSchedule):
    """lr(t) = initial_learning_rate * ((1 - alpha) * 0.5 (1 + cos(pi min(t, T) / T)) +
    alpha), T = decay_steps (no warmup)."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name=None,
                 warmup_target=None, warmup_steps=0):
        if warmup_target is not None or warmup_steps:
            raise ValueError("CosineDecay: warmup_target/warmup_steps are not supported by "
                             "tinymm.keras")
        self.initial_learning_rate, self.decay_steps, self.alpha = (initial_learning_rate,
                                                                    decay_steps, alpha)

    def __call__(self, step):
        t = min(step, self.decay_steps)
        cosine = 0.5 * (1 + math.cos(math.pi * t / self.decay_steps))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)


class _Schedules:
    ExponentialDecay = ExponentialDecay
    PiecewiseConstantDecay = PiecewiseConstantDecay
    CosineDecay = CosineDecay
    LearningRateSchedule = LearningRateSchedule


schedules = _Schedules()


_BY_NAME = {"adam": Adam, "adamw": AdamW, "sgd": SGD, "rmsprop": RMSprop, "adagrad": Adagrad,
            "adadelta": Adadelta, "nadam": Nadam, "adamax": Adamax, "lion": Lion}


def get(identifier):
    """A name ("adam"), a Keras-style spec or a ``tinymm.optim`` optimizer."""
    if isinstance(identifier, str):
        return by_name("optimizer", _BY_NAME, identifier,
                       ", or pass tinymm.keras.optimizers.Adam(learning_rate=...)")
    if isinstance(identifier, (Optimizer, optim.Optimizer)):
        return identifier
    raise TypeError(f"optimizer must be a name, a tinymm.keras.optimizers spec or a "
                    f"tinymm.optim optimizer, got {type(identifier).__name__}")

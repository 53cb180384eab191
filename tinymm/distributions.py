"""``torch.distributions``: Categorical, Bernoulli and Normal, with PyTorch's parameters,
shapes and formulas, for policy-gradient and variational programs.

A distribution holds its parameters as Tensors, so ``log_prob``, ``entropy`` and ``rsample``
are compositions of Tensor ops and autograd carries gradients back to whatever produced the
parameters (a policy network's softmax, an encoder's mean and scale). ``sample`` draws without
a gradient from tinymm's seeded generator (``tinymm.manual_seed``), so the same seed gives the
same draws in tinymm, not the numbers torch draws.

Shapes, as PyTorch: ``batch_shape`` is the shape of independent distributions, ``event_shape``
the shape of one draw (``()`` for all three here); ``sample(sample_shape)`` returns
``sample_shape + batch_shape + event_shape``.

Parameters are validated on construction and ``log_prob`` values on use, as PyTorch does by
default (``validate_args=False`` turns it off): a bad one raises ValueError naming the
distribution, the constraint and what came.
"""

from __future__ import annotations

import math

import numpy as np

from tinymm import dtypes as _dt
from tinymm.autograd import no_grad
from tinymm.factories import bernoulli, multinomial, randn
from tinymm.ops.loss import binary_cross_entropy_with_logits
from tinymm.tensor import Tensor, as_tensor

__all__ = ["Bernoulli", "Categorical", "Distribution", "Normal", "kl_divergence"]


def _float_tensor(value) -> Tensor:
    """A parameter as a float Tensor: Python numbers take the default dtype, as PyTorch."""
    if isinstance(value, Tensor):
        return value if value.dtype.kind == "f" else value.to(_dt.DEFAULT_FLOAT)
    return as_tensor(np.asarray(value, dtype=_dt.DEFAULT_FLOAT))


def _host(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _shape(sample_shape) -> tuple:
    return (int(sample_shape),) if isinstance(sample_shape, int) else tuple(sample_shape)


class Distribution:
    """The base: shapes, ``sample`` through ``rsample`` where there is one, and validation."""

    has_rsample = False

    def __init__(self, batch_shape=(), event_shape=(), validate_args: bool | None = None):
        self._batch_shape = tuple(batch_shape)
        self._event_shape = tuple(event_shape)
        self._validate_args = True if validate_args is None else bool(validate_args)

    @property
    def batch_shape(self) -> tuple:
        return self._batch_shape

    @property
    def event_shape(self) -> tuple:
        return self._event_shape

    def _extended_shape(self, sample_shape=()) -> tuple:
        return _shape(sample_shape) + self._batch_shape + self._event_shape

    def sample(self, sample_shape=()) -> Tensor:
        with no_grad():
            return self.rsample(sample_shape).detach()

    def rsample(self, sample_shape=()) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no reparameterised rsample; "
                                  "use sample() (no gradient) with log_prob (REINFORCE)")

    def log_prob(self, value) -> Tensor:
        raise NotImplementedError

    def entropy(self) -> Tensor:
        raise NotImplementedError

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def perplexity(self) -> Tensor:
        return self.entropy().exp()

    def _fail(self, name: str, constraint: str, t: Tensor) -> None:
        raise ValueError(f"{type(self).__name__}: expected {name} (Tensor of shape "
                         f"{tuple(t.shape)}) to satisfy {constraint}, but found invalid values")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(batch_shape={self._batch_shape})"


class Categorical(Distribution):
    """``Categorical(probs=None, logits=None)``: K categories along the last dim. ``probs``
    (non-negative, normalised here) or ``logits`` (unnormalised log-probabilities), exactly
    one. Samples are int64 indices in [0, K)."""

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None):
        if (probs is None) == (logits is None):
            raise ValueError("Categorical: either `probs` or `logits` must be specified, but "
                             "not both")
        given = _float_tensor(probs if probs is not None else logits)
        if given.ndim < 1:
            raise ValueError("Categorical: `probs` or `logits` must be at least one-dimensional, "
                             f"got shape {tuple(given.shape)}")
        super().__init__(given.shape[:-1], (), validate_args)
        if self._validate_args:
            values = _host(given)
            if probs is not None and not (np.isfinite(values).all() and (values >= 0).all()
                                          and (values.sum(-1) > 0).all()):
                self._fail("probs", "the simplex (finite, non-negative, positive sum)", given)
            if logits is not None and np.isnan(values).any():
                self._fail("logits", "real values (no NaN)", given)
        if probs is not None:
            self.probs = given / given.sum(-1, keepdim=True)
            eps = float(np.finfo(self.probs.dtype).eps)
            self.logits = self.probs.clamp(eps, 1 - eps).log()
        else:
            self.logits = given - given.logsumexp(-1, keepdim=True)
            self.probs = self.logits.softmax(-1)
        self._num_events = given.shape[-1]

    @property
    def param_shape(self) -> tuple:
        return tuple(self.probs.shape)

    @property
    def mean(self) -> Tensor:
        return Tensor._make(np.full(self._batch_shape, np.nan, self.probs.dtype))

    variance = mean

    @property
    def mode(self) -> Tensor:
        return self.probs.argmax(-1)

    def sample(self, sample_shape=()) -> Tensor:
        shape = _shape(sample_shape)
        n = int(np.prod(shape)) if shape else 1
        rows = self.probs.detach().reshape(-1, self._num_events)  # (B, K)
        draws = multinomial(rows, n, replacement=True)  # (B, n)
        return draws.T.reshape(*shape, *self._batch_shape)

    def log_prob(self, value) -> Tensor:
        value = as_tensor(value)
        if self._validate_args:
            v = _host(value)
            if not ((v == np.round(v)).all() and (v >= 0).all() and (v < self._num_events).all()):
                self._fail("value", f"integers in [0, {self._num_events})", value)
        index = value.long().unsqueeze(-1)  # (..., 1)
        shape = np.broadcast_shapes(tuple(index.shape)[:-1], tuple(self.logits.shape)[:-1])
        log_pmf = self.logits.expand(*shape, self._num_events)
        return log_pmf.gather(-1, index.expand(*shape, 1)).squeeze(-1)

    def entropy(self) -> Tensor:
        logits = self.logits.clamp(min=float(np.finfo(self.logits.dtype).min))
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        values = Tensor._make(np.arange(self._num_events, dtype=np.int64))
        values = values.reshape(-1, *(1,) * len(self._batch_shape))
        return values.expand(-1, *self._batch_shape) if expand else values


class Bernoulli(Distribution):
    """``Bernoulli(probs=None, logits=None)``: 1 with probability ``probs`` (or
    ``sigmoid(logits)``), elementwise; samples are floats 0.0 or 1.0 in the parameter's
    dtype."""

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None):
        if (probs is None) == (logits is None):
            raise ValueError("Bernoulli: either `probs` or `logits` must be specified, but "
                             "not both")
        given = _float_tensor(probs if probs is not None else logits)
        super().__init__(given.shape, (), validate_args)
        if self._validate_args and probs is not None:
            values = _host(given)
            if not ((values >= 0) & (values <= 1)).all():
                self._fail("probs", "the unit interval [0, 1]", given)
        if probs is not None:
            self.probs = given
            eps = float(np.finfo(given.dtype).eps)
            clamped = given.clamp(eps, 1 - eps)
            self.logits = clamped.log() - (1 - clamped).log()
        else:
            self.logits = given
            self.probs = given.sigmoid()

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        """1 where probs > 0.5, 0 where below, NaN where exactly 0.5 (as PyTorch)."""
        mode = (self.probs >= 0.5).to(self.probs.dtype)
        return mode.masked_fill(self.probs == 0.5, float("nan"))

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=()) -> Tensor:
        return bernoulli(self.probs.detach().expand(*self._extended_shape(sample_shape)))

    def log_prob(self, value) -> Tensor:
        value = _float_tensor(value)
        if self._validate_args:
            v = _host(value)
            if not ((v == 0) | (v == 1)).all():
                self._fail("value", "the set {0, 1}", value)
        logits, value = _broadcast(self.logits, value)
        return -binary_cross_entropy_with_logits(logits, value, reduction="none")

    def entropy(self) -> Tensor:
        return binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")


def _broadcast(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
    return a.expand(*shape), b.expand(*shape)


class Normal(Distribution):
    """``Normal(loc, scale)``: elementwise Gaussians, ``loc`` and ``scale`` broadcast (numbers
    take the default dtype); ``scale`` must be positive. ``rsample`` is ``loc + eps * scale``
    (gradients reach both)."""

    has_rsample = True

    def __init__(self, loc, scale, validate_args: bool | None = None):
        loc, scale = _float_tensor(loc), _float_tensor(scale)
        if loc.dtype != scale.dtype:
            wide = np.promote_types(loc.dtype, scale.dtype)
            loc, scale = loc.to(wide), scale.to(wide)
        self.loc, self.scale = _broadcast(loc, scale)
        super().__init__(self.loc.shape, (), validate_args)
        if self._validate_args:
            if np.isnan(_host(self.loc)).any():
                self._fail("loc", "real values (no NaN)", self.loc)
            if not (_host(self.scale) > 0).all():
                self._fail("scale", "positive values (GreaterThan(lower_bound=0.0))",
                           self.scale)

    @property
    def mean(self) -> Tensor:
        return self.loc

    mode = mean

    @property
    def stddev(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        return self.scale.pow(2)

    def rsample(self, sample_shape=()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        eps = randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + eps * self.scale

    def log_prob(self, value) -> Tensor:
        value = as_tensor(value)
        var = self.scale ** 2
        return (-((value - self.loc) ** 2) / (2 * var) - self.scale.log()
                - math.log(math.sqrt(2 * math.pi)))

    def entropy(self) -> Tensor:
        return 0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()

    def cdf(self, value) -> Tensor:
        value = as_tensor(value)
        return 0.5 * (1 + ((value - self.loc) / (self.scale * math.sqrt(2))).erf())


def kl_divergence(p: Distribution, q: Distribution) -> Tensor:
    """KL(p || q) for two Normals or two Categoricals (PyTorch's closed forms)."""
    if isinstance(p, Normal) and isinstance(q, Normal):
        var_ratio = (p.scale / q.scale).pow(2)
        t1 = ((p.loc - q.loc) / q.scale).pow(2)
        return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())
    if isinstance(p, Categorical) and isinstance(q, Categorical):
        t = p.probs * (p.logits - q.logits)
        return t.masked_fill(p.probs == 0, 0.0).sum(-1)
    raise NotImplementedError(f"kl_divergence: no closed form for {type(p).__name__} and "
                              f"{type(q).__name__} (tinymm has Normal-Normal and "
                              "Categorical-Categorical)")

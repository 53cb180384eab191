"""Numba optimizer updates: one fused in-place loop per parameter (kernels/reference/optim.py).

Each loop reads a parameter element, its gradient and its state once and writes them back,
instead of one NumPy pass (and temporary) per line of the formula. The per-element update is
the rule of ``kernels/optim_rules.py`` (the cuda backend compiles the same rules), inlined into
the loop. The hyper-parameters are rounded to the parameter's dtype first, as NumPy does with a
scalar operand, and the lines are evaluated in the reference's order without fastmath (no
fused multiply-adds, correctly rounded sqrt and division), so the result is bit-identical to
the reference and to tinymm.optim. The loops compile with ``error_model="numpy"``: a division
by zero gives inf or NaN as the reference's NumPy does, where Python's error model would raise,
and without that check in every division LLVM vectorises the loops (sqrt and division stay
correctly rounded). Parameters and state must be C-contiguous (they are allocated so); other
layouts use the reference.
"""

from __future__ import annotations

from numba import njit

from tinymm.kernels import optim_rules as rules
from tinymm.kernels.reference import optim as _reference

_sgd_rule = njit(inline="always")(rules.sgd_rule)
_adam_rule = njit(inline="always")(rules.adam_rule)
_rmsprop_rule = njit(inline="always")(rules.rmsprop_rule)
_adagrad_rule = njit(inline="always")(rules.adagrad_rule)
_adadelta_rule = njit(inline="always")(rules.adadelta_rule)
_nadam_rule = njit(inline="always")(rules.nadam_rule)


@njit(cache=True, error_model="numpy")
def _sgd(p, g, buf, lr, momentum, damp, wd, has_wd, has_momentum, nesterov, first):
    for i in range(p.size):
        pi, b = _sgd_rule(p[i], g[i], buf[i], lr, momentum, damp, wd, has_wd, has_momentum,
                          nesterov, first)
        if has_momentum:
            buf[i] = b
        p[i] = pi


@njit(cache=True, error_model="numpy")
def _adam(p, g, m, v, vmax, has_max, has_wd, decoupled, wd, decay, one_minus_b1, b2,
          one_minus_b2, sqrt_bc2, eps, neg_step_size):
    for i in range(p.size):
        p[i], m[i], v[i], top = _adam_rule(p[i], g[i], m[i], v[i], vmax[i], has_max, has_wd,
                                           decoupled, wd, decay, one_minus_b1, b2,
                                           one_minus_b2, sqrt_bc2, eps, neg_step_size)
        if has_max:
            vmax[i] = top


@njit(cache=True, error_model="numpy")
def _rmsprop(p, g, v, buf, gbar, has_wd, wd, alpha, one_minus_alpha, eps, centered,
             has_momentum, momentum, lr, neg_lr):
    for i in range(p.size):
        pi, v[i], b, ga = _rmsprop_rule(p[i], g[i], v[i], buf[i], gbar[i], has_wd, wd, alpha,
                                        one_minus_alpha, eps, centered, has_momentum, momentum,
                                        lr, neg_lr)
        if has_momentum:
            buf[i] = b
        if centered:
            gbar[i] = ga
        p[i] = pi  # last: buf and gbar alias p when they are absent


@njit(cache=True, error_model="numpy")
def _adagrad(p, g, s, has_wd, wd, eps, neg_clr):
    for i in range(p.size):
        p[i], s[i] = _adagrad_rule(p[i], g[i], s[i], has_wd, wd, eps, neg_clr)


@njit(cache=True, error_model="numpy")
def _adadelta(p, g, v, u, has_wd, wd, rho, one_minus_rho, eps, lr, one):
    for i in range(p.size):
        p[i], v[i], u[i] = _adadelta_rule(p[i], g[i], v[i], u[i], has_wd, wd, rho,
                                          one_minus_rho, eps, lr, one)


@njit(cache=True, error_model="numpy")
def _nadam(p, g, m, v, has_wd, decoupled, wd, decay, one_minus_b1, b2, one_minus_b2, bc2, eps,
           coef_g, coef_m):
    for i in range(p.size):
        p[i], m[i], v[i] = _nadam_rule(p[i], g[i], m[i], v[i], has_wd, decoupled, wd, decay,
                                       one_minus_b1, b2, one_minus_b2, bc2, eps, coef_g, coef_m)


def _flat(*arrays):
    """1-d views of C-contiguous floating arrays of one dtype, or None when one is not."""
    if arrays[0].dtype.kind != "f" or any(
            not a.flags.c_contiguous or a.dtype != arrays[0].dtype for a in arrays):
        return None
    return [a.reshape(-1) for a in arrays]


def sgd_step(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
             nesterov=False, first_step=False):
    buf = momentum_buffer if momentum_buffer is not None else param  # unread without momentum
    flat = _flat(param, grad, buf)
    if flat is None:
        return _reference.sgd_step(param, grad, momentum_buffer, lr, momentum, dampening,
                                   weight_decay, nesterov, first_step)
    t = param.dtype.type
    _sgd(*flat, t(lr), t(momentum), t(1 - dampening), t(weight_decay), bool(weight_decay),
         bool(momentum), bool(nesterov), bool(first_step))
    return None


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
              weight_decay=0.0, decoupled=False):
    vmax = max_exp_avg_sq if max_exp_avg_sq is not None else exp_avg_sq  # unread without it
    flat = _flat(param, grad, exp_avg, exp_avg_sq, vmax)
    if flat is None:
        return _reference.adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr,
                                    beta1, beta2, eps, weight_decay, decoupled)
    t = param.dtype.type
    step = float(step)
    _adam(*flat, max_exp_avg_sq is not None, bool(weight_decay), bool(decoupled),
          t(weight_decay), t(1 - lr * weight_decay), t(1 - beta1), t(beta2), t(1 - beta2),
          t((1 - beta2**step) ** 0.5), t(eps), t(-(lr / (1 - beta1**step))))
    return None


def rmsprop_step(param, grad, square_avg, momentum_buffer, grad_avg, lr, alpha, eps,
                 weight_decay=0.0, momentum=0.0):
    buf = momentum_buffer if momentum_buffer is not None else param  # unread when absent
    gbar = grad_avg if grad_avg is not None else param
    flat = _flat(param, grad, square_avg, buf, gbar)
    if flat is None or (momentum > 0 and momentum_buffer is None):
        return _reference.rmsprop_step(param, grad, square_avg, momentum_buffer, grad_avg, lr,
                                       alpha, eps, weight_decay, momentum)
    t = param.dtype.type
    _rmsprop(*flat, bool(weight_decay), t(weight_decay), t(alpha), t(1 - alpha), t(eps),
             grad_avg is not None, momentum > 0, t(momentum), t(lr), t(-lr))
    return None


def adagrad_step(param, grad, state_sum, step, lr, lr_decay=0.0, weight_decay=0.0, eps=1e-10):
    flat = _flat(param, grad, state_sum)
    if flat is None:
        return _reference.adagrad_step(param, grad, state_sum, step, lr, lr_decay, weight_decay,
                                       eps)
    t = param.dtype.type
    clr = lr / (1 + (step - 1) * lr_decay)
    _adagrad(*flat, bool(weight_decay), t(weight_decay), t(eps), t(-clr))
    return None


def adadelta_step(param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay=0.0):
    flat = _flat(param, grad, square_avg, acc_delta)
    if flat is None:
        return _reference.adadelta_step(param, grad, square_avg, acc_delta, lr, rho, eps,
                                        weight_decay)
    t = param.dtype.type
    _adadelta(*flat, bool(weight_decay), t(weight_decay), t(rho), t(1 - rho), t(eps),
              t(lr), t(1))
    return None


def nadam_step(param, grad, exp_avg, exp_avg_sq, step, mu_product, lr, beta1, beta2, eps,
               weight_decay=0.0, momentum_decay=4e-3, decoupled=False):
    flat = _flat(param, grad, exp_avg, exp_avg_sq)
    if flat is None:
        return _reference.nadam_step(param, grad, exp_avg, exp_avg_sq, step, mu_product, lr,
                                     beta1, beta2, eps, weight_decay, momentum_decay, decoupled)
    t = param.dtype.type
    coef_g, coef_m = _reference.nadam_coefficients(step, mu_product, lr, beta1, momentum_decay)
    _nadam(*flat, bool(weight_decay), bool(decoupled), t(weight_decay),
           t(1 - lr * weight_decay), t(1 - beta1), t(beta2), t(1 - beta2),
           t(1 - beta2 ** float(step)), t(eps), t(coef_g), t(coef_m))
    return None

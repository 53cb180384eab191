"""Numba optimizer updates: one fused in-place loop per parameter (kernels/reference/optim.py).

Each loop reads a parameter element, its gradient and its state once and writes them back,
instead of one NumPy pass (and temporary) per line of the formula. The hyper-parameters are
rounded to the parameter's dtype first, as NumPy does with a scalar operand, and the lines are
evaluated in the reference's order without fastmath (no fused multiply-adds, correctly rounded
sqrt and division), so the result is bit-identical to the reference and to tinymm.optim.
Parameters and state must be C-contiguous (they are allocated so); other layouts use the
reference.
"""

from __future__ import annotations

import math

from numba import njit

from tinymm.kernels.reference import optim as _reference


@njit(cache=True)
def _sgd(p, g, buf, lr, momentum, damp, wd, has_wd, has_momentum, nesterov, first):
    for i in range(p.size):
        gi = g[i]
        if has_wd:
            gi = p[i] * wd + gi
        if has_momentum:
            if first:
                b = gi
            else:
                b = buf[i] * momentum + gi * damp
            buf[i] = b
            if nesterov:
                gi = gi + b * momentum
            else:
                gi = b
        p[i] = p[i] - gi * lr


@njit(cache=True)
def _adam(p, g, m, v, vmax, has_max, has_wd, decoupled, wd, decay, one_minus_b1, b2,
          one_minus_b2, sqrt_bc2, eps, neg_step_size):
    for i in range(p.size):
        pi = p[i]
        gi = g[i]
        if has_wd:
            if decoupled:
                pi = pi * decay
            else:
                gi = gi + wd * pi
        mi = m[i] + (gi - m[i]) * one_minus_b1
        vi = v[i] * b2 + (gi * one_minus_b2) * gi
        m[i] = mi
        v[i] = vi
        if has_max:
            old = vmax[i]
            if vi > old or vi != vi:  # np.maximum: the larger, NaN propagates
                vmax[i] = vi
            else:
                vi = old
        denom = math.sqrt(vi) / sqrt_bc2 + eps
        p[i] = pi + (mi * neg_step_size) / denom


def _flat(*arrays):
    """1-d views of C-contiguous arrays of one dtype, or None when one is not."""
    if any(not a.flags.c_contiguous or a.dtype != arrays[0].dtype for a in arrays):
        return None
    return [a.reshape(-1) for a in arrays]


def sgd_step(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
             nesterov=False, first_step=False):
    buf = momentum_buffer if momentum_buffer is not None else param  # unread without momentum
    flat = _flat(param, grad, buf)
    if flat is None or param.dtype.kind != "f":
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
    if flat is None or param.dtype.kind != "f":
        return _reference.adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr,
                                    beta1, beta2, eps, weight_decay, decoupled)
    t = param.dtype.type
    step = float(step)
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    _adam(*flat, max_exp_avg_sq is not None, bool(weight_decay), bool(decoupled),
          t(weight_decay), t(1 - lr * weight_decay), t(1 - beta1), t(beta2), t(1 - beta2),
          t(bias_correction2**0.5), t(eps), t(-(lr / bias_correction1)))
    return None

"""The optimizer updates for one element: the per-element form of kernels/reference/optim.py.

Plain Python on scalars, written once and compiled twice: the numba CPU backend inlines each
rule into an ``@njit`` loop over the parameter, the cuda backend into a ``@cuda.jit`` kernel
with one thread per element (``numba_cpu/optim.py``, ``numba_cuda/optim.py``). Each rule takes
the element of the parameter, its gradient and its state, and the hyper-parameters already
rounded to the parameter's dtype (as NumPy rounds a scalar operand), and returns the new
element values; the caller writes back the state it owns. The lines are evaluated in the
reference's order, so without fused multiply-adds the result is bit-identical to it. Flags
(``has_wd``, ``centered``...) are bools on the CPU and int64 in a CUDA kernel: the rules only
test their truth.
"""

from __future__ import annotations

import math


def sgd_rule(pi, gi, bi, lr, momentum, damp, wd, has_wd, has_momentum, nesterov, first):
    """(p, b): SGD with momentum ``b`` (b is returned unchanged without momentum)."""
    if has_wd:
        gi = pi * wd + gi
    if has_momentum:
        if first:
            bi = gi
        else:
            bi = bi * momentum + gi * damp
        if nesterov:
            gi = gi + bi * momentum
        else:
            gi = bi
    return pi - gi * lr, bi


def adam_rule(pi, gi, mi, vi, vmax, has_max, has_wd, decoupled, wd, decay, one_minus_b1, b2,
              one_minus_b2, sqrt_bc2, eps, neg_step_size):
    """(p, m, v, vmax): Adam / AdamW, amsgrad when ``has_max`` (vmax unchanged otherwise)."""
    if has_wd:
        if decoupled:
            pi = pi * decay  # AdamW: p (1 - lr wd)
        else:
            gi = gi + wd * pi  # Adam: L2 decay folded into the gradient
    mi = mi + (gi - mi) * one_minus_b1
    vi = vi * b2 + (gi * one_minus_b2) * gi
    v_used = vi
    if has_max:
        if vi > vmax or vi != vi:  # np.maximum: the larger, NaN propagates
            vmax = vi
        v_used = vmax
    denom = math.sqrt(v_used) / sqrt_bc2 + eps
    return pi + (mi * neg_step_size) / denom, mi, vi, vmax


def rmsprop_rule(pi, gi, vi, bi, gbar, has_wd, wd, alpha, one_minus_alpha, eps, centered,
                 has_momentum, momentum, lr, neg_lr):
    """(p, v, b, gbar): RMSprop; b and gbar come back unchanged when unused."""
    if has_wd:
        gi = gi + wd * pi
    vi = vi * alpha + (one_minus_alpha * gi) * gi
    if centered:
        gbar = gbar + one_minus_alpha * (gi - gbar)
        avg = math.sqrt(vi - gbar * gbar) + eps
    else:
        avg = math.sqrt(vi) + eps
    if has_momentum:
        bi = bi * momentum + gi / avg
        pi = pi - lr * bi
    else:
        pi = pi + (neg_lr * gi) / avg
    return pi, vi, bi, gbar


def adagrad_rule(pi, gi, si, has_wd, wd, eps, neg_clr):
    """(p, s): Adagrad with the step's decayed learning rate ``-clr``."""
    if has_wd:
        gi = gi + wd * pi
    si = si + gi * gi
    return pi + (neg_clr * gi) / (math.sqrt(si) + eps), si


def adadelta_rule(pi, gi, vi, ui, has_wd, wd, rho, one_minus_rho, eps, lr, one):
    """(p, v, u): Adadelta. ``one`` (1 in the dtype) keeps the sqrt quotient in the dtype in
    the CUDA simulator, whose math.sqrt returns a Python float."""
    if has_wd:
        gi = gi + wd * pi
    vi = vi * rho + (one_minus_rho * gi) * gi
    std = math.sqrt(vi + eps) * one
    delta = math.sqrt(ui + eps) / std * gi
    ui = ui * rho + (one_minus_rho * delta) * delta
    return pi - lr * delta, vi, ui


def nadam_rule(pi, gi, mi, vi, has_wd, decoupled, wd, decay, one_minus_b1, b2, one_minus_b2,
               bc2, eps, coef_g, coef_m):
    """(p, m, v): NAdam with the step coefficients of ``reference.optim.nadam_coefficients``."""
    if has_wd:
        if decoupled:
            pi = pi * decay
        else:
            gi = gi + wd * pi
    mi = mi + one_minus_b1 * (gi - mi)
    vi = vi * b2 + (one_minus_b2 * gi) * gi
    denom = math.sqrt(vi / bc2) + eps
    pi = pi + (coef_g * gi) / denom
    return pi + (coef_m * mi) / denom, mi, vi


def radam_rule(pi, gi, mi, vi, has_wd, decoupled, wd, decay, one_minus_b1, b2, one_minus_b2,
               bc1, rectified, sqrt_bc2, eps, lr, rect):
    """(p, m, v): RAdam with (rectified, rect) of ``reference.optim.radam_coefficients``."""
    if has_wd:
        if decoupled:
            pi = pi * decay
        else:
            gi = gi + wd * pi
    mi = mi + (gi - mi) * one_minus_b1
    vi = vi * b2
    vi = vi + (gi * gi) * one_minus_b2
    corrected = mi / bc1
    if rectified:
        adaptive = sqrt_bc2 / (math.sqrt(vi) + eps)
        return pi - ((corrected * lr) * adaptive) * rect, mi, vi
    return pi - corrected * lr, mi, vi


def adamax_rule(pi, gi, mi, ui, has_wd, wd, one_minus_b1, b2, eps, clr):
    """(p, m, u): Adamax; ``clr`` = lr / (1 - b1^t)."""
    if has_wd:
        gi = gi + wd * pi
    mi = mi + (gi - mi) * one_minus_b1
    ui = ui * b2
    floor = abs(gi) + eps
    if floor > ui or floor != floor:  # np.maximum: the larger, NaN propagates
        ui = floor
    return pi - (clr * mi) / ui, mi, ui


def lion_rule(pi, gi, mi, lr, b1, one_minus_b1, b2, one_minus_b2, one):
    """(p, m): Lion; np.sign of the interpolated moment (``one``: 1 in the dtype)."""
    c = mi * b1 + gi * one_minus_b1
    sign = c - c  # +0 for either zero (as np.sign), NaN for NaN
    if c > 0:
        sign = one
    elif c < 0:
        sign = -one
    return pi - lr * sign, mi * b2 + gi * one_minus_b2

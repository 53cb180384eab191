"""Numba RAdam, Adamax and Lion updates (the other optimizers: numba_cpu/optim.py).

One fused in-place loop per parameter over the rule of ``kernels/optim_rules.py`` (the rule
the cuda backend compiles too), with the step's scalars computed on the host as the cuda
wrappers compute them and rounded to the parameter's dtype, and the lines in the
reference's order without fastmath (``error_model="numpy"``: a division by zero gives inf
or NaN as NumPy does): bit-identical to kernels/reference/optim.py. Parameters and state
must be C-contiguous floating arrays of one dtype; other layouts use the reference.
"""

from __future__ import annotations

from numba import njit

from tinymm.kernels import optim_rules as rules
from tinymm.kernels.reference import optim as _reference

_radam_rule = njit(inline="always")(rules.radam_rule)
_adamax_rule = njit(inline="always")(rules.adamax_rule)
_lion_rule = njit(inline="always")(rules.lion_rule)


@njit(cache=True, error_model="numpy")
def _radam(p, g, m, v, has_wd, decoupled, wd, decay, one_minus_b1, b2, one_minus_b2, bc1,
           rectified, sqrt_bc2, eps, lr, rect):
    for i in range(p.size):
        p[i], m[i], v[i] = _radam_rule(p[i], g[i], m[i], v[i], has_wd, decoupled, wd, decay,
                                       one_minus_b1, b2, one_minus_b2, bc1, rectified,
                                       sqrt_bc2, eps, lr, rect)


@njit(cache=True, error_model="numpy")
def _adamax(p, g, m, u, has_wd, wd, one_minus_b1, b2, eps, clr):
    for i in range(p.size):
        p[i], m[i], u[i] = _adamax_rule(p[i], g[i], m[i], u[i], has_wd, wd, one_minus_b1, b2,
                                        eps, clr)


@njit(cache=True, error_model="numpy")
def _lion(p, g, m, lr, b1, one_minus_b1, b2, one_minus_b2, one):
    for i in range(p.size):
        p[i], m[i] = _lion_rule(p[i], g[i], m[i], lr, b1, one_minus_b1, b2, one_minus_b2, one)


def _flat(*arrays):
    """1-d views of C-contiguous floating arrays of one dtype, or None when one is not."""
    if arrays[0].dtype.kind != "f" or any(
            not a.flags.c_contiguous or a.dtype != arrays[0].dtype for a in arrays):
        return None
    return [a.reshape(-1) for a in arrays]


def radam_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps,
               weight_decay=0.0, decoupled=False):
    flat = _flat(param, grad, exp_avg, exp_avg_sq)
    if flat is None:
        return _reference.radam_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2,
                                     eps, weight_decay, decoupled)
    t = param.dtype.type
    rectified, rect = _reference.radam_coefficients(step, beta2)
    _radam(*flat, bool(weight_decay), bool(decoupled), t(weight_decay), t(1 - lr * weight_decay),
           t(1 - beta1), t(beta2), t(1 - beta2), t(1 - beta1 ** float(step)), bool(rectified),
           t((1 - beta2 ** float(step)) ** 0.5), t(eps), t(lr), t(rect))
    return None


def adamax_step(param, grad, exp_avg, exp_inf, step, lr, beta1, beta2, eps, weight_decay=0.0):
    flat = _flat(param, grad, exp_avg, exp_inf)
    if flat is None:
        return _reference.adamax_step(param, grad, exp_avg, exp_inf, step, lr, beta1, beta2, eps,
                                      weight_decay)
    t = param.dtype.type
    _adamax(*flat, bool(weight_decay), t(weight_decay), t(1 - beta1), t(beta2), t(eps),
            t(lr / (1 - beta1 ** float(step))))
    return None


def lion_step(param, grad, exp_avg, lr, beta1, beta2):
    flat = _flat(param, grad, exp_avg)
    if flat is None:
        return _reference.lion_step(param, grad, exp_avg, lr, beta1, beta2)
    t = param.dtype.type
    _lion(*flat, t(lr), t(beta1), t(1 - beta1), t(beta2), t(1 - beta2), t(1))
    return None

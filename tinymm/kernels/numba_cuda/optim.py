"""CUDA optimizer updates, one fused kernel per parameter (derivation: kernels/reference/optim.py).

``sgd_step``, ``adam_step``, ``rmsprop_step``, ``adagrad_step``, ``adadelta_step``,
``nadam_step``, ``radam_step``, ``adamax_step`` and ``lion_step`` read each parameter
element, its gradient and its state once, update all of them in registers and write them
back: one launch and one pass over memory per parameter and step (NumPy needs one pass per
line of the formula). One thread per element; the element update is the rule of
``kernels/optim_rules.py`` (the numba CPU backend compiles the same rules), inlined as a
device function. They update their device arrays in place and return None.

Numerics: the hyper-parameters are rounded to the parameter's dtype on the host, as NumPy
does with a scalar operand, and every line of the formula is evaluated in that dtype in the
reference's order, so the simulator reproduces tinymm.optim bit for bit. On a GPU the
compiler may contract ``a * b + c`` into one fused multiply-add (one rounding instead of
two), so results there agree to the last unit or so, as PyTorch's own CUDA optimizers do.
"""

from __future__ import annotations

from numba import cuda

from tinymm.kernels import optim_rules as rules
from tinymm.kernels.numba_cuda._device import grid_1d, require_device
from tinymm.kernels.reference.optim import nadam_coefficients, radam_coefficients

_sgd_rule = cuda.jit(device=True, inline=True)(rules.sgd_rule)
_adam_rule = cuda.jit(device=True, inline=True)(rules.adam_rule)
_rmsprop_rule = cuda.jit(device=True, inline=True)(rules.rmsprop_rule)
_adagrad_rule = cuda.jit(device=True, inline=True)(rules.adagrad_rule)
_adadelta_rule = cuda.jit(device=True, inline=True)(rules.adadelta_rule)
_nadam_rule = cuda.jit(device=True, inline=True)(rules.nadam_rule)
_radam_rule = cuda.jit(device=True, inline=True)(rules.radam_rule)
_adamax_rule = cuda.jit(device=True, inline=True)(rules.adamax_rule)
_lion_rule = cuda.jit(device=True, inline=True)(rules.lion_rule)


def _sgd(p, g, buf, lr, momentum, damp, wd, has_wd, has_momentum, nesterov, first):
    i = cuda.grid(1)
    if i < p.size:
        pi, b = _sgd_rule(p[i], g[i], buf[i], lr, momentum, damp, wd, has_wd, has_momentum,
                          nesterov, first)
        if has_momentum:
            buf[i] = b
        p[i] = pi


def _adam(p, g, m, v, vmax, has_max, has_wd, decoupled, wd, decay, one_minus_b1, b2,
          one_minus_b2, sqrt_bc2, eps, neg_step_size):
    i = cuda.grid(1)
    if i < p.size:
        p[i], m[i], v[i], top = _adam_rule(p[i], g[i], m[i], v[i], vmax[i], has_max, has_wd,
                                           decoupled, wd, decay, one_minus_b1, b2,
                                           one_minus_b2, sqrt_bc2, eps, neg_step_size)
        if has_max:
            vmax[i] = top


def _rmsprop(p, g, v, buf, gbar, has_wd, wd, alpha, one_minus_alpha, eps, centered,
             has_momentum, momentum, lr, neg_lr):
    i = cuda.grid(1)
    if i < p.size:
        pi, vi, b, ga = _rmsprop_rule(p[i], g[i], v[i], buf[i], gbar[i], has_wd, wd, alpha,
                                      one_minus_alpha, eps, centered, has_momentum, momentum,
                                      lr, neg_lr)
        v[i] = vi
        if has_momentum:
            buf[i] = b
        if centered:
            gbar[i] = ga
        p[i] = pi  # last: buf and gbar alias p when they are absent


def _adagrad(p, g, s, has_wd, wd, eps, neg_clr):
    i = cuda.grid(1)
    if i < p.size:
        p[i], s[i] = _adagrad_rule(p[i], g[i], s[i], has_wd, wd, eps, neg_clr)


def _adadelta(p, g, v, u, has_wd, wd, rho, one_minus_rho, eps, lr, one):
    i = cuda.grid(1)
    if i < p.size:
        p[i], v[i], u[i] = _adadelta_rule(p[i], g[i], v[i], u[i], has_wd, wd, rho,
                                          one_minus_rho, eps, lr, one)


def _nadam(p, g, m, v, has_wd, decoupled, wd, decay, one_minus_b1, b2, one_minus_b2, bc2, eps,
           coef_g, coef_m):
    i = cuda.grid(1)
    if i < p.size:
        p[i], m[i], v[i] = _nadam_rule(p[i], g[i], m[i], v[i], has_wd, decoupled, wd, decay,
                                       one_minus_b1, b2, one_minus_b2, bc2, eps, coef_g, coef_m)


def _radam(p, g, m, v, has_wd, decoupled, wd, decay, one_minus_b1, b2, one_minus_b2, bc1,
           rectified, sqrt_bc2, eps, lr, rect):
    i = cuda.grid(1)
    if i < p.size:
        p[i], m[i], v[i] = _radam_rule(p[i], g[i], m[i], v[i], has_wd, decoupled, wd, decay,
                                       one_minus_b1, b2, one_minus_b2, bc1, rectified,
                                       sqrt_bc2, eps, lr, rect)


def _adamax(p, g, m, u, has_wd, wd, one_minus_b1, b2, eps, clr):
    i = cuda.grid(1)
    if i < p.size:
        p[i], m[i], u[i] = _adamax_rule(p[i], g[i], m[i], u[i], has_wd, wd, one_minus_b1, b2,
                                        eps, clr)


def _lion(p, g, m, lr, b1, one_minus_b1, b2, one_minus_b2, one):
    i = cuda.grid(1)
    if i < p.size:
        p[i], m[i] = _lion_rule(p[i], g[i], m[i], lr, b1, one_minus_b1, b2, one_minus_b2, one)


def _signatures(arrays: int, flags_and_scalars: str):
    """Both float dtypes' signatures: ``arrays`` 1-d arrays, then ``flags_and_scalars``
    (``i`` an int64 flag, ``f`` a scalar of the array dtype)."""
    kinds = {"i": "int64", "f": None}
    return tuple("void(" + ", ".join([f"{t}[::1]"] * arrays + [kinds[k] or t
                                                               for k in flags_and_scalars]) + ")"
                 for t in ("float32", "float64"))


PTX_TARGETS = [
    (_sgd, _signatures(3, "ffffiiii")),
    (_adam, _signatures(5, "iiiffffffff")),
    (_rmsprop, _signatures(5, "iffffiifff")),
    (_adagrad, _signatures(3, "ifff")),
    (_adadelta, _signatures(4, "iffffff")),
    (_nadam, _signatures(4, "iifffffffff")),
    (_radam, _signatures(4, "iiffffffifff")),
    (_adamax, _signatures(4, "iiffff")),
    (_lion, _signatures(3, "ffffff")),
]
sgd_kernel = cuda.jit(_sgd)
adam_kernel = cuda.jit(_adam)
rmsprop_kernel = cuda.jit(_rmsprop)
adagrad_kernel = cuda.jit(_adagrad)
adadelta_kernel = cuda.jit(_adadelta)
nadam_kernel = cuda.jit(_nadam)
radam_kernel = cuda.jit(_radam)
adamax_kernel = cuda.jit(_adamax)
lion_kernel = cuda.jit(_lion)


def _launch(name, kernel, param, state: dict, *scalars):
    """Check ``param`` and its state on the device, then run ``kernel`` over flat views.

    ``state`` maps argument names to device arrays (None: absent, and ``param`` stands in for
    it, unread by the kernel); the kernel gets param, then the state in order, then
    ``scalars``. An empty parameter launches nothing.
    """
    require_device(name, param=param, **state)
    for key, a in state.items():
        if a is not None and (tuple(a.shape) != tuple(param.shape) or a.dtype != param.dtype):
            raise ValueError(f"cuda {name}: {key} is {a.dtype}{tuple(a.shape)}, the parameter "
                             f"{param.dtype}{tuple(param.shape)}")
    if param.size == 0:
        return None
    flat = [(param if a is None else a).reshape(param.size) for a in state.values()]
    blocks, threads = grid_1d(param.size)
    kernel[blocks, threads](param.reshape(param.size), *flat, *scalars)
    return None


def sgd_step(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
             nesterov=False, first_step=False):
    if momentum and momentum_buffer is None:
        raise ValueError("cuda sgd_step: momentum needs a momentum_buffer device array")
    t = param.dtype.type
    return _launch("sgd_step", sgd_kernel, param,
                   {"grad": grad, "momentum_buffer": momentum_buffer}, t(lr), t(momentum),
                   t(1 - dampening), t(weight_decay), int(bool(weight_decay)),
                   int(bool(momentum)), int(bool(nesterov)), int(bool(first_step)))


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
              weight_decay=0.0, decoupled=False):
    t = param.dtype.type
    step = float(step)
    return _launch("adam_step", adam_kernel, param,
                   {"grad": grad, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq,
                    "max_exp_avg_sq": max_exp_avg_sq},
                   int(max_exp_avg_sq is not None), int(bool(weight_decay)),
                   int(bool(decoupled)), t(weight_decay), t(1 - lr * weight_decay),
                   t(1 - beta1), t(beta2), t(1 - beta2), t((1 - beta2**step) ** 0.5), t(eps),
                   t(-(lr / (1 - beta1**step))))


def rmsprop_step(param, grad, square_avg, momentum_buffer, grad_avg, lr, alpha, eps,
                 weight_decay=0.0, momentum=0.0):
    if momentum > 0 and momentum_buffer is None:
        raise ValueError("cuda rmsprop_step: momentum needs a momentum_buffer device array")
    t = param.dtype.type
    return _launch("rmsprop_step", rmsprop_kernel, param,
                   {"grad": grad, "square_avg": square_avg, "momentum_buffer": momentum_buffer,
                    "grad_avg": grad_avg},
                   int(bool(weight_decay)), t(weight_decay), t(alpha), t(1 - alpha), t(eps),
                   int(grad_avg is not None), int(momentum > 0), t(momentum), t(lr), t(-lr))


def adagrad_step(param, grad, state_sum, step, lr, lr_decay=0.0, weight_decay=0.0, eps=1e-10):
    t = param.dtype.type
    clr = lr / (1 + (step - 1) * lr_decay)
    return _launch("adagrad_step", adagrad_kernel, param, {"grad": grad, "state_sum": state_sum},
                   int(bool(weight_decay)), t(weight_decay), t(eps), t(-clr))


def adadelta_step(param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay=0.0):
    t = param.dtype.type
    return _launch("adadelta_step", adadelta_kernel, param,
                   {"grad": grad, "square_avg": square_avg, "acc_delta": acc_delta},
                   int(bool(weight_decay)), t(weight_decay), t(rho), t(1 - rho), t(eps),
                   t(lr), t(1))


def nadam_step(param, grad, exp_avg, exp_avg_sq, step, mu_product, lr, beta1, beta2, eps,
               weight_decay=0.0, momentum_decay=4e-3, decoupled=False):
    t = param.dtype.type
    coef_g, coef_m = nadam_coefficients(step, mu_product, lr, beta1, momentum_decay)
    return _launch("nadam_step", nadam_kernel, param,
                   {"grad": grad, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq},
                   int(bool(weight_decay)), int(bool(decoupled)), t(weight_decay),
                   t(1 - lr * weight_decay), t(1 - beta1), t(beta2), t(1 - beta2),
                   t(1 - beta2 ** float(step)), t(eps), t(coef_g), t(coef_m))


def radam_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps,
               weight_decay=0.0, decoupled=False):
    t = param.dtype.type
    rectified, rect = radam_coefficients(step, beta2)
    return _launch("radam_step", radam_kernel, param,
                   {"grad": grad, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq},
                   int(bool(weight_decay)), int(bool(decoupled)), t(weight_decay),
                   t(1 - lr * weight_decay), t(1 - beta1), t(beta2), t(1 - beta2),
                   t(1 - beta1 ** float(step)), int(rectified),
                   t((1 - beta2 ** float(step)) ** 0.5), t(eps), t(lr), t(rect))


def adamax_step(param, grad, exp_avg, exp_inf, step, lr, beta1, beta2, eps, weight_decay=0.0):
    t = param.dtype.type
    return _launch("adamax_step", adamax_kernel, param,
                   {"grad": grad, "exp_avg": exp_avg, "exp_inf": exp_inf},
                   int(bool(weight_decay)), t(weight_decay), t(1 - beta1), t(beta2), t(eps),
                   t(lr / (1 - beta1 ** float(step))))


def lion_step(param, grad, exp_avg, lr, beta1, beta2):
    t = param.dtype.type
    return _launch("lion_step", lion_kernel, param, {"grad": grad, "exp_avg": exp_avg},
                   t(lr), t(beta1), t(1 - beta1), t(beta2), t(1 - beta2), t(1))

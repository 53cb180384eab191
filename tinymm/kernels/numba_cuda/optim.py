"""CUDA optimizer updates, one fused kernel per parameter (derivation: kernels/reference/optim.py).

``sgd_step`` and ``adam_step`` read each parameter element, its gradient and its state
once, update all of them in registers and write them back: one launch and one pass over
memory per parameter and step (NumPy needs one pass per line of the formula). They update
their device arrays in place and return None.

Numerics: the hyper-parameters are rounded to the parameter's dtype on the host, as NumPy
does with a scalar operand, and every line of the formula is evaluated in that dtype in the
reference's order, so the simulator reproduces tinymm.optim bit for bit. On a GPU the
compiler may contract ``a * b + c`` into one fused multiply-add (one rounding instead of
two), so results there agree to the last unit or so, as PyTorch's own CUDA optimizers do.
"""

from __future__ import annotations

import math

from numba import cuda

from tinymm.kernels.numba_cuda._device import grid_1d, require_device


def _sgd(p, g, buf, lr, momentum, damp, wd, has_wd, has_momentum, nesterov, first):
    i = cuda.grid(1)
    if i < p.size:
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


def _adam(p, g, m, v, vmax, has_max, has_wd, decoupled, wd, decay, one_minus_b1, b2,
          one_minus_b2, sqrt_bc2, eps, neg_step_size):
    i = cuda.grid(1)
    if i < p.size:
        pi = p[i]
        gi = g[i]
        if has_wd:
            if decoupled:
                pi = pi * decay  # AdamW: p (1 - lr wd)
            else:
                gi = gi + wd * pi  # Adam: L2 decay folded into the gradient
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


_FL = ("float32", "float64")
PTX_TARGETS = [
    (_sgd, tuple(f"void({t}[::1], {t}[::1], {t}[::1], {t}, {t}, {t}, {t}, int64, int64, int64, "
                 f"int64)" for t in _FL)),
    (_adam, tuple(f"void({t}[::1], {t}[::1], {t}[::1], {t}[::1], {t}[::1], int64, int64, int64, "
                  f"{t}, {t}, {t}, {t}, {t}, {t}, {t}, {t})" for t in _FL)),
]
sgd_kernel = cuda.jit(_sgd)
adam_kernel = cuda.jit(_adam)


def _check(name, param, **state):
    require_device(name, param=param, **state)
    for key, a in state.items():
        if a is not None and (tuple(a.shape) != tuple(param.shape) or a.dtype != param.dtype):
            raise ValueError(f"cuda {name}: {key} is {a.dtype}{tuple(a.shape)}, the parameter "
                             f"{param.dtype}{tuple(param.shape)}")


def sgd_step(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
             nesterov=False, first_step=False):
    _check("sgd_step", param, grad=grad, momentum_buffer=momentum_buffer)
    if momentum and momentum_buffer is None:
        raise ValueError("cuda sgd_step: momentum needs a momentum_buffer device array")
    if param.size == 0:
        return None
    t = param.dtype.type
    buf = momentum_buffer if momentum_buffer is not None else param  # unread without momentum
    blocks, threads = grid_1d(param.size)
    sgd_kernel[blocks, threads](param.reshape(param.size), grad.reshape(grad.size),
                                buf.reshape(buf.size), t(lr), t(momentum), t(1 - dampening),
                                t(weight_decay), int(bool(weight_decay)), int(bool(momentum)),
                                int(bool(nesterov)), int(bool(first_step)))
    return None


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
              weight_decay=0.0, decoupled=False):
    _check("adam_step", param, grad=grad, exp_avg=exp_avg, exp_avg_sq=exp_avg_sq,
           max_exp_avg_sq=max_exp_avg_sq)
    if param.size == 0:
        return None
    t = param.dtype.type
    step = float(step)
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    vmax = max_exp_avg_sq if max_exp_avg_sq is not None else exp_avg_sq  # unread without it
    flat = [a.reshape(a.size) for a in (param, grad, exp_avg, exp_avg_sq, vmax)]
    blocks, threads = grid_1d(param.size)
    adam_kernel[blocks, threads](*flat, int(max_exp_avg_sq is not None), int(bool(weight_decay)),
                                 int(bool(decoupled)), t(weight_decay),
                                 t(1 - lr * weight_decay), t(1 - beta1), t(beta2), t(1 - beta2),
                                 t(bias_correction2**0.5), t(eps), t(-(lr / bias_correction1)))
    return None

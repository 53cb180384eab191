"""In-place optimizer updates (one parameter per call): the formulas of tinymm/optim.py.

Both kernels update their arrays in place and return None. Every line is evaluated in the
parameter's dtype (each Python-float hyper-parameter is first rounded to that dtype, as NumPy
does with a scalar operand), in the order tinymm.optim (and PyTorch's single-tensor path)
uses, so the same gradients give bit-identical parameters.

SGD (torch.optim.SGD), gradient g, momentum buffer b::

    g = p * weight_decay + g                       (when weight_decay != 0)
    b = g                                          (first step with momentum)
    b = b * momentum + g * (1 - dampening)         (later steps)
    g = g + b * momentum   (nesterov)   or   g = b (plain momentum)
    p = p - g * lr

Adam / AdamW (torch.optim.Adam, AdamW), step t counted from 1, moments m and v::

    p = p * (1 - lr * weight_decay)                (AdamW: decoupled decay)
    g = g + weight_decay * p                       (Adam: L2 decay)
    m = m + (g - m) * (1 - b1)
    v = v * b2 + (g * (1 - b2)) * g
    v_max = max(v_max, v); v = v_max               (amsgrad)
    p = p + (m * (-lr / (1 - b1^t))) / (sqrt(v) / sqrt(1 - b2^t) + eps)

RMSprop (torch.optim.RMSprop), square average v, optional momentum buffer b and (centered)
gradient average gbar::

    g = g + weight_decay * p                       (when weight_decay != 0; so below)
    v = v * alpha + ((1 - alpha) * g) * g
    gbar = gbar + (1 - alpha) * (g - gbar);  avg = sqrt(v - gbar * gbar) + eps  (centered)
    avg = sqrt(v) + eps                                                        (otherwise)
    b = b * momentum + g / avg;  p = p - lr * b    (momentum > 0)
    p = p + (-lr * g) / avg                        (momentum = 0)

Adagrad (torch.optim.Adagrad), accumulator s, step t counted from 1::

    clr = lr / (1 + (t - 1) * lr_decay)
    s = s + g * g;  p = p + (-clr * g) / (sqrt(s) + eps)

Adadelta (torch.optim.Adadelta), square average v, accumulated update u::

    v = v * rho + ((1 - rho) * g) * g
    delta = sqrt(u + eps) / sqrt(v + eps) * g
    u = u * rho + ((1 - rho) * delta) * delta;  p = p - lr * delta

NAdam (torch.optim.NAdam), step t from 1, mu_product = mu_1 ... mu_t (the optimizer's state)::

    p = p * (1 - lr * weight_decay)                (decoupled weight decay; else g += wd p)
    mu_t = b1 * (1 - 0.5 * 0.96^(t * momentum_decay)),  mu_{t+1} likewise
    m = m + (1 - b1) * (g - m);  v = v * b2 + ((1 - b2) * g) * g
    denom = sqrt(v / (1 - b2^t)) + eps
    p = p + (-lr (1 - mu_t) / (1 - mu_product) * g) / denom
    p = p + (-lr mu_{t+1} / (1 - mu_product mu_{t+1}) * m) / denom

``nadam_coefficients`` computes the two step coefficients for every backend.

RAdam (torch.optim.RAdam), step t from 1, moments m and v::

    p = p * (1 - lr * weight_decay)                (decoupled weight decay; else g += wd p)
    m = m + (g - m) * (1 - b1);  v = v * b2;  v = v + (g * g) * (1 - b2)
    rho_inf = 2 / (1 - b2) - 1;  rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
    rho_t > 5:  p = p - ((m / (1 - b1^t)) * lr) * (sqrt(1 - b2^t) / (sqrt(v) + eps)) * r_t,
                r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
    otherwise:  p = p - (m / (1 - b1^t)) * lr

``radam_coefficients`` computes (rho_t > 5, r_t) for every backend.

Adamax (torch.optim.Adamax), step t from 1, moment m and infinity norm u::

    g = g + weight_decay * p                       (when weight_decay != 0)
    m = m + (g - m) * (1 - b1);  u = max(u * b2, |g| + eps)
    p = p - ((lr / (1 - b1^t)) * m) / u

Lion (Chen et al. 2023, Keras's ``Lion``), moment m::

    p = p - lr * sign(m * b1 + g * (1 - b1));  m = m * b2 + g * (1 - b2)
"""

from __future__ import annotations

import numpy as np


def sgd_step(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
             nesterov=False, first_step=False):
    g = grad
    if weight_decay:
        g = param * weight_decay  # NumPy rounds the Python float to the array's dtype
        g += grad
    if momentum:
        buf = momentum_buffer
        if first_step:
            buf[...] = g
        else:
            buf *= momentum
            buf += g * (1 - dampening)
        g = g + buf * momentum if nesterov else buf
    param -= g * lr


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
              weight_decay=0.0, decoupled=False):
    g = grad
    if weight_decay:
        if decoupled:
            param *= param.dtype.type(1 - lr * weight_decay)
        else:
            g = g + weight_decay * param
    m, v = exp_avg, exp_avg_sq
    m += (g - m) * (1 - beta1)
    v *= beta2
    v += (g * (1 - beta2)) * g
    if max_exp_avg_sq is not None:
        np.maximum(max_exp_avg_sq, v, out=max_exp_avg_sq)
        v = max_exp_avg_sq
    t = float(step)
    bias_correction1 = 1 - beta1**t
    bias_correction2 = 1 - beta2**t
    step_size = lr / bias_correction1
    denom = np.sqrt(v) / bias_correction2**0.5 + eps
    param += (m * -step_size) / denom


def _decayed(param, grad, weight_decay):
    """g + weight_decay * p (L2 weight decay folded into the gradient), or g itself."""
    return grad + weight_decay * param if weight_decay else grad


def rmsprop_step(param, grad, square_avg, momentum_buffer, grad_avg, lr, alpha, eps,
                 weight_decay=0.0, momentum=0.0):
    g = _decayed(param, grad, weight_decay)
    v = square_avg
    v *= alpha
    v += (1 - alpha) * g * g
    if grad_avg is not None:  # centered
        grad_avg += (1 - alpha) * (g - grad_avg)
        avg = np.sqrt(v - grad_avg * grad_avg)
    else:
        avg = np.sqrt(v)
    avg += eps
    if momentum > 0:
        buf = momentum_buffer
        buf *= momentum
        buf += g / avg
        param -= lr * buf
    else:
        param += (-lr * g) / avg


def adagrad_step(param, grad, state_sum, step, lr, lr_decay=0.0, weight_decay=0.0, eps=1e-10):
    g = _decayed(param, grad, weight_decay)
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum += g * g
    std = np.sqrt(state_sum)
    std += eps
    param += (-clr * g) / std


def adadelta_step(param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay=0.0):
    g = _decayed(param, grad, weight_decay)
    v, u = square_avg, acc_delta
    v *= rho
    v += (1 - rho) * g * g
    std = np.sqrt(v + eps)
    delta = np.sqrt(u + eps)
    delta /= std
    delta *= g
    u *= rho
    u += (1 - rho) * delta * delta
    param -= lr * delta


def nadam_coefficients(step, mu_product, lr, beta1, momentum_decay):
    """(coef_g, coef_m): NAdam's step sizes for g and m at step t (floats, Python precision)."""
    t = float(step)
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    coef_g = -lr * (1.0 - mu) / (1.0 - mu_product)
    coef_m = -lr * mu_next / (1.0 - mu_product * mu_next)
    return coef_g, coef_m


def nadam_step(param, grad, exp_avg, exp_avg_sq, step, mu_product, lr, beta1, beta2, eps,
               weight_decay=0.0, momentum_decay=4e-3, decoupled=False):
    g = grad
    if weight_decay and decoupled:
        param *= param.dtype.type(1 - lr * weight_decay)
    elif weight_decay:
        g = g + weight_decay * param
    coef_g, coef_m = nadam_coefficients(step, mu_product, lr, beta1, momentum_decay)
    m, v = exp_avg, exp_avg_sq
    m += (1 - beta1) * (g - m)
    v *= beta2
    v += (1 - beta2) * g * g
    denom = np.sqrt(v / (1 - beta2 ** float(step)))
    denom += eps
    param += (coef_g * g) / denom
    param += (coef_m * m) / denom


def radam_coefficients(step, beta2):
    """(rectified, r_t): whether RAdam's variance is tractable at step t (rho_t > 5), and
    the rectification factor then (floats, Python precision)."""
    t = float(step)
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * t * (beta2 ** t) / (1 - beta2 ** t)
    if rho_t <= 5.0:
        return False, 1.0
    return True, ((rho_t - 4) * (rho_t - 2) * rho_inf
                  / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5


def radam_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps,
               weight_decay=0.0, decoupled=False):
    g, m, v = grad, exp_avg, exp_avg_sq
    if weight_decay and decoupled:
        param *= param.dtype.type(1 - lr * weight_decay)
    elif weight_decay:
        g = g + weight_decay * param
    m += (g - m) * (1 - beta1)
    v *= beta2
    v += (g * g) * (1 - beta2)
    corrected = m / (1 - beta1 ** float(step))
    rectified, rect = radam_coefficients(step, beta2)
    if rectified:
        adaptive = (1 - beta2 ** float(step)) ** 0.5 / (np.sqrt(v) + eps)
        param -= corrected * lr * adaptive * rect
    else:
        param -= corrected * lr


def adamax_step(param, grad, exp_avg, exp_inf, step, lr, beta1, beta2, eps, weight_decay=0.0):
    g, m, u = grad, exp_avg, exp_inf
    if weight_decay:
        g = g + weight_decay * param
    m += (g - m) * (1 - beta1)
    u *= beta2
    np.maximum(u, np.abs(g) + g.dtype.type(eps), out=u)
    param -= (lr / (1 - beta1 ** float(step))) * m / u


def lion_step(param, grad, exp_avg, lr, beta1, beta2):
    g, m = grad, exp_avg
    param -= lr * np.sign(m * beta1 + g * (1 - beta1))
    m[...] = m * beta2 + g * (1 - beta2)

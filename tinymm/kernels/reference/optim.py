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

"""Solution of exercise 06-adam-step (kept apart from the stub in tutorials/exercises/).

One Adam step as torch.optim.Adam takes it (no weight decay). param, grad, m, v are arrays
of one shape; m and v are the moving averages after t - 1 steps (zeros before the first);
t counts from 1. Return (param, m, v) after the step.
"""

import numpy as np


def adam_step(param, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    b1, b2 = betas
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad * grad
    m_hat = m / (1 - b1**t)  # bias correction: m and v start at 0
    v_hat = v / (1 - b2**t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v

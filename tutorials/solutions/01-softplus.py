"""Solution of exercise 01-softplus (kept apart from the stub in tutorials/exercises/).

Return dx = dL/dx for y = softplus(x) = log(1 + exp(x)), given the upstream gradient
grad = dL/dy (same shape as x). Write it so it stays finite for x = +-800.
"""

import numpy as np


def softplus_backward(x, grad):
    return grad / (1 + np.exp(-x))  # d softplus / dx = sigmoid(x); exp(800) = inf gives 0

"""Solution of exercise 10-batchnorm-backward (kept apart from the stub in tutorials/exercises/).

Batch normalization in training mode on x (N, D): mean and biased variance over the
batch, x_hat = (x - mean) / sqrt(var + eps), out = gamma * x_hat + beta. Given
dout (N, D), return (dx, dgamma, dbeta).
"""

import numpy as np


def batchnorm_backward(dout, x, gamma, eps=1e-5):
    N = x.shape[0]
    mean, var = x.mean(axis=0), x.var(axis=0)  # (D,), biased variance
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std  # (N, D)
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    dx = inv_std / N * (N * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0))
    return dx, dgamma, dbeta

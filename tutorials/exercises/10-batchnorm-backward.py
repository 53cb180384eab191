"""Exercise 10-batchnorm-backward: write `batchnorm_backward`.

Batch normalization in training mode on x (N, D): mean and biased variance over the
batch, x_hat = (x - mean) / sqrt(var + eps), out = gamma * x_hat + beta. Given
dout (N, D), return (dx, dgamma, dbeta).

The derivation: tutorials/10_normalization.py, section 2 (kernels/reference/batch_norm.py).
Check your answer:   tinymm exercises check 10-batchnorm-backward
Stuck?               tinymm exercises hint 10-batchnorm-backward --level 1   (levels 1, 2, 3)
"""

import numpy as np  # noqa: F401 (you will need it)


def batchnorm_backward(dout, x, gamma, eps=1e-5):
    raise NotImplementedError(
        "10-batchnorm-backward: batchnorm_backward is not implemented yet: "
        "write it in this file, then run `tinymm exercises check 10-batchnorm-backward`")

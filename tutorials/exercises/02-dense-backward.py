"""Exercise 02-dense-backward: write `dense_backward`.

Forward: out = x @ weight.T + bias with x (N, D_in), weight (D_out, D_in) (PyTorch's
layout), bias (D_out,). Given dout = dL/dout (N, D_out), return (dx, dweight, dbias) shaped
like x, weight and bias.

The derivation: tutorials/02_dense_mlp_softmax.py, section 1 (kernels/reference/linear.py).
Check your answer:   tinymm exercises check 02-dense-backward
Stuck?               tinymm exercises hint 02-dense-backward --level 1   (levels 1, 2, 3)
"""

import numpy as np  # noqa: F401 (you will need it)


def dense_backward(dout, x, weight):
    raise NotImplementedError(
        "02-dense-backward: dense_backward is not implemented yet: "
        "write it in this file, then run `tinymm exercises check 02-dense-backward`")

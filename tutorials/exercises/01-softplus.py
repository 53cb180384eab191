"""Exercise 01-softplus: write `softplus_backward`.

Return dx = dL/dx for y = softplus(x) = log(1 + exp(x)), given the upstream gradient
grad = dL/dy (same shape as x). Write it so it stays finite for x = +-800.

The derivation: tutorials/01_autograd_and_gradcheck.py, section 3 and the exercise.
Check your answer:   tinymm exercises check 01-softplus
Stuck?               tinymm exercises hint 01-softplus --level 1   (levels 1, 2, 3)
"""

import numpy as np  # noqa: F401 (you will need it)


def softplus_backward(x, grad):
    raise NotImplementedError(
        "01-softplus: softplus_backward is not implemented yet: "
        "write it in this file, then run `tinymm exercises check 01-softplus`")

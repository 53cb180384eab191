"""Exercise 02-softmax-ce: write `softmax_cross_entropy_backward`.

loss = mean over the N rows of -log softmax(logits[n])[targets[n]], logits (N, C), targets
(N,) integer class ids. Return dlogits = d loss / d logits (N, C). Stay finite for logits
of size 1000.

The derivation: tutorials/02_dense_mlp_softmax.py, section 3 (kernels/reference/cross_entropy.py).
Check your answer:   tinymm exercises check 02-softmax-ce
Stuck?               tinymm exercises hint 02-softmax-ce --level 1   (levels 1, 2, 3)
"""

import numpy as np  # noqa: F401 (you will need it)


def softmax_cross_entropy_backward(logits, targets):
    raise NotImplementedError(
        "02-softmax-ce: softmax_cross_entropy_backward is not implemented yet: "
        "write it in this file, then run `tinymm exercises check 02-softmax-ce`")

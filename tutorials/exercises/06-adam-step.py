"""Exercise 06-adam-step: write `adam_step`.

One Adam step as torch.optim.Adam takes it (no weight decay). param, grad, m, v are arrays
of one shape; m and v are the moving averages after t - 1 steps (zeros before the first);
t counts from 1. Return (param, m, v) after the step.

The derivation: tutorials/02_dense_mlp_softmax.py, section 5 (tinymm/optim.py).
Check your answer:   tinymm exercises check 06-adam-step
Stuck?               tinymm exercises hint 06-adam-step --level 1   (levels 1, 2, 3)
"""

import numpy as np  # noqa: F401 (you will need it)


def adam_step(param, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    raise NotImplementedError(
        "06-adam-step: adam_step is not implemented yet: "
        "write it in this file, then run `tinymm exercises check 06-adam-step`")

"""Exercise 04-embedding-backward: write `embedding_backward`.

out = weight[indices] with weight (V, E), V = num_embeddings, indices any integer shape
(e.g. (N, T)) and dout = dL/dout shaped indices.shape + (E,). Return dweight (V, E).
Indices repeat.

The derivation: tutorials/04_rnn_lstm.py, section 6 (kernels/reference/embedding.py).
Check your answer:   tinymm exercises check 04-embedding-backward
Stuck?               tinymm exercises hint 04-embedding-backward --level 1   (levels 1, 2, 3)
"""

import numpy as np  # noqa: F401 (you will need it)


def embedding_backward(indices, dout, num_embeddings):
    raise NotImplementedError(
        "04-embedding-backward: embedding_backward is not implemented yet: "
        "write it in this file, then run `tinymm exercises check 04-embedding-backward`")

"""Solution of exercise 04-embedding-backward (kept apart from the stub in tutorials/exercises/).

out = weight[indices] with weight (V, E), V = num_embeddings, indices any integer shape
(e.g. (N, T)) and dout = dL/dout shaped indices.shape + (E,). Return dweight (V, E).
Indices repeat.
"""

import numpy as np


def embedding_backward(indices, dout, num_embeddings):
    E = dout.shape[-1]
    dweight = np.zeros((num_embeddings, E))  # (V, E)
    np.add.at(dweight, indices.reshape(-1), dout.reshape(-1, E))  # every occurrence adds
    return dweight

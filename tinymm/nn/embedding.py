"""``Embedding``: a learnable lookup table (derivation: kernels/reference/embedding.py)."""

from __future__ import annotations

import numpy as np

from tinymm.nn import init
from tinymm.nn.module import Module, Parameter
from tinymm.ops.embedding import Embedding as EmbeddingOp
from tinymm.ops.embedding import as_indices, embedding_renorm_, normalize_padding_idx


class Embedding(Module):
    """PyTorch's ``nn.Embedding``: ``weight`` (num_embeddings, embedding_dim), init N(0, 1).

    ``padding_idx`` (negative counts from the end): that row starts at zero and never gets a
    gradient, so padding tokens embed to the zero vector. ``max_norm``: each looked-up row
    whose ``norm_type``-norm exceeds it is scaled down to it in place before the lookup.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, dtype=np.float32):
        super().__init__()
        if num_embeddings <= 0 or embedding_dim <= 0:
            raise ValueError(f"Embedding: num_embeddings and embedding_dim must be positive, got "
                             f"{num_embeddings} and {embedding_dim}")
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.max_norm, self.norm_type = max_norm, norm_type
        self.padding_idx = normalize_padding_idx(
            f"Embedding({num_embeddings}, {embedding_dim})", padding_idx, num_embeddings)
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=dtype))
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.array[self.padding_idx] = 0

    def forward(self, indices):
        name = f"Embedding({self.num_embeddings}, {self.embedding_dim})"
        # the op checks the indices once, naming this layer (on a device: one counted copy)
        indices = as_indices(name, indices)
        if self.max_norm is not None:  # the looked-up rows renormalised in place first
            embedding_renorm_(name, self.weight, indices, self.max_norm, self.norm_type)
        return EmbeddingOp.apply(indices, self.weight, padding_idx=self.padding_idx, name=name)

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"

"""``torch.nn.utils``'s gradient helpers: ``clip_grad_norm_`` (defined in ``tinymm.optim``)
and ``clip_grad_value_``, plus ``parameters_to_vector`` / ``vector_to_parameters``; ``rnn``
(``nn.utils.rnn``) packs and pads variable-length sequences; ``weight_norm`` /
``remove_weight_norm`` (nn/utils/weight_norm.py); ``spectral_norm`` / ``remove_spectral_norm``
(nn/utils/spectral_norm.py), ``parametrize`` and ``parametrizations.spectral_norm``."""

from __future__ import annotations

import numpy as np

from tinymm.nn.utils import parametrizations, parametrize, rnn
from tinymm.nn.utils.spectral_norm import remove_spectral_norm, spectral_norm
from tinymm.nn.utils.weight_norm import remove_weight_norm, weight_norm
from tinymm.optim import clip_grad_norm_
from tinymm.tensor import Tensor


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient elementwise to [-clip_value, clip_value], in place."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    for p in parameters:
        if p.grad is not None:
            np.clip(p.grad.array, -clip_value, clip_value, out=p.grad.array)


def parameters_to_vector(parameters) -> Tensor:
    return Tensor._make(np.concatenate([p.array.reshape(-1) for p in parameters]))


def vector_to_parameters(vector: Tensor, parameters) -> None:
    values, offset = vector.array if isinstance(vector, Tensor) else vector, 0
    for p in parameters:
        p.array[...] = values[offset:offset + p.array.size].reshape(p.shape)
        offset += p.array.size


__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "remove_weight_norm",
           "weight_norm",
           "vector_to_parameters", "rnn", "parametrizations", "parametrize",
           "remove_spectral_norm", "spectral_norm"]

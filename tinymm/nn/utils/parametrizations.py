"""``torch.nn.utils.parametrizations.spectral_norm``: spectral normalisation as a
parametrization (nn/utils/parametrize.py). The power iteration is PyTorch's for this form:
u = normalize(W v) first, then v = normalize(W^T u), 15 iterations at registration to start
from a good estimate, ``n_power_iterations`` on every read of the weight in training mode, and
none in eval mode; sigma = u . (W v) with u and v held fixed (W as a matrix, derivation in
nn/utils/spectral_norm.py). A 1-d weight is divided by its norm instead."""

from __future__ import annotations

from tinymm import functional as F
from tinymm.autograd import no_grad
from tinymm.nn.module import Module
from tinymm.nn.utils.parametrize import register_parametrization
from tinymm.nn.utils.spectral_norm import check_options, default_dim, unit_vectors, weight_matrix
from tinymm.tensor import Tensor


class _SpectralNorm(Module):
    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12):
        super().__init__()
        self.ndim = weight.ndim
        self.dim = check_options("spectral_norm", n_power_iterations, dim, weight.ndim)
        self.eps, self.n_power_iterations = eps, n_power_iterations
        if self.ndim > 1:
            mat = weight_matrix(weight.detach(), self.dim)  # (h, w)
            u, v = unit_vectors(mat, eps)
            self.register_buffer("_u", u)
            self.register_buffer("_v", v)
            self._power_method(mat, 15)

    def _power_method(self, mat: Tensor, n: int) -> None:
        with no_grad():
            for _ in range(n):
                self._u.copy_(F.normalize(mat @ self._v, dim=0, eps=self.eps))
                self._v.copy_(F.normalize(mat.t() @ self._u, dim=0, eps=self.eps))

    def forward(self, weight: Tensor) -> Tensor:
        if self.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        mat = weight_matrix(weight, self.dim)  # (h, w)
        if self.training:
            self._power_method(mat.detach(), self.n_power_iterations)
        u, v = self._u.detach().clone(), self._v.detach().clone()
        sigma = (u * (mat @ v)).sum()  # ()
        return weight / sigma


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> Module:
    """Register the spectral-norm parametrization on ``module.<name>``; returns module."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"spectral_norm: {type(module).__name__} has no parameter {name!r}")
    dim = default_dim(module) if dim is None else dim
    return register_parametrization(module, name,
                                    _SpectralNorm(weight, n_power_iterations, dim, eps))


__all__ = ["spectral_norm"]

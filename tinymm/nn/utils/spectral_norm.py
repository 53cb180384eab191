"""``torch.nn.utils.spectral_norm`` / ``remove_spectral_norm`` (Miyato et al.): the weight of a
module divided by its largest singular value sigma, estimated by power iteration, as PyTorch.

With W the weight seen as a matrix (``dim`` moved to the front, the other dims flattened:
(h, w)) and unit vectors u (h,) and v (w,) kept between calls, one power iteration is::

    v = normalize(W^T u)        u = normalize(W v)        (normalize: x / max(||x||, eps))

and sigma = u . (W v), so W / sigma has spectral norm ~1. The iteration runs without a
gradient and only in training mode (eval mode reuses the stored u and v); the gradient reaches
W through W / sigma with u and v held fixed, as PyTorch's.

``spectral_norm`` replaces the parameter ``name`` by the parameter ``name + "_orig"`` and the
buffers ``name + "_u"``, ``name + "_v"`` (PyTorch's state-dict keys), and a forward pre-hook
recomputes ``module.<name>`` before each forward. ``dim`` defaults to 0, and to 1 for a
transposed convolution (its output channels). The parametrization form
(``nn.utils.parametrizations.spectral_norm``) is in nn/utils/parametrizations.py.
"""

from __future__ import annotations

from tinymm import functional as F
from tinymm.autograd import no_grad
from tinymm.factories import randn
from tinymm.nn.conv_transpose import ConvTranspose2d
from tinymm.nn.module import Module, Parameter
from tinymm.nn.utils.weight_norm import claim_parameter, release_hook
from tinymm.tensor import Tensor


def weight_matrix(weight: Tensor, dim: int) -> Tensor:
    """The weight as a matrix (h, w): ``dim`` first, the other dims flattened."""
    if dim != 0:
        weight = weight.movedim(dim, 0)
    return weight.reshape(weight.shape[0], -1)


def unit_vectors(mat: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Random unit vectors u (h,) and v (w,) (normal draws, normalised), as PyTorch's start."""
    h, w = mat.shape
    u = randn(h, dtype=mat.dtype, device=mat.device)
    v = randn(w, dtype=mat.dtype, device=mat.device)
    return F.normalize(u, dim=0, eps=eps), F.normalize(v, dim=0, eps=eps)


def default_dim(module: Module) -> int:
    return 1 if isinstance(module, ConvTranspose2d) else 0


def check_options(op: str, n_power_iterations: int, dim: int, ndim: int) -> int:
    """``dim`` as a non-negative axis of a weight of ``ndim`` dims, after the checks."""
    if n_power_iterations <= 0:
        raise ValueError(f"{op}: expected n_power_iterations to be positive, got "
                         f"{n_power_iterations}")
    if not -ndim <= dim < max(ndim, 1):
        raise ValueError(f"{op}: dim {dim} is out of range for a weight of {ndim} dims")
    return dim % max(ndim, 1)


class SpectralNorm:
    """The forward pre-hook: ``module.<name> = <name>_orig / sigma`` before each forward."""

    def __init__(self, name: str, n_power_iterations: int, dim: int, eps: float):
        self.name, self.n_power_iterations, self.dim, self.eps = name, n_power_iterations, dim, eps

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        weight = getattr(module, self.name + "_orig")
        u, v = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        mat = weight_matrix(weight, self.dim)  # (h, w)
        if do_power_iteration:
            with no_grad():
                for _ in range(self.n_power_iterations):
                    v.copy_(F.normalize(mat.detach().t() @ u, dim=0, eps=self.eps))
                    u.copy_(F.normalize(mat.detach() @ v, dim=0, eps=self.eps))
        sigma = (u.detach() * (mat @ v.detach())).sum()  # () u . W v
        return weight / sigma

    def __call__(self, module: Module, inputs) -> None:
        object.__setattr__(module, self.name, self.compute_weight(module, module.training))


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> Module:
    """Apply spectral normalisation to ``module.<name>`` (module docstring); returns module."""
    hooks, weight = claim_parameter("spectral_norm", module, name)
    dim = check_options("spectral_norm", n_power_iterations,
                        default_dim(module) if dim is None else dim, weight.ndim)
    fn = SpectralNorm(name, n_power_iterations, dim, eps)
    u, v = unit_vectors(weight_matrix(weight.detach(), dim), eps)
    del module._parameters[name]
    module.register_parameter(name + "_orig", weight)
    module.register_buffer(name + "_u", u)
    module.register_buffer(name + "_v", v)
    object.__setattr__(module, name, weight.detach() * 1.0)  # as PyTorch's, before a forward
    hooks[name] = (module.register_forward_pre_hook(fn), fn)
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Fold ``<name>_orig / sigma`` (the stored u, v) back into the parameter ``name``."""
    fn = release_hook("spectral_norm", module, name)
    with no_grad():
        weight = fn.compute_weight(module, do_power_iteration=False)
    del module._parameters[name + "_orig"]
    for suffix in ("_u", "_v"):
        del module._buffers[name + suffix]
    for suffix in ("_orig", "_u", "_v"):
        module.__dict__.pop(name + suffix, None)
    module.register_parameter(name, Parameter(weight.detach().clone()))
    return module

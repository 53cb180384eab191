"""``torch.nn.utils.weight_norm`` / ``remove_weight_norm`` (Salimans & Kingma): the weight
``w`` of a module is re-expressed as ``w = g * v / ||v||``, with the norm taken over every dim
except ``dim`` (``dim=None``: over the whole tensor, one scalar g), as PyTorch.

``weight_norm`` replaces the parameter ``name`` by two parameters, ``name + "_g"`` (the norms,
shaped like w with 1 in every dim but ``dim``) and ``name + "_v"`` (the direction, w itself at
the start), and registers a forward pre-hook that recomputes ``name`` from them before each
forward, so gradients reach g and v through the Tensor ops of the recomputation.
``remove_weight_norm`` folds them back into one parameter.
"""

from __future__ import annotations

from tinymm.nn.module import Module, Parameter
from tinymm.tensor import Tensor


def norm_except_dim(v: Tensor, p: float, dim: int | None) -> Tensor:
    """The p-norm of v over every dim except ``dim``, kept as size-1 dims (dim None or -1:
    the norm of the whole tensor, 0-d), as PyTorch's ``torch.norm_except_dim``."""
    if dim is None or dim == -1:
        return v.norm(p)
    others = tuple(d for d in range(v.ndim) if d != dim % v.ndim)
    return v.norm(p, dim=others, keepdim=True) if others else v.abs()


class WeightNorm:
    """The forward pre-hook: ``module.<name> = g * v / ||v||`` before each forward."""

    def __init__(self, name: str, dim: int | None):
        self.name, self.dim = name, dim

    def compute_weight(self, module: Module) -> Tensor:
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return v * (g / norm_except_dim(v, 2, self.dim))

    def __call__(self, module: Module, inputs) -> None:
        object.__setattr__(module, self.name, self.compute_weight(module))


def claim_parameter(op: str, module: Module, name: str) -> tuple[dict, Parameter]:
    """(the module's table of ``op`` hooks, its parameter ``name``) for a reparametrization
    by a forward pre-hook (weight_norm, spectral_norm), after the checks."""
    hooks = module.__dict__.setdefault(f"_{op}_hooks", {})
    if name in hooks:
        raise RuntimeError(f"{op}: cannot register two {op} hooks on the same parameter "
                           f"{name!r}")
    weight = module._parameters.get(name) if isinstance(module, Module) else None
    if weight is None:
        raise ValueError(f"{op}: {type(module).__name__} has no parameter {name!r}")
    return hooks, weight


def release_hook(op: str, module: Module, name: str):
    """Remove the ``op`` pre-hook of parameter ``name``; its hook object (``fn``)."""
    hooks = module.__dict__.get(f"_{op}_hooks", {})
    if name not in hooks:
        raise ValueError(f"remove_{op}: {op} of {name!r} not found in "
                         f"{type(module).__name__}")
    handle, fn = hooks.pop(name)
    handle.remove()
    return fn


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Apply weight normalisation to ``module.<name>`` (module docstring); returns module."""
    handles, weight = claim_parameter("weight_norm", module, name)
    fn = WeightNorm(name, dim)
    del module._parameters[name]
    module.register_parameter(name + "_g", Parameter(norm_except_dim(weight.detach(), 2,
                                                                     dim).array.copy()))
    module.register_parameter(name + "_v", Parameter(weight.detach().array.copy()))
    object.__setattr__(module, name, fn.compute_weight(module))
    handles[name] = (module.register_forward_pre_hook(fn), fn)
    return module


def remove_weight_norm(module: Module, name: str = "weight") -> Module:
    """Fold ``<name>_g`` and ``<name>_v`` back into the parameter ``name``."""
    fn = release_hook("weight_norm", module, name)
    weight = fn.compute_weight(module).detach()
    for suffix in ("_g", "_v"):
        del module._parameters[name + suffix]
        object.__delattr__(module, name + suffix)
    module.register_parameter(name, Parameter(weight.array.copy()))
    return module

"""``torch.nn.utils.parametrize``: a parameter computed from another on every access.

``register_parametrization(module, "weight", P)`` moves the parameter to
``module.parametrizations.weight.original`` and makes ``module.weight`` a property that
returns ``P(original)`` (several parametrizations apply in registration order), so every
read of ``module.weight`` recomputes it and gradients reach ``original`` through P's Tensor
ops. As PyTorch's, the module's class becomes a subclass ``Parametrized<Class>`` that holds
the property, and the state-dict keys are ``parametrizations.weight.original`` and
``parametrizations.weight.<k>.<buffer>`` for P's buffers. Unlike PyTorch's, assigning to
``module.weight`` (right_inverse) and caching are not supported.
"""

from __future__ import annotations

from tinymm.nn.container import ModuleDict, ModuleList
from tinymm.nn.module import Module, Parameter
from tinymm.tensor import Tensor


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, in order, and the ``original`` parameter."""

    def __init__(self, modules, original: Parameter):
        super().__init__(modules)
        self.original = original

    def forward(self) -> Tensor:
        x = self.original
        for m in self:
            x = m(x)
        return x


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    found = module.__dict__.get("_modules", {}).get("parametrizations")
    if found is None:
        return False
    return tensor_name is None or tensor_name in found._modules


def _read_only(name: str):
    def get(self):
        return self.parametrizations[name]()

    def refuse(self, value):
        raise AttributeError(f"{type(self).__name__}.{name} is parametrized: assign to "
                             f"parametrizations.{name}.original instead")

    return property(get, refuse)


def register_parametrization(module: Module, tensor_name: str, parametrization: Module,
                             *, unsafe: bool = False) -> Module:
    """``module.<tensor_name>`` becomes ``parametrization(original)`` (module docstring)."""
    if is_parametrized(module, tensor_name):
        module.parametrizations[tensor_name].append(parametrization)
        return module
    original = module._parameters.get(tensor_name)
    if original is None:
        raise ValueError(f"register_parametrization: {type(module).__name__} has no "
                         f"parameter {tensor_name!r}")
    del module._parameters[tensor_name]
    module.__dict__.pop(tensor_name, None)
    if not is_parametrized(module):
        module.parametrizations = ModuleDict()
        cls = type(module)
        module.__class__ = type(f"Parametrized{cls.__name__}", (cls,), {"_unparametrized": cls})
    module.parametrizations[tensor_name] = ParametrizationList([parametrization], original)
    setattr(type(module), tensor_name, _read_only(tensor_name))
    return module


def remove_parametrizations(module: Module, tensor_name: str,
                            leave_parametrized: bool = True) -> Module:
    """Turn ``module.<tensor_name>`` back into a plain parameter: its current value
    (``leave_parametrized``) or the original."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"remove_parametrizations: {type(module).__name__} has no "
                         f"parametrization on {tensor_name!r}")
    plist = module.parametrizations[tensor_name]
    value = plist().detach().clone() if leave_parametrized else plist.original
    delattr(type(module), tensor_name)
    del module.parametrizations._modules[tensor_name]
    module.parametrizations.__dict__.pop(tensor_name, None)
    if not module.parametrizations._modules:
        del module._modules["parametrizations"]
        module.__dict__.pop("parametrizations", None)
        module.__class__ = type(module)._unparametrized
    module.register_parameter(tensor_name, value if isinstance(value, Parameter)
                              else Parameter(value))
    return module

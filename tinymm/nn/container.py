"""Containers: ``Sequential``, ``ModuleList`` and ``ModuleDict``, ``ParameterList`` and
``ParameterDict``, with PyTorch's child and parameter names (numbers for the lists, the keys
for the dicts), so their state_dict keys match ``torch.nn``."""

from __future__ import annotations

from tinymm.nn.module import Module, Parameter
from tinymm.tensor import Tensor


class Sequential(Module):
    """``Sequential(m0, m1, ...)`` names its children 0, 1, ...; ``Sequential(OrderedDict(...))``
    uses the dict's names (PyTorch's two forms)."""

    def __init__(self, *modules: Module):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            for name, m in modules[0].items():
                self.add_module(name, m)
            return
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(m).__name__}, not a Module")
            self.add_module(str(i), m)

    def __getitem__(self, index: int | slice) -> Module:
        if isinstance(index, slice):  # a new Sequential sharing the modules, as PyTorch
            return Sequential(*list(self._modules.values())[index])
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x


class ModuleList(Module):
    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


def _pairs(values) -> list:
    """(key, value) pairs from a mapping or an iterable of pairs (PyTorch's update forms)."""
    return list(values.items()) if hasattr(values, "items") else [tuple(kv) for kv in values]


class _Mapping(Module):
    """What ModuleDict and ParameterDict share: a dict view of one of the Module's tables
    (``_table``: "_modules" or "_parameters"); subclasses define ``__setitem__``."""

    _table = "_modules"

    def __init__(self, values=None):
        super().__init__()
        if values is not None:
            self.update(values)

    def _entries(self) -> dict:
        return getattr(self, self._table)

    def __getitem__(self, key: str):
        return self._entries()[key]

    def __delitem__(self, key: str) -> None:
        del self._entries()[key]
        object.__delattr__(self, key)

    def __len__(self) -> int:
        return len(self._entries())

    def __iter__(self):
        return iter(self._entries())

    def __contains__(self, key) -> bool:
        return key in self._entries()

    def keys(self):
        return self._entries().keys()

    def values(self):
        return self._entries().values()

    def items(self):
        return self._entries().items()

    def update(self, values) -> None:
        for key, value in _pairs(values):
            self[key] = value

    def pop(self, key: str):
        value = self[key]
        del self[key]
        return value

    def clear(self) -> None:
        for key in list(self._entries()):
            del self[key]


class ModuleDict(_Mapping):
    """Child modules by string key, in insertion order; ``d["key"]`` is ``d.key``."""

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict: {key!r} must be a Module, got "
                            f"{type(module).__name__}")
        self.add_module(key, module)


def _as_parameter(who: str, value) -> Parameter:
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):  # PyTorch wraps a plain tensor as a Parameter
        return Parameter(value.detach(), requires_grad=value.requires_grad)
    raise TypeError(f"{who}: expected a Parameter or Tensor, got {type(value).__name__}")


class ParameterList(Module):
    """Parameters named 0, 1, ...; tensors given to it become Parameters."""

    def __init__(self, values=None):
        super().__init__()
        for value in values or ():
            self.append(value)

    def _key(self, index: int) -> str:
        return list(self._parameters)[index]  # IndexError as a list

    def __getitem__(self, index: int) -> Parameter:
        return self._parameters[self._key(index)]

    def __setitem__(self, index: int, value) -> None:
        self.register_parameter(self._key(index), _as_parameter("ParameterList", value))

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def append(self, value) -> ParameterList:
        self.register_parameter(str(len(self)), _as_parameter("ParameterList", value))
        return self

    def extend(self, values) -> ParameterList:
        for value in values:
            self.append(value)
        return self


class ParameterDict(_Mapping):
    """Parameters by string key, in insertion order; tensors given to it become Parameters."""

    _table = "_parameters"

    def __setitem__(self, key: str, value) -> None:
        self.register_parameter(key, _as_parameter("ParameterDict", value))

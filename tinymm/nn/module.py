"""``Module`` and ``Parameter``: the building blocks of every layer, as in PyTorch.

A ``Module`` owns ``Parameter``s (leaf Tensors that require grad) and child modules, found by
attribute assignment (``self.fc = Linear(4, 8)``) in assignment order, so
``named_parameters()`` yields PyTorch's dotted names (``fc.weight``) in a stable order and
``state_dict()`` keys match ``torch.nn`` for layers with a PyTorch counterpart.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections import OrderedDict, namedtuple
from collections.abc import Iterator

import numpy as np

from tinymm import dtypes as _dt
from tinymm.autograd import ArrayFunction, RemovableHandle
from tinymm.tensor import Tensor, from_data, from_numpy, to_arguments


class StateDictError(RuntimeError):
    """``load_state_dict`` found missing/unexpected keys or a shape mismatch."""


class IncompatibleKeys(namedtuple("_IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns, as PyTorch's ``_IncompatibleKeys``."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return (f"_IncompatibleKeys(missing_keys={self.missing_keys!r}, "
                f"unexpected_keys={self.unexpected_keys!r})")


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable (requires_grad=True by default)."""

    def __init__(self, data, requires_grad: bool = True):
        array = data.array if isinstance(data, Tensor) else np.asarray(data)
        if array.dtype.kind != "f":
            array = array.astype(np.float32)
        array = _default_float(array)
        self._adopt(array, requires_grad)

    @property
    def value(self) -> Parameter:
        """The parameter itself: Keras's ``Variable.value`` (on Keras's torch backend, the
        torch parameter behind a variable, as in ``[v.value.grad for v in weights]``)."""
        return self

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def _default_float(array):
    """A float32 host array in the default dtype when ``set_default_dtype`` changed it (layers
    build float32 parameters and buffers; PyTorch's follow the default dtype)."""
    default = _dt.DEFAULT_FLOAT
    if isinstance(array, np.ndarray) and array.dtype == np.float32 and default != array.dtype:
        return array.astype(default)
    return array


def _host_array(value) -> np.ndarray:
    """``value`` (a Tensor on any device, or anything array-like) as a host array: the
    storage itself for a cpu Tensor, a counted device->host copy for a cuda one."""
    if isinstance(value, Tensor):
        return value.detach().cpu().array if value.device == "cuda" else value.array
    return np.asarray(value)


def _load_into(t: Tensor, array: np.ndarray, assign: bool = False) -> None:
    """Write ``array`` into ``t``: in place on the host (views stay valid, cast to t's dtype),
    as a new device array for a cuda tensor; ``assign``: ``t`` takes ``array`` as its
    storage (cast to t's dtype if it differs)."""
    if assign and t.device != "cuda":
        t.array = array.astype(t.dtype, copy=False)
    elif t.device == "cuda":
        t.array = from_data(array, t.dtype, "cuda").array
    else:
        t.array[...] = array


_building = contextvars.ContextVar("tinymm_building_layer", default=False)


def _explicit_dtype_init(init):
    """``init`` of a tinymm layer with a ``dtype`` argument, followed by a cast of every
    floating parameter and buffer to that dtype when the caller passed one and it is not the
    default: layers build float32 arrays that Parameter and register_buffer move to the default
    dtype (``_default_float``), so under ``set_default_dtype(float64)`` an explicit
    ``dtype=float32`` would otherwise be lost (PyTorch's layers take an explicit dtype as
    given). Only the outermost layer casts: the sublayers a layer builds receive its own
    ``dtype`` argument, which is no request of the caller's."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        token = _building.set(True)
        try:
            init(self, *args, **kwargs)
        finally:
            _building.reset(token)
        if _building.get():
            return
        dtype = signature.bind(self, *args, **kwargs).arguments.get("dtype")
        if dtype is not None and np.dtype(dtype).kind == "f" and np.dtype(dtype) != \
                _dt.DEFAULT_FLOAT:
            self.to(np.dtype(dtype))

    return __init__


class Module:
    """Base class of layers and models: subclasses define ``__init__`` and ``forward``."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if (init is not None and cls.__module__.startswith("tinymm.")
                and "dtype" in inspect.signature(init).parameters):
            cls.__init__ = _explicit_dtype_init(init)

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------ registration
    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before "
                                 "assigning attributes")
        if value is None and name in self._parameters:  # PyTorch: the slot stays, as None
            self._parameters[name] = None
            object.__setattr__(self, name, None)
            return
        if name in self._buffers and (value is None or isinstance(value, (Tensor, np.ndarray))):
            self.register_buffer(name, value,  # PyTorch: assigning to a buffer keeps it one
                                 persistent=name not in self._non_persistent)
            return
        target = self._parameters if isinstance(value, Parameter) else \
            self._modules if isinstance(value, Module) else None
        for table in (self._parameters, self._modules, self._buffers):
            if table is not target:
                table.pop(name, None)
        if target is not None:  # replacing an entry keeps its place, as PyTorch's dicts do
            target[name] = value
        object.__setattr__(self, name, value)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, tensor: Tensor | np.ndarray | None,
                        persistent: bool = True) -> None:
        """A non-trainable tensor (e.g. running statistics), in the state_dict unless
        ``persistent=False`` (a causal mask rebuilt by ``__init__``), as PyTorch.

        An array is wrapped in a Tensor that shares its memory; ``load_state_dict`` and ops
        such as ``F.batch_norm`` then update the buffer's storage in place.
        """
        if tensor is not None:
            if not isinstance(tensor, (Tensor, np.ndarray)):
                raise TypeError(f"{type(self).__name__}.register_buffer: {name!r} must be a "
                                f"Tensor, an array or None, got {type(tensor).__name__}")
            if isinstance(tensor, np.ndarray):
                tensor = from_numpy(_default_float(tensor))
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)
        object.__setattr__(self, name, tensor)

    @property
    def _non_persistent(self) -> set:
        """The names of the buffers ``state_dict`` leaves out (created on first use for a
        module unpickled from before ``persistent`` existed)."""
        if "_non_persistent_buffers_set" not in self.__dict__:
            object.__setattr__(self, "_non_persistent_buffers_set", set())
        return self.__dict__["_non_persistent_buffers_set"]

    def add_module(self, name: str, module: Module | None) -> None:
        self._modules[name] = module
        object.__setattr__(self, name, module)

    # ------------------------------------------------------------ traversal
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module and every submodule, depth first, as
        torch: a module reachable by several paths comes once, under its first name, unless
        ``remove_duplicate=False`` (what ``state_dict`` walks). A string first argument is
        the prefix (tinymm's earlier signature)."""
        if isinstance(memo, str):
            memo, prefix = None, memo
        if remove_duplicate:
            memo = set() if memo is None else memo
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                               remove_duplicate)

    def get_submodule(self, target: str) -> Module:
        """The submodule at a dotted path (``"encoder.layers.0"``); "" is the module itself."""
        module = self
        for part in target.split(".") if target else []:
            child = module._modules.get(part)
            if child is None:
                raise AttributeError(f"{type(module).__name__} has no submodule {part!r} "
                                     f"(looking up {target!r})")
            module = child
        return module

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at a dotted path (``"encoder.fc.weight"``)."""
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if module._parameters.get(name) is None:
            raise AttributeError(f"{type(module).__name__} has no parameter {name!r} (looking "
                                 f"up {target!r})")
        return module._parameters[name]

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()  # a child held under two names comes once, as torch
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        seen: set[int] = set()
        for module_name, module in self.named_modules(prefix=prefix):
            for name, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{module_name}.{name}" if module_name else name), p

    def named_buffers(self, prefix: str = "", remove_duplicate: bool = True
                      ) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        for module_name, module in self.named_modules(prefix=prefix,
                                                      remove_duplicate=remove_duplicate):
            for name, b in module._buffers.items():
                if b is None or (remove_duplicate and id(b) in seen):
                    continue
                seen.add(id(b))
                yield (f"{module_name}.{name}" if module_name else name), b

    def buffers(self) -> Iterator[Tensor]:
        for _, b in self.named_buffers():
            yield b

    def apply(self, fn) -> Module:
        """Call ``fn(module)`` on every submodule (children first) and on self, as PyTorch."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def num_parameters(self, trainable_only: bool = False) -> int:
        """How many scalars the parameters hold (shared parameters counted once)."""
        return int(sum(p.numel() for p in self.parameters()
                       if p.requires_grad or not trainable_only))

    # ------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (``set_to_none=False``: fill it with zeros)."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    # ------------------------------------------------------------ state
    def state_dict(self, *args, destination=None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict:
        """Every parameter and persistent buffer by dotted name, PyTorch's keys, order and
        layouts: detached Tensors sharing the module's storage (``keep_vars=True``: the
        Parameters and buffers themselves), as ``torch.nn.Module.state_dict``. Later training
        changes them: clone them (``{k: v.clone() for k, v in sd.items()}``) for a snapshot.
        ``destination`` and ``prefix`` (also positional, as torch's old signature) collect
        into a given dict under a key prefix."""
        if args:  # torch's deprecated positional form: (destination, prefix, keep_vars)
            destination, prefix, keep_vars = (*args, *(destination, prefix, keep_vars)[len(args):])
        state = OrderedDict() if destination is None else destination
        for module_name, module in self.named_modules(remove_duplicate=False):
            names = f"{prefix}{module_name}." if module_name else prefix
            entries = list(module._parameters.items()) + [
                (n, b) for n, b in module._buffers.items() if n not in module._non_persistent]
            for name, t in entries:
                if t is not None:
                    state[names + name] = t if keep_vars else t.detach()
        return state

    def load_state_dict(self, state_dict: dict, strict: bool = True,
                        assign: bool = False) -> IncompatibleKeys:
        """Copy Tensors or arrays into this module's parameters and buffers, in place (cast
        to each one's dtype; ``assign=True`` makes the module hold the given storage).

        Returns ``IncompatibleKeys(missing_keys, unexpected_keys)`` as PyTorch (a tuple).
        With ``strict=True`` (the default) any missing or unexpected key is an error; a shape
        mismatch is always one. Everything is checked before anything is copied, so a failed
        load leaves the module unchanged.
        """
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if strict and missing:
            problems.append("Missing key(s) in state_dict: "
                            + ", ".join(f'"{k}"' for k in missing) + ". ")
        if strict and unexpected:
            problems.append("Unexpected key(s) in state_dict: "
                            + ", ".join(f'"{k}"' for k in unexpected) + ". ")
        arrays = {}
        for key, value in state_dict.items():
            if key not in own:
                continue
            array = _host_array(value)
            if tuple(array.shape) != tuple(own[key].shape):
                problems.append(f"size mismatch for {key}: copying a param with shape "
                                f"{tuple(array.shape)} from checkpoint, the shape in current "
                                f"model is {tuple(own[key].shape)}.")
            elif array.dtype.kind not in "fiub":
                problems.append(f"{key}: the state dict holds dtype {array.dtype}; expected "
                                "a numeric array.")
            arrays[key] = array
        if problems:
            raise StateDictError(f"Error(s) in loading state_dict for {type(self).__name__}:"
                                 + "".join(f"\n\t{p}" for p in problems) + "\nBuild the model "
                                 "with the same configuration as the one that was saved (or "
                                 "pass strict=False to skip missing/unexpected keys).")
        for module_name, module in self.named_modules(remove_duplicate=False):
            prefix = f"{module_name}." if module_name else ""
            for name, t in list(module._parameters.items()) + list(module._buffers.items()):
                if t is not None and prefix + name in arrays:
                    _load_into(t, arrays[prefix + name], assign)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------ dtype
    def to(self, *args, dtype=None, device=None, non_blocking: bool = False) -> Module:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(tensor)``, as PyTorch:
        move and/or cast every parameter and buffer, in place.

        A dtype casts every floating parameter and buffer (np.float32 / np.float64); a device
        ("cpu", or "cuda" where ``tinymm.cuda.is_available()``) moves their storage. The
        Parameter objects stay the same, so an optimizer built before the move keeps updating
        them; gradients of moved or cast parameters are dropped.
        """
        from tinymm.devices import as_device

        dtype, device = to_arguments(args, dtype, device)
        if device is not None:
            device = as_device(device, f"{type(self).__name__}.to")
        for m in self.modules():
            for table in (m._parameters, m._buffers):
                for t in table.values():
                    if t is None:
                        continue
                    moved = t.detach()
                    if dtype is not None and moved.dtype.kind == "f" \
                            and moved.dtype != np.dtype(dtype):
                        moved = moved.astype(dtype)
                    if device is not None:
                        moved = moved.to(device)
                    if moved.array is not t.array:
                        t.array, t.device = moved.array, moved.device  # same Tensor, new storage
                        if table is m._parameters:
                            t.grad = None
        return self

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self, device=None) -> Module:
        return self.to("cuda" if device is None else device)

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    def half(self) -> Module:
        return self.to(np.float16)

    def requires_grad_(self, flag: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad = flag
        return self

    # ------------------------------------------------------------ calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def _call_hooks(self) -> tuple:
        """(forward pre-hooks, forward hooks, backward hooks) of this module, each a table or
        None: the tables exist once a hook is registered (_add_hook)."""
        return tuple(self.__dict__.get(name) for name in (
            "_forward_pre_hooks", "_forward_hooks", "_backward_hooks"))

    def __call__(self, *args, **kwargs):
        pre, post, backward = self._call_hooks()
        if not (pre or post or backward):
            return self.forward(*args, **kwargs)
        for hook, with_kwargs in list((pre or {}).values()):
            result = hook(self, args, kwargs) if with_kwargs else hook(self, args)
            if result is not None and with_kwargs:
                args, kwargs = result
            elif result is not None:
                args = result if isinstance(result, tuple) else (result,)
        state = _BackwardHookState(self) if backward else None
        if state is not None:
            args = state.wrap_inputs(args)
        output = self.forward(*args, **kwargs)
        for hook, with_kwargs in list((post or {}).values()):
            result = hook(self, args, kwargs, output) if with_kwargs else hook(self, args, output)
            if result is not None:
                output = result
        return output if state is None else state.wrap_outputs(output)

    # ------------------------------------------------------------ hooks
    def _add_hook(self, table: str, entry, prepend: bool) -> RemovableHandle:
        """Register ``entry`` (forward tables: (hook, with_kwargs)) last, or first."""
        if table not in self.__dict__:
            object.__setattr__(self, table, OrderedDict())
        hooks = self.__dict__[table]
        handle = RemovableHandle(hooks)
        hooks[handle.id] = entry
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_pre_hook(self, hook, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, args)`` before each forward; a returned value replaces the
        positional arguments (a tuple, or one value). ``with_kwargs``: ``hook(module, args,
        kwargs)``, returning None or ``(args, kwargs)``. ``prepend``: run before the others."""
        return self._add_hook("_forward_pre_hooks", (hook, with_kwargs), prepend)

    def register_forward_hook(self, hook, *, prepend: bool = False,
                              with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, args, output)`` (``with_kwargs``: ``hook(module, args, kwargs,
        output)``) after each forward; a returned value replaces the output."""
        return self._add_hook("_forward_hooks", (hook, with_kwargs), prepend)

    def register_full_backward_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_input, grad_output)`` once the gradients with respect to the
        module's tensor inputs are computed (tuples, None for an input that needs none); a
        returned tuple replaces grad_input."""
        return self._add_hook("_backward_hooks", hook, prepend)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        children = list(self.named_children())
        if not children:
            return lines[0] + ")"
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


class _BackwardHookState:
    """One forward call's full backward hooks: identity ops around the module's tensor inputs
    and outputs catch grad_output (the outputs' node runs first in backward) and grad_input."""

    def __init__(self, module: Module):
        self.module = module
        self.grad_output: tuple = ()
        self.input_slots: list[int] = []  # positions of the inputs that need a gradient
        self.n_inputs = 0

    def wrap_inputs(self, args: tuple) -> tuple:
        self.n_inputs = len(args)
        self.input_slots = [i for i, a in enumerate(args)
                            if isinstance(a, Tensor) and a.requires_grad]
        if not self.input_slots:
            return args
        wrapped = _HookIdentity.apply(*(args[i] for i in self.input_slots), state=self,
                                      stage="input")
        wrapped = wrapped if isinstance(wrapped, tuple) else (wrapped,)
        args = list(args)
        for i, t in zip(self.input_slots, wrapped):
            args[i] = t
        return tuple(args)

    def wrap_outputs(self, output):
        single = isinstance(output, Tensor)
        outputs = (output,) if single else output
        if not isinstance(outputs, tuple) or not all(isinstance(o, Tensor) for o in outputs) \
                or not any(o.requires_grad for o in outputs):
            return output
        wrapped = _HookIdentity.apply(*outputs, state=self, stage="output")
        return wrapped if single else tuple(wrapped if isinstance(wrapped, tuple) else (wrapped,))

    def call_hooks(self, grad_input_values: tuple) -> tuple:
        """Run the hooks on (grad_input per positional input, grad_output); returns the
        gradients for the inputs that need one (replaced where a hook returned new ones)."""
        grad_input = [None] * self.n_inputs
        for i, g in zip(self.input_slots, grad_input_values):
            grad_input[i] = Tensor._make(g)
        grad_input = tuple(grad_input)
        for hook in list(self.module._backward_hooks.values()):
            result = hook(self.module, grad_input, self.grad_output)
            if result is not None:
                grad_input = tuple(result)
        return tuple(None if grad_input[i] is None else
                     getattr(grad_input[i], "array", grad_input[i]) for i in self.input_slots)


class _HookIdentity(ArrayFunction):
    """Identity on several tensors whose backward hands the gradients to a backward hook."""

    @staticmethod
    def forward(ctx, *arrays, state, stage):
        ctx.save_for_backward(state, stage)
        return arrays if len(arrays) > 1 else arrays[0]

    @staticmethod
    def backward(ctx, *grads):
        state, stage = ctx.saved
        if stage == "output":
            state.grad_output = tuple(Tensor._make(g) for g in grads)
            if not state.input_slots:  # no input needs a gradient: the hooks run now
                state.call_hooks(())
            return grads
        return state.call_hooks(grads)

"""Reverse-mode automatic differentiation: ``ArrayFunction``, ``Function``, ``Context`` and the
backward walk.

Every tinymm op is an ``ArrayFunction`` subclass with two static methods::

    class Mul(ArrayFunction):
        @staticmethod
        def forward(ctx, a, b):            # a, b: arrays (never Tensors)
            ctx.save_for_backward(a, b)
            return a * b                   # an array (or a tuple of arrays)

        @staticmethod
        def backward(ctx, grad):           # grad: array shaped like the output
            a, b = ctx.saved
            return grad * b, grad * a      # one gradient per forward input, in order

``Mul.apply(x, y)`` unwraps the Tensors, runs ``forward`` and, when any input requires a
gradient, records a graph node: the ``Context`` keeps the inputs and what forward saved, and
the output Tensor points back at it. ``Tensor.backward()`` then visits the nodes in reverse
topological order (an iterative depth-first search, so a chain of 100,000 ops does not hit
Python's recursion limit), calls each ``backward`` and adds the results into the inputs'
gradients (accumulating when a tensor feeds several ops: the multivariate chain rule sums
over every path).

``Function`` is PyTorch's ``torch.autograd.Function``, for programs that write their own
differentiable function with Tensors: forward gets the Tensors passed to ``apply`` (with
recording off, so any Tensor method works on them) and backward gets and returns Tensors. It
is an ``ArrayFunction`` whose ``apply`` and backward call convert at the edges, so the graph,
the backward walk, the in-place checks and anomaly mode are the same for both.

Anomaly detection (``with tinymm.detect_anomaly():``, as ``torch.autograd.detect_anomaly``):
every op records where in the calling code it was created, and an op whose forward turns
finite inputs into NaN/Inf, or whose backward turns a finite upstream gradient into a NaN/Inf
input gradient, raises ``AnomalyError`` naming the op, the output or input, and that place.
``nonfinite_origin(tensor)`` walks a recorded graph after the fact (a training loop calls it
when the loss is NaN) and names the first op, in forward order, whose output is non-finite
while its inputs are finite, or the leaf tensor that was non-finite to begin with.
"""

from __future__ import annotations

import contextvars
import os
import sys
import types
from typing import Any

import numpy as np

from tinymm.backend import Backend, current_backend, get_backend
from tinymm.kernels.numba_cuda import device as cuda_device

# Whether ops record the graph, per thread (and asyncio task) as in PyTorch: one thread's
# ``no_grad`` block never turns recording off, or back on, in another.
_grad_mode: contextvars.ContextVar[bool] = contextvars.ContextVar("tinymm_grad", default=True)


def is_grad_enabled() -> bool:
    return _grad_mode.get()


def set_grad_mode(mode: bool) -> contextvars.Token:
    """Turn graph recording on or off in this thread; returns the token that
    ``reset_grad_mode`` takes to restore the previous mode (for torch.set_grad_enabled)."""
    return _grad_mode.set(bool(mode))


def reset_grad_mode(token: contextvars.Token) -> None:
    _grad_mode.reset(token)


class no_grad:
    """Context manager (and decorator) that disables graph recording in this thread: with
    ``with no_grad():``, ``@no_grad()`` and, as PyTorch, the bare ``@no_grad``."""

    def __new__(cls, fn=None):
        manager = super().__new__(cls)
        return manager if fn is None else manager(fn)

    def __enter__(self):
        self._token = _grad_mode.set(False)
        return self

    def __exit__(self, *exc) -> None:
        _grad_mode.reset(self._token)

    def __call__(self, fn):
        def wrapper(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)

        wrapper.__name__ = getattr(fn, "__name__", "wrapper")
        wrapper.__doc__ = getattr(fn, "__doc__", None)
        return wrapper


# ---------------------------------------------------------------- anomaly detection
# 0: off; 1: ops record their creation site; 2: they also raise at the first NaN/Inf
_anomaly: contextvars.ContextVar[int] = contextvars.ContextVar("tinymm_anomaly", default=0)
_PACKAGE = os.path.dirname(os.path.abspath(__file__))
# Engine internals: a creation site is never reported inside these (tinymm/ relative paths).
_INTERNAL = ("autograd.py", "tensor.py", "functional.py", "losses.py", "ops" + os.sep,
             "kernels" + os.sep)


class AnomalyError(RuntimeError):
    """Raised in ``detect_anomaly`` mode by the first op that produced a NaN or an Inf."""


def is_anomaly_enabled() -> bool:
    return _anomaly.get() > 0


class detect_anomaly:
    """Context manager (and decorator): ops record where they were created and, with
    ``check_nan`` (the default), raise ``AnomalyError`` at the first forward or backward that
    produces NaN/Inf. ``check_nan=False`` only records the creation sites (for
    ``nonfinite_origin``). In this thread only; slower (one stack walk per op and a
    finiteness check per array)."""

    def __init__(self, check_nan: bool = True):
        self.check_nan = bool(check_nan)

    def __enter__(self):
        self._token = _anomaly.set(2 if self.check_nan else 1)
        return self

    def __exit__(self, *exc) -> None:
        _anomaly.reset(self._token)

    def __call__(self, fn):
        def wrapper(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)

        wrapper.__name__ = getattr(fn, "__name__", "wrapper")
        wrapper.__doc__ = getattr(fn, "__doc__", None)
        return wrapper


def _creation_site() -> list[tuple[str, int, str]]:
    """(file, line, function) of the calling frames outside the engine internals, innermost
    first: the layer or model line that created an op, then the user code above it."""
    frames = []
    frame = sys._getframe(2)
    while frame is not None and len(frames) < 6:
        path = frame.f_code.co_filename
        inside = os.path.abspath(path).startswith(_PACKAGE + os.sep)
        rel = os.path.relpath(os.path.abspath(path), _PACKAGE) if inside else ""
        if not (inside and rel.startswith(_INTERNAL)):
            frames.append((path, frame.f_lineno, frame.f_code.co_name))
            if not inside:  # the first frame in the user's own code ends the record
                break
        frame = frame.f_back
    return frames


def _format_site(site) -> str:
    if not site:
        return "an unknown place (run under tinymm.detect_anomaly() to record it)"
    path, line, fn = site[-1]
    text = f"{path}:{line} in {fn}"
    if len(site) > 1:
        text += " (through " + ", ".join(f"{os.path.relpath(p, os.path.dirname(_PACKAGE))}:"
                                         f"{n} in {f}" for p, n, f in site[:-1]) + ")"
    return text


def _device_finite(value) -> bool:
    """Whether a float device array holds only finite values, decided on the device: the sum
    of x * 0 is NaN exactly when some x is NaN or +-Inf; one counted copy of that scalar."""
    cuda = get_backend("cuda")
    probe, _ = cuda.mul_forward(value, cuda.full((), 0, value.dtype))  # 0, or NaN
    total, _ = cuda.sum_forward(probe)  # ()
    return bool(np.isfinite(cuda_device.to_host(total)))


def _host(value):
    """A NumPy view of ``value`` for finiteness checks, or None when there is nothing to
    check. A float device array is checked on the device first and copied over (counted,
    as every transfer) only when it holds NaN/Inf, to count them."""
    if cuda_device.is_device_array(value):
        if value.dtype.kind not in "fc" or value.size == 0 or _device_finite(value):
            return None
        value = cuda_device.to_host(value)
    return value if isinstance(value, (np.ndarray, np.generic)) else None


def _nonfinite(value) -> str | None:
    """"NaN", "Inf", "NaN and Inf" with a count for a float array holding such values."""
    array = _host(value)
    if array is None or array.dtype.kind not in "fc" or array.size == 0:
        return None
    finite = np.isfinite(array)
    if finite.all():
        return None
    nan = int(np.isnan(array).sum())
    inf = int(array.size - finite.sum()) - nan
    what = " and ".join(w for w, k in (("NaN", nan), ("Inf", inf)) if k)
    return f"{what} ({nan + inf} of {array.size} values)"


def _all_finite(values) -> bool:
    from tinymm.tensor import Tensor

    return all(_nonfinite(v.array if isinstance(v, Tensor) else v) is None for v in values)


def nonfinite_origin(tensor) -> str | None:
    """Where the first non-finite value behind ``tensor`` came from, or None when ``tensor``
    and everything its graph recorded are finite.

    Walks the recorded graph in forward order and names the first op whose inputs are all
    finite but whose output (as seen by the op that consumed it, or ``tensor`` itself) is not,
    with its creation site when it was recorded under ``detect_anomaly``; or the leaf tensor
    (a parameter or an input) that already held NaN/Inf."""
    from tinymm.tensor import Tensor

    hint = "; run under tinymm.detect_anomaly() to see the line that created each op"

    def created(node) -> str:
        site = getattr(node, "created_at", None)
        return f" (created at {_format_site(site)})" if site else ""

    def finish(text: str, *nodes) -> str:
        return text if any(getattr(n, "created_at", None) for n in nodes) else text + hint

    node = getattr(tensor, "_node", None)
    if node is None:
        what = _nonfinite(tensor.array) if isinstance(tensor, Tensor) else _nonfinite(tensor)
        return None if what is None else f"the tensor itself is a leaf holding {what}"
    forward_order = list(reversed(_topological_order(node)))
    for current in forward_order:
        for index, value in enumerate(current.inputs):
            array = value.array if isinstance(value, Tensor) else value
            what = _nonfinite(array)
            if what is None:
                continue
            consumer = f"input {index} of {current.fn.__name__}{created(current)}"
            producer = value._node if isinstance(value, Tensor) else None
            if producer is None:
                kind = ("a leaf tensor (a parameter or an input)" if isinstance(value, Tensor)
                        else "a non-tensor argument")
                return finish(f"{consumer} is {kind} of shape {np.shape(array)} that holds "
                              f"{what}", current)
            return finish(f"the forward of {producer.fn.__name__}{created(producer)} produced "
                          f"{what} in its output {value._out_index} (shape {np.shape(array)}) "
                          f"from finite inputs; the value feeds {consumer}", producer)
    what = _nonfinite(tensor.array)
    if what is None:
        return None
    return finish(f"the forward of {node.fn.__name__}{created(node)} produced {what} in its "
                  f"output {tensor._out_index} (shape {tensor.shape}) from finite inputs", node)


def _check_forward(ctx: Context, raw: list, outputs: tuple) -> None:
    for index, out in enumerate(outputs):
        what = _nonfinite(out)
        if what is not None and _all_finite(raw):
            raise AnomalyError(
                f"detect_anomaly: the forward of {ctx.fn.__name__} produced {what} in output "
                f"{index} (shape {np.shape(out)}) from finite inputs; the op was created at "
                f"{_format_site(ctx.created_at)}")


def _check_backward(node: Context, grads: list, input_grads: tuple) -> None:
    if not _all_finite(grads):
        return  # a non-finite upstream gradient: reported where it was produced
    for index, g in enumerate(input_grads):
        what = None if g is None else _nonfinite(g)
        if what is not None:
            raise AnomalyError(
                f"detect_anomaly: the backward of {node.fn.__name__} produced {what} in the "
                f"gradient of input {index} (shape {np.shape(g)}) from a finite upstream "
                f"gradient; the op was created at {_format_site(node.created_at)}")


class Context:
    """One node of the graph: the function, its inputs, and what forward saved.

    ``__slots__`` keeps it to these attributes: an op saves for backward only through
    ``save_for_backward`` (a typo or a second, private channel raises AttributeError).
    """

    # __weakref__: weak references, with which tests prove no graph outlives its step
    __slots__ = ("fn", "backend", "inputs", "input_edges", "needs_input_grad", "saved",
                 "output_shapes", "output_dtypes", "freed", "saved_versions", "created_at",
                 "output_hooks", "materialize_grads", "__weakref__")

    def __init__(self, fn: type[ArrayFunction], backend: Backend):
        self.fn = fn
        self.backend = backend  # backward calls the same backend's kernels as forward
        self.inputs: list = []  # the forward's positional arguments (Tensors or other values)
        # per input, (the node that made it, which output) when this op ran: the graph's
        # edges, fixed at record time so an in-place op that later gives the input tensor a
        # new history does not reroute this op's gradient (PyTorch's edges point at nodes)
        self.input_edges: list = []
        self.needs_input_grad: tuple[bool, ...] = ()
        self.saved: tuple = ()
        self.saved_versions: list = []  # (version box, version at save, what) per saved tensor
        self.output_shapes: list[tuple[int, ...]] = []
        self.output_dtypes: list[np.dtype] = []
        self.freed = False
        self.created_at: list | None = None  # the calling code's frames, in anomaly mode
        self.output_hooks: dict | None = None  # output index -> that tensor's gradient hooks
        self.materialize_grads = True  # an output no gradient reached gets zeros, not None

    def save_for_backward(self, *values: Any) -> None:
        self.saved = values

    @property
    def saved_tensors(self) -> tuple:
        """PyTorch's name for what ``save_for_backward`` kept: the arrays an ``ArrayFunction``
        saved, the Tensors a ``Function`` saved."""
        return self.saved

    def free(self) -> None:
        """Drop saved arrays once backward has used them (unless retain_graph).

        Ops keep everything backward needs through ``save_for_backward`` (a kernel's cache
        included); it goes, so a long training loop does not hold every step's activations
        alive through the output tensors.
        """
        self.saved = ()
        self.saved_versions = []
        self.freed = True


def device_unsupported(op: str) -> RuntimeError:
    """The error of an op that has no cuda implementation, given cuda tensors."""
    return RuntimeError(f"{op}: not implemented for cuda tensors (it computes on the host); "
                        "move its inputs with .cpu() first and the result back with "
                        ".to('cuda')")


def _check_stayed_on_device(cls, outputs) -> None:
    """An op given cuda tensors must return device arrays: one that computed in NumPy (its
    inputs crossed to the host through a counted implicit copy) is an error naming it,
    never a host result passed off as the op's."""
    if any(isinstance(o, (np.ndarray, np.generic)) for o in outputs):
        raise device_unsupported(cls.__name__)


def _forward_on_device(cls, ctx, raw, kwargs):
    """``cls.forward`` on device arrays: a forward written in NumPy reaches for a host-only
    array method (``.copy``, ``.astype``, ``.min``...) that a device array lacks; that
    AttributeError becomes the op's "not implemented for cuda tensors" error."""
    try:
        return cls.forward(ctx, *raw, **kwargs)
    except AttributeError as exc:
        raise device_unsupported(cls.__name__) from exc


class ArrayFunction:
    """Base class of every differentiable op (see the module docstring). ``crosses_devices``
    marks the one op whose output may live elsewhere than its inputs (the device copy)."""

    crosses_devices = False

    @staticmethod
    def inputs_read_by_backward(needs_input_grad) -> set[int] | None:
        """Which inputs the gradients in ``needs_input_grad`` read (None: all of them).

        Only these are guarded against later in-place changes, as PyTorch guards only the
        tensors an op really saves (``x * 3`` keeps 3, so changing x afterwards is fine).
        """
        return None

    @staticmethod
    def forward(ctx: Context, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, *grads):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        from tinymm.tensor import Tensor

        ctx, record, on_device = _begin(cls, Context, args)
        raw = [a.array if isinstance(a, Tensor) else a for a in args]
        out = (_forward_on_device(cls, ctx, raw, kwargs) if on_device
               else cls.forward(ctx, *raw, **kwargs))

        outputs = out if isinstance(out, tuple) else (out,)
        if on_device:
            _check_stayed_on_device(cls, outputs)
        if _anomaly.get() == 2:
            _check_forward(ctx, raw, outputs)
        tensors = []
        for array in outputs:
            t = Tensor._make(array)
            _share_version(t, args)
            tensors.append(t)
        if record:
            ctx.saved_versions = _saved_versions(ctx, args, tensors)
        _record(ctx, args, tensors, record)
        return tuple(tensors) if isinstance(out, tuple) else tensors[0]

    @classmethod
    def _call_backward(cls, node: Context, grads: list):
        """The input gradients from the output gradients (arrays): ``backward`` itself."""
        return cls.backward(node, *grads)


def _begin(cls, context: type[Context], args: tuple) -> tuple[Context, bool, bool]:
    """What every ``apply`` does before its forward: the device check, the backend the op
    runs on, its node (of class ``context``), which inputs need a gradient, whether the graph
    records it, and whether it runs on cuda arrays (the node, record, on_device). One pass
    over the arguments: this runs for every op."""
    from tinymm.tensor import Tensor

    kind = None  # the tensors' device type; "" once two of them disagree
    needs = []
    stale = False  # a tensor that a recorded in-place op changed through a view
    for a in args:
        if isinstance(a, Tensor):
            device = a.device
            here = getattr(device, "type", None) or str(device)
            kind = here if kind is None or kind == here else ""
            needs.append(a.requires_grad)
            stale = stale or getattr(a, "_stale_by", None) is not None
        else:
            needs.append(False)
    if kind == "":
        _raise_mixed_devices(cls, args)
    # ops run where their inputs live: cuda tensors on the cuda kernels, cpu tensors on
    # the selected CPU backend
    on_cuda = kind == "cuda"
    ctx = context(cls, get_backend("cuda") if on_cuda else current_backend())
    grad_on = _grad_mode.get()
    if grad_on and stale:
        _check_not_stale(cls, args)
    # forward may save only what the needed gradients use
    ctx.needs_input_grad = needs = tuple(needs)
    if _anomaly.get():
        ctx.created_at = _creation_site()
    return ctx, grad_on and any(needs), on_cuda and not cls.crosses_devices


def _raise_mixed_devices(cls, args) -> None:
    from tinymm.tensor import Tensor

    devices = {getattr(a.device, "type", None) or str(a.device) for a in args
               if isinstance(a, Tensor)}
    raise RuntimeError(
        f"{cls.__name__}: expected all tensors to be on the same device, but found "
        f"tensors on {' and '.join(sorted(devices))}; move them with .to('cuda') or "
        f".cpu() first"
    )


def _record(ctx: Context, args: tuple, outputs: list, record: bool, frozen=()) -> None:
    """Make ``ctx`` the graph node of the float tensors in ``outputs`` (None entries are not
    outputs of the graph; those in ``frozen`` get no gradient) when ``record``; otherwise
    drop what forward saved."""
    from tinymm.tensor import Tensor

    if not record:
        ctx.saved = ()
        return
    ctx.inputs = list(args)
    ctx.input_edges = [(a._node, a._out_index) if isinstance(a, Tensor) else (None, 0)
                       for a in args]
    ctx.output_shapes, ctx.output_dtypes = [], []
    for t in outputs:
        if t is None:
            continue
        index = len(ctx.output_shapes)
        ctx.output_shapes.append(tuple(t.array.shape))
        ctx.output_dtypes.append(_dtype_of(t.array))
        if ctx.output_dtypes[-1].kind == "f" and not _is_in(t, frozen):  # not indices
            t.requires_grad, t._node, t._out_index = True, ctx, index


class FunctionCtx(Context):
    """The ``ctx`` of a PyTorch-style ``Function``: a graph node that also takes any attribute
    (``ctx.constant = 3``), saves Tensors, and carries PyTorch's ``mark_dirty``,
    ``mark_non_differentiable`` and ``set_materialize_grads``."""

    def __init__(self, fn, backend: Backend):
        super().__init__(fn, backend)
        self.dirty: tuple = ()
        self.non_differentiable: tuple = ()
        self.output_tensors: list[bool] = []  # per forward output: whether it is a Tensor

    def save_for_backward(self, *tensors) -> None:
        from tinymm.tensor import Tensor

        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"{self.fn.__name__}: save_for_backward can only save tensors "
                                f"(or None), but argument {i} is of type "
                                f"{type(t).__name__}; keep other values as ctx attributes")
        self.saved = tensors

    def mark_dirty(self, *tensors) -> None:
        """The inputs that forward changed in place (and returns as outputs)."""
        self.dirty = tensors

    def mark_non_differentiable(self, *tensors) -> None:
        """The outputs that get no gradient (indices, masks)."""
        self.non_differentiable = tensors

    def set_materialize_grads(self, value: bool) -> None:
        """Whether backward gets zeros (True, the default) or None for an output that no
        gradient reached."""
        self.materialize_grads = bool(value)


def _is_in(t, tensors) -> bool:
    return any(t is u for u in tensors)


class Function(ArrayFunction):
    """``torch.autograd.Function``: a differentiable function written with Tensors.

    ``forward(ctx, *args, **kwargs)`` gets the arguments as passed to ``apply`` (Tensors as
    Tensors, anything else as it is) and runs with graph recording off, so any Tensor method
    works on them; it returns a Tensor or a tuple (non-Tensor entries pass through).
    ``backward(ctx, *grad_outputs)`` gets one gradient Tensor per output (None for a
    non-Tensor output) and returns one gradient per forward argument (None where there is
    none); a gradient shaped as a broadcast of its input is summed down to the input's shape,
    as PyTorch does. Alternatively ``forward(*args)`` without ``ctx`` plus
    ``setup_context(ctx, inputs, output)``. tinymm's own ops subclass ``ArrayFunction``
    (arrays in, arrays out) instead."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("tinymm.") and not cls.__module__.startswith(
                "tinymm.autograd"):
            raise TypeError(f"{cls.__module__}.{cls.__name__}: tinymm's own ops subclass "
                            "ArrayFunction (arrays in, arrays out, calling kernels); Function "
                            "is PyTorch's Tensor-level class for user programs")

    @staticmethod
    def setup_context(ctx: FunctionCtx, inputs: tuple, output) -> None:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx, record, _ = _begin(cls, FunctionCtx, args)
        with no_grad():
            if cls.setup_context is Function.setup_context:
                out = cls.forward(ctx, *args, **kwargs)
            else:
                out = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, out)
        outputs = list(out) if isinstance(out, tuple) else [out]
        results = _function_outputs(ctx, args, outputs)
        ctx.output_tensors = [r is not None for r in results]
        if _anomaly.get() == 2:
            _check_forward(ctx, list(args), [t.array for t in results if t is not None])
        frozen = [r for r, o in zip(results, outputs) if _is_in(o, ctx.non_differentiable)]
        _record(ctx, args, results, record, frozen)
        if record:  # a saved output is kept as an alias: no cycle through its node
            ctx.saved = tuple(_alias(t) if t is not None and _is_in(t, results) else t
                              for t in ctx.saved)
            ctx.saved_versions = _saved_tensor_versions(ctx)
        final = [r if r is not None else o for r, o in zip(results, outputs)]
        return tuple(final) if isinstance(out, tuple) else final[0]

    @classmethod
    def _call_backward(cls, node: FunctionCtx, grads: list):
        """``backward`` on Tensors, its results checked and turned back into arrays."""
        from tinymm.tensor import Tensor

        slots = iter(grads)
        upstream = [_as_tensor_or_none(next(slots)) if is_tensor else None
                    for is_tensor in node.output_tensors]
        with no_grad():
            result = cls.backward(node, *upstream)
        result = result if isinstance(result, tuple) else (result,)
        expected = len(node.inputs)
        if len(result) > expected and all(r is None for r in result[expected:]):
            result = result[:expected]
        if len(result) != expected:
            raise RuntimeError(f"function {cls.__name__}Backward returned an incorrect number "
                               f"of gradients (expected {expected}, got {len(result)})")
        arrays = []
        for i, (g, parent) in enumerate(zip(result, node.inputs)):
            if g is None:
                arrays.append(None)
                continue
            if not isinstance(parent, Tensor):
                raise RuntimeError(
                    f"function {cls.__name__}Backward returned a gradient different than None "
                    f"at position {i}, but the corresponding forward input was not a Tensor")
            if not isinstance(g, Tensor):
                raise TypeError(f"function {cls.__name__}Backward returned a "
                                f"{type(g).__name__} at position {i}; expected a Tensor or None")
            arrays.append(_grad_for(cls, i, g, parent))
        return tuple(arrays)


def _function_outputs(ctx: FunctionCtx, args: tuple, outputs: list) -> list:
    """Per output of a ``Function``'s forward: the Tensor that becomes the graph output (an
    input marked dirty stays the same object; an input returned unchanged becomes a new
    Tensor sharing its storage, as a view), or None for a non-Tensor output."""
    from tinymm.tensor import Tensor

    results = []
    for t in outputs:
        if not isinstance(t, Tensor):
            results.append(None)
            continue
        if _is_in(t, ctx.dirty):
            if t.requires_grad and t.is_leaf:
                raise RuntimeError(f"{ctx.fn.__name__}: a leaf Variable that requires grad "
                                   "has been used in an in-place operation (mark_dirty); "
                                   "pass a clone (x.clone()) instead")
            t._version_box[0] += 1  # as torch: the saved-tensor checks see the change
        elif _is_in(t, args):
            t = _alias(t)
        elif t.requires_grad or t._node is not None:
            t = _alias(t)  # a tensor from outside the forward: the output is a new one
        results.append(t)
    return results


def _alias(t):
    """A new Tensor over ``t``'s storage and version counter, outside any graph."""
    from tinymm.tensor import Tensor

    out = Tensor._make(t.array)
    out._version_box = t._version_box
    out._base = t if t._base is None else t._base
    return out


def _as_tensor_or_none(g):
    from tinymm.tensor import Tensor

    return None if g is None else Tensor._make(g)


def _grad_for(cls, i: int, g, parent):
    """The array of gradient ``g`` for forward input ``parent``: summed down when it is
    shaped as a broadcast of the input, cast to the input's dtype (PyTorch's checks)."""
    if tuple(g.shape) != tuple(parent.shape):
        try:
            ok = np.broadcast_shapes(tuple(parent.shape), tuple(g.shape)) == tuple(g.shape)
        except ValueError:
            ok = False
        if not ok:
            raise RuntimeError(f"function {cls.__name__}Backward returned an invalid gradient "
                               f"at index {i} - got {list(g.shape)} but expected shape "
                               f"compatible with {list(parent.shape)}")
        g = g.sum_to_size(*parent.shape)
    if g.dtype != parent.dtype:
        g = g.to(parent.dtype)
    return g.array


def _saved_tensor_versions(ctx: FunctionCtx) -> list:
    """(version box, version now, description) for each Tensor a ``Function`` saved."""
    return [(t._version_box, t._version_box[0],
             (t.dtype, tuple(t.shape), "saved tensor", i, ctx.fn.__name__))
            for i, t in enumerate(ctx.saved) if t is not None]


def once_differentiable(fn):
    """``torch.autograd.function.once_differentiable``: marks a ``backward`` that is not
    itself differentiable. tinymm's backward never records a graph, so it returns ``fn``."""
    return fn


def _storage(array):
    """The array that owns ``array``'s memory (follows NumPy's chain of views)."""
    base = getattr(array, "base", None)
    while isinstance(base, np.ndarray):
        array, base = base, base.base
    return array


def _share_version(out, args) -> None:
    """An output that is a view of an input's storage shares its version counter, so an
    in-place change through either is seen by both (PyTorch's views)."""
    base = getattr(out.array, "base", None)
    if base is None:
        return
    root = _storage(out.array)
    for a in args:
        if hasattr(a, "_version_box") and _storage(a.array) is root:
            out._version_box = a._version_box
            out._base = a if a._base is None else a._base  # the tensor whose storage it views
            return


def _check_not_stale(fn, args) -> None:
    """A recorded in-place op on a view changed this tensor's values but not its graph
    history (tinymm records the view, not its base): using it now would give a wrong
    gradient, so refuse."""
    for a in args:
        who = getattr(a, "_stale_by", None)
        if who is not None:
            raise RuntimeError(
                f"{fn.__name__}: this tensor was changed through a view by a recorded in-place "
                f"{who}, and tinymm does not carry that change into the tensor's own graph. "
                "Assign through the tensor instead (x[index] = value, or x[index] += value), "
                "or build the result out of place (torch.cat / torch.stack)")


def _saved_storages(ctx) -> set:
    """The ids of the storages (``_storage``) of the arrays an op kept for its backward
    (``saved``, kernel caches included: nested tuples, lists and dicts)."""
    found, stack = set(), [ctx.saved]
    while stack:
        value = stack.pop()
        if isinstance(value, np.ndarray):
            found.add(id(_storage(value)))
        elif isinstance(value, (tuple, list)):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
    return found


def _saved_versions(ctx, args, outputs) -> list:
    """(version box, version now, tensor description) for each input or output tensor whose
    storage the op saved for backward: an in-place change to it would corrupt the backward."""
    saved = _saved_storages(ctx)
    if not saved:
        return []
    checks = []
    read = ctx.fn.inputs_read_by_backward(ctx.needs_input_grad)  # None: every input
    for role, tensors in (("input", args), ("output", outputs)):
        for i, t in enumerate(tensors):
            if role == "input" and read is not None and i not in read:
                continue  # saved by the kernel, but the gradients asked for never read it
            box = getattr(t, "_version_box", None)
            if box is not None and id(_storage(t.array)) in saved:
                # the description's parts; formatted only for an error (str of a dtype costs
                # more than the rest of this check, and this runs for every recorded op)
                what = (t.array.dtype, tuple(t.shape), role, i, ctx.fn.__name__)
                checks.append((box, box[0], what))
    return checks


def _check_versions(node: Context) -> None:
    for box, version, (dtype, shape, role, i, name) in node.saved_versions:
        if box[0] != version:
            what = f"{dtype} {list(shape)}, {role} {i} of {name}"
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [{what}] is at version {box[0]}; expected version "
                f"{version} instead. Compute on a copy (x = x.clone()) or do the in-place "
                "update after backward().")


class RemovableHandle:
    """What ``register_hook`` and the Module hook registrations return: ``remove()`` takes the
    hook out of its table (also on leaving a ``with`` block), as ``torch.utils.hooks``."""

    _next_id = 0

    def __init__(self, table: dict):
        self._table = table
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self._table.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


class GradFn:
    """``tensor.grad_fn``: a view of the graph node that made a non-leaf tensor.

    ``name()`` is the op's class name plus ``Backward0`` (PyTorch's form, e.g. ``MulBackward0``);
    ``next_functions`` holds, per forward input, the node that made it (or None).
    """

    def __init__(self, node: Context):
        self._node = node

    def name(self) -> str:
        fn = self._node.fn  # a PyTorch-style Function's node is named without the 0, as torch
        named = getattr(fn, "grad_fn_name", None)  # an op that names its node as PyTorch does
        if named is not None:
            return named
        return f"{fn.__name__}Backward" + ("" if issubclass(fn, Function) else "0")

    @property
    def next_functions(self) -> tuple:
        return tuple((None if n is None else GradFn(n), i) for n, i in self._node.input_edges)

    def __eq__(self, other) -> bool:
        return isinstance(other, GradFn) and other._node is self._node

    def __hash__(self) -> int:
        return id(self._node)

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self):#x}>"  # PyTorch's form


def run_hooks(hooks: dict | None, grad):
    """Apply gradient hooks in registration order: each gets the gradient as a Tensor and may
    return a replacement (a Tensor or array of the same shape) or None to keep it."""
    if not hooks:
        return grad
    from tinymm.tensor import Tensor

    for hook in list(hooks.values()):
        result = hook(Tensor._make(grad))
        if result is not None:
            replaced = result.array if isinstance(result, Tensor) else np.asarray(result)
            if tuple(np.shape(replaced)) != tuple(np.shape(grad)):
                raise RuntimeError(f"hook {getattr(hook, '__name__', hook)!r} returned a "
                                   f"gradient of shape {tuple(np.shape(replaced))}; expected "
                                   f"{tuple(np.shape(grad))}")
            grad = replaced
    return grad


def _topological_order(root_node: Context) -> list[Context]:
    """Nodes reachable from ``root_node``, each after every node that consumes its outputs.

    Iterative post-order depth-first search; the reversed post-order is a valid order for
    the backward walk.
    """

    post_order: list[Context] = []
    visited: set[int] = set()
    stack: list[tuple[Context, bool]] = [(root_node, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            post_order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent_node, _ in node.input_edges:
            if parent_node is not None and id(parent_node) not in visited:
                stack.append((parent_node, False))
    post_order.reverse()
    return post_order


def _dtype_of(array) -> np.dtype:
    """The dtype of a host or device array (np.asarray would copy a device array to the host)."""
    return array.dtype if hasattr(array, "dtype") else np.asarray(array).dtype


def _add(a, b):
    """a + b for two gradients of one tensor: NumPy on the host, the add kernel on a GPU."""
    if isinstance(a, np.ndarray) or np.isscalar(a):
        return a + b
    return get_backend("cuda").add_forward(a, b)[0]


def run_backward(root, grad: np.ndarray, retain_graph: bool = False) -> None:
    """Backpropagate ``grad`` (shaped like ``root``) to every leaf that requires grad."""

    if root._node is None:  # a leaf: its gradient is the upstream gradient itself
        root._accumulate(run_hooks(getattr(root, "_hooks", None), grad))
        return

    anomaly = _anomaly.get()
    order = _topological_order(root._node)
    # node id -> list of upstream gradients, one slot per output of that node
    pending: dict[int, list] = {id(root._node): [None] * len(root._node.output_shapes)}
    pending[id(root._node)][root._out_index] = grad
    hooked_leaves: dict[int, list] = {}  # id -> [leaf, summed gradient]: hooks see the total

    for node in order:
        slots = pending.pop(id(node), None)
        if slots is None:  # no gradient reached this node
            continue
        if node.freed:
            raise RuntimeError(
                f"{node.fn.__name__}: trying to backward through the graph a second time; "
                "its saved arrays were freed by the first backward. "
                "Call backward(retain_graph=True) the first time if you need to do this."
            )
        _check_versions(node)
        grads = [  # an output no gradient reached gets zeros, on the node's device
            g if g is not None or not node.materialize_grads
            else node.backend.full(shape, 0, dtype)
            for g, shape, dtype in zip(slots, node.output_shapes, node.output_dtypes)
        ]
        if node.output_hooks:
            grads = [g if g is None else run_hooks(node.output_hooks.get(i), g)
                     for i, g in enumerate(grads)]
        input_grads = node.fn._call_backward(node, grads)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if anomaly == 2:
            _check_backward(node, grads, input_grads)
        if len(input_grads) != len(node.inputs):
            raise RuntimeError(
                f"{node.fn.__name__}.backward returned {len(input_grads)} gradients for "
                f"{len(node.inputs)} forward inputs"
            )
        for parent, (parent_node, index), needs, g in zip(
                node.inputs, node.input_edges, node.needs_input_grad, input_grads):
            if not needs or g is None:
                continue
            if tuple(np.shape(g)) != parent.shape:
                raise RuntimeError(
                    f"{node.fn.__name__}.backward returned a gradient of shape {np.shape(g)} "
                    f"for an input of shape {parent.shape}"
                )
            if parent_node is None and getattr(parent, "_hooks", None):
                entry = hooked_leaves.setdefault(id(parent), [parent, None])
                entry[1] = g if entry[1] is None else _add(entry[1], g)
            elif parent_node is None or (parent._retains_grad and parent._node is parent_node):
                parent._accumulate(g)
            if parent_node is not None:
                outputs = len(parent_node.output_shapes)
                slot = pending.setdefault(id(parent_node), [None] * outputs)
                slot[index] = g if slot[index] is None else _add(slot[index], g)
        if not retain_graph:
            node.free()
    for leaf, g in hooked_leaves.values():
        leaf._accumulate(run_hooks(leaf._hooks, g))


def _leaves(outputs) -> list:
    """Every leaf tensor the graph below ``outputs`` accumulates a gradient into."""
    found, seen = {}, set()
    stack = [t._node for t in outputs if t._node is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for parent, (parent_node, _), needs in zip(node.inputs, node.input_edges,
                                                   node.needs_input_grad):
            if parent_node is None and needs:
                found[id(parent)] = parent
            elif parent_node is not None:
                stack.append(parent_node)
    return list(found.values())


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph: bool = False,
         allow_unused: bool = False):
    """``torch.autograd.grad``: d(sum_i outputs[i] * grad_outputs[i]) / d(inputs), returned as
    a tuple of Tensors, without touching any tensor's ``.grad``.

    Runs the ordinary backward walk once per output, with every ``.grad`` in the graph set
    aside first and put back after. ``create_graph=True`` (a differentiable gradient, for
    higher-order derivatives) is not supported: tinymm's backward computes arrays, not ops.
    """
    from tinymm.tensor import Tensor

    if create_graph:
        raise NotImplementedError("autograd.grad: create_graph=True (higher-order gradients) "
                                  "is not supported in tinymm; backward runs on arrays")
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs)
    touched = {id(t): t for t in _leaves(outputs) + inputs}
    saved = {k: (t._grad, t._retains_grad) for k, t in touched.items()}
    try:
        for t in touched.values():
            t._grad = None
        for t in inputs:
            t._retains_grad = True
        for k, (out, g) in enumerate(zip(outputs, grad_outputs)):
            keep = True if k < len(outputs) - 1 else bool(retain_graph)
            out.backward(g, retain_graph=keep)
        result = tuple(t._grad for t in inputs)
    finally:
        for k, t in touched.items():
            t._grad, t._retains_grad = saved[k]
    if not allow_unused and any(g is None for g in result):
        raise RuntimeError("autograd.grad: one of the inputs was not used to compute the "
                           "outputs; pass allow_unused=True to get None for it")
    return result


# ``torch.autograd.function``: the module programs import these three names from
function = types.ModuleType(__name__ + ".function",
                            "torch.autograd.function's names: Function, FunctionCtx, "
                            "once_differentiable")
function.Function, function.FunctionCtx = Function, FunctionCtx
function.once_differentiable = once_differentiable
sys.modules[function.__name__] = function

__all__ = ["AnomalyError", "ArrayFunction", "Context", "Function", "FunctionCtx",
           "detect_anomaly", "grad", "once_differentiable",
           "is_anomaly_enabled", "is_grad_enabled", "no_grad", "nonfinite_origin",
           "reset_grad_mode", "run_backward", "set_grad_mode"]

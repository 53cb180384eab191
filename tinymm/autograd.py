"""Reverse-mode automatic differentiation: ``Function``, ``Context`` and the backward walk.

Every differentiable operation is a ``Function`` subclass with two static methods::

    class Mul(Function):
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
"""

from __future__ import annotations

import contextvars
from typing import Any

import numpy as np

from tinymm.backend import Backend, current_backend

# Whether ops record the graph, per thread (and asyncio task) as in PyTorch: one thread's
# ``no_grad`` block never turns recording off, or back on, in another.
_grad_mode: contextvars.ContextVar[bool] = contextvars.ContextVar("tinymm_grad", default=True)


def is_grad_enabled() -> bool:
    return _grad_mode.get()


class no_grad:
    """Context manager (and decorator) that disables graph recording in this thread."""

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


class Context:
    """One node of the graph: the function, its inputs, and what forward saved."""

    def __init__(self, fn: type[Function], backend: Backend):
        self.fn = fn
        self.backend = backend  # backward calls the same backend's kernels as forward
        self.inputs: list = []  # the forward's positional arguments (Tensors or other values)
        self.needs_input_grad: tuple[bool, ...] = ()
        self.saved: tuple = ()
        self.output_shapes: list[tuple[int, ...]] = []
        self.output_dtypes: list[np.dtype] = []
        self.freed = False

    def save_for_backward(self, *values: Any) -> None:
        self.saved = values

    def free(self) -> None:
        """Drop saved arrays once backward has used them (unless retain_graph).

        Ops keep what backward needs in ``ctx.saved`` (save_for_backward) or ``ctx.cache``
        (a kernel's cache); both go, so a long training loop does not hold every step's
        activations alive through the output tensors.
        """
        self.saved = ()
        self.cache = None
        self.freed = True


class Function:
    """Base class of every differentiable op (see the module docstring)."""

    @staticmethod
    def forward(ctx: Context, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, *grads):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        from tinymm.tensor import Tensor

        backend = current_backend()
        ctx = Context(cls, backend)
        raw = [a.array if isinstance(a, Tensor) else a for a in args]
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        record = _grad_mode.get() and any(needs)

        out = cls.forward(ctx, *raw, **kwargs)

        outputs = out if isinstance(out, tuple) else (out,)
        tensors = []
        for index, array in enumerate(outputs):
            t = Tensor(array, requires_grad=record, _copy=False)
            if record:
                t._node = ctx
                t._out_index = index
            tensors.append(t)
        if record:
            ctx.inputs = list(args)
            ctx.needs_input_grad = needs
            ctx.output_shapes = [np.shape(o) for o in outputs]
            ctx.output_dtypes = [np.asarray(o).dtype for o in outputs]
            ctx.multi_output = isinstance(out, tuple)
        else:
            ctx.saved = ()
        return tuple(tensors) if isinstance(out, tuple) else tensors[0]


def _topological_order(root_node: Context) -> list[Context]:
    """Nodes reachable from ``root_node``, each after every node that consumes its outputs.

    Iterative post-order depth-first search; the reversed post-order is a valid order for
    the backward walk.
    """
    from tinymm.tensor import Tensor

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
        for parent in node.inputs:
            if isinstance(parent, Tensor) and parent._node is not None:
                if id(parent._node) not in visited:
                    stack.append((parent._node, False))
    post_order.reverse()
    return post_order


def run_backward(root, grad: np.ndarray, retain_graph: bool = False) -> None:
    """Backpropagate ``grad`` (shaped like ``root``) to every leaf that requires grad."""

    if root._node is None:  # a leaf: its gradient is the upstream gradient itself
        root._accumulate(grad)
        return

    order = _topological_order(root._node)
    # node id -> list of upstream gradients, one slot per output of that node
    pending: dict[int, list] = {id(root._node): [None] * len(root._node.output_shapes)}
    pending[id(root._node)][root._out_index] = grad

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
        grads = [
            g if g is not None else np.zeros(shape, dtype=dtype)
            for g, shape, dtype in zip(slots, node.output_shapes, node.output_dtypes)
        ]
        input_grads = node.fn.backward(node, *grads)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if len(input_grads) != len(node.inputs):
            raise RuntimeError(
                f"{node.fn.__name__}.backward returned {len(input_grads)} gradients for "
                f"{len(node.inputs)} forward inputs"
            )
        for parent, needs, g in zip(node.inputs, node.needs_input_grad, input_grads):
            if not needs or g is None:
                continue
            if np.shape(g) != parent.shape:
                raise RuntimeError(
                    f"{node.fn.__name__}.backward returned a gradient of shape {np.shape(g)} "
                    f"for an input of shape {parent.shape}"
                )
            if parent._retains_grad or parent._node is None:
                parent._accumulate(g)
            if parent._node is not None:
                outputs = len(parent._node.output_shapes)
                slot = pending.setdefault(id(parent._node), [None] * outputs)
                index = parent._out_index
                slot[index] = g if slot[index] is None else slot[index] + g
        if not retain_graph:
            node.free()


__all__ = ["Context", "Function", "no_grad", "is_grad_enabled", "run_backward"]

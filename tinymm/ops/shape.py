"""Shape ops (reshape, permute, indexing, concatenation, stacking, splitting).

Each is an ``ArrayFunction`` with its backward beside it. They move elements without changing them,
so each backward moves the upstream gradient back to where the elements came from: a reshape
back, the inverse permutation, a scatter-add into zeros for indexing (repeated indices add),
and a split of the gradient for a concatenation (and the reverse). Every op but reshape (which
changes no data) calls the shape kernels through ``ctx.backend`` (kernels/reference/shape.py),
so it runs on any device; stack is concat of arrays given a size-1 axis.
"""

from __future__ import annotations

import numpy as np

from tinymm.autograd import ArrayFunction
from tinymm.devices import is_device_array
from tinymm.dtypes import result_type
from tinymm.kernels._shapes import sum_to_shape
from tinymm.ops._checks import as_int64, check_bounds, check_dim, check_same_device
from tinymm.ops._kernel import KernelFunction


class Reshape(ArrayFunction):
    @staticmethod
    def forward(ctx, x, shape):
        try:
            out = x.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                f"into {shape}"
            ) from None
        ctx.save_for_backward(x.shape)
        return out

    @staticmethod
    def backward(ctx, grad):
        (shape,) = ctx.saved
        return (grad.reshape(shape),)


class Permute(ArrayFunction):
    @staticmethod
    def forward(ctx, x, axes):
        if len(axes) != x.ndim:
            raise ValueError(f"permute: {axes} is not a permutation of the {x.ndim} axes of "
                             f"{x.shape}")
        axes = tuple(check_dim("permute", "axis", a, x.ndim) for a in axes) if x.ndim else ()
        if sorted(axes) != list(range(x.ndim)):
            raise ValueError(f"permute: {axes} is not a permutation of the {x.ndim} axes of "
                             f"{x.shape}")
        out, cache = ctx.backend.permute_forward(x, axes)
        ctx.save_for_backward(cache)
        return out

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.permute_backward(grad, *ctx.saved)  # the inverse permutation


def _device_index(x, index):
    """``index`` with its device array (a cuda tensor's row indices) as int64: x must be on
    the device too, the array integer, and every value in [-n, n) for n = x.shape[0], checked
    on the device and reported at the next copy to the host (``_checks.check_bounds``)."""
    items = index if isinstance(index, tuple) else (index,)
    arrays = [i for i in items if is_device_array(i)]
    if not arrays:
        return index
    check_same_device("index", input=x, index=arrays[0])
    if arrays[0].dtype.kind not in "iu":
        raise TypeError(f"index: a cuda index tensor must hold integers (row indices), got "
                        f"{arrays[0].dtype}; a boolean mask has a data-dependent size: index "
                        "with a host mask")
    n = x.shape[0] if x.ndim else 0

    def judge(bounds):
        if bounds is None or -n <= bounds[0] and bounds[1] < n:
            return None
        worst = bounds[0] if bounds[0] < -n else bounds[1]
        return f"index: index {worst} is out of bounds for axis 0 with size {n}"

    rows = as_int64("index", "index", arrays[0])
    check_bounds("index", "index", rows, None, judge)
    swapped = tuple(rows if i is arrays[0] else i for i in items)
    return swapped if isinstance(index, tuple) else swapped[0]


class GetItem(ArrayFunction):
    @staticmethod
    def forward(ctx, x, index):
        if isinstance(index, np.ndarray) and index.dtype.kind not in "iub":
            raise TypeError(f"index: an index array must hold integers or booleans, got "
                            f"{index.dtype}")
        index = _device_index(x, index)
        try:
            out, cache = ctx.backend.getitem_forward(x, index)
        except IndexError as err:  # still an IndexError (Python's protocol), but named
            raise IndexError(f"index: {err} (indexing a tensor of shape {x.shape} with "
                             f"{index!r})") from None
        ctx.save_for_backward(cache)
        return out

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.getitem_backward(grad, *ctx.saved)  # add dout back at x[index]


def _node_named(name: str) -> type:
    return type(f"GetItem{name}", (GetItem,), {"grad_fn_name": f"{name}Backward0"})


_GETITEM_NODES = {name: _node_named(name) for name in
                  ("Select", "Slice", "Index", "Unsqueeze", "Alias")}


def _is_advanced(item) -> bool:
    basic = item is None or item is Ellipsis or isinstance(item, (int, np.integer, slice))
    return isinstance(item, bool) or not basic


def getitem_op(index) -> type:
    """The GetItem whose graph node is named as PyTorch names ``x[index]``'s: the last basic
    step (an int: Select, a slice: Slice, None: Unsqueeze; in a tuple, full slices and ``...``
    are no steps, so only those give Alias), or Index once an index is an array or list."""
    items = index if isinstance(index, tuple) else (index,)
    if any(_is_advanced(i) for i in items):
        return _GETITEM_NODES["Index"]
    name = "Alias"
    for i in items:
        if i is None:
            name = "Unsqueeze"
        elif isinstance(i, slice):
            name = "Slice" if i != slice(None) or not isinstance(index, tuple) else name
        elif i is not Ellipsis:
            name = "Select"
    return _GETITEM_NODES[name]



class SetItem(ArrayFunction):
    """``x[index] = v`` as a new array: out = x with out[index] replaced by (broadcast) v.

    The overwritten elements of x no longer reach the output, so dx is grad with those
    positions zeroed; v's elements land at index, so dv is grad[index] summed back to v's
    shape (broadcasting). A repeated advanced index keeps NumPy's last write.
    """

    grad_fn_name = "CopySlices"  # PyTorch's node for a write through an index

    @staticmethod
    def forward(ctx, x, v, index):
        out = x.copy()
        try:
            out[index] = v
        except (IndexError, ValueError) as error:
            raise ValueError(f"setitem: cannot assign a value of shape {v.shape} to index "
                             f"{index!r} of a tensor of shape {x.shape}: {error}") from None
        ctx.save_for_backward(index, v.shape)
        return out

    @staticmethod
    def backward(ctx, grad):
        index, v_shape = ctx.saved
        dx = grad.copy()
        dx[index] = 0
        return dx, sum_to_shape(np.asarray(grad[index]), v_shape)


class Expand(ArrayFunction):
    """Broadcast to ``shape``: on the host without copying (a read-only view); on a device as
    x + zeros(shape) with the backend's broadcasting add, whose backward sums the gradient
    over the broadcast copies there. Backward sums the gradient over the broadcast copies."""

    @staticmethod
    def forward(ctx, x, shape):
        shape = tuple(shape)
        try:
            if np.broadcast_shapes(tuple(x.shape), shape) != shape:
                raise ValueError
        except ValueError:
            raise ValueError(f"expand: cannot expand shape {tuple(x.shape)} to {shape} (only "
                             "size-1 dims can grow, and new dims go in front)") from None
        if is_device_array(x):
            out, cache = ctx.backend.add_forward(x, ctx.backend.full(shape, 0, x.dtype))
            ctx.save_for_backward(tuple(x.shape), cache)
            return out
        ctx.save_for_backward(tuple(x.shape), None)
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        shape, cache = ctx.saved
        if cache is not None:
            return (ctx.backend.add_backward(grad, cache)[0],)
        return (sum_to_shape(grad, shape),)


class Repeat(ArrayFunction):
    """Tile ``x`` ``reps`` times along each dim (``torch.Tensor.repeat``). Output dim i holds
    reps[i] copies of input dim i, so the gradient of one element is the sum over its copies:
    view grad as (reps[0], n0, reps[1], n1, ...) and sum the reps axes."""

    @staticmethod
    def forward(ctx, x, reps):
        if len(reps) < x.ndim:
            raise ValueError(f"repeat: got {len(reps)} repeat counts for a {x.ndim}-d tensor; "
                             "give at least one per dim")
        shape = (1,) * (len(reps) - x.ndim) + x.shape  # new dims go in front
        ctx.save_for_backward(x.shape, shape, reps)
        return np.tile(x.reshape(shape), reps)

    @staticmethod
    def backward(ctx, grad):
        x_shape, shape, reps = ctx.saved
        split = [d for r, n in zip(reps, shape) for d in (r, n)]  # (r0, n0, r1, n1, ...)
        summed = grad.reshape(split).sum(axis=tuple(range(0, len(split), 2)))
        return (summed.reshape(x_shape),)


class Pad(KernelFunction):
    """Constant padding (``F.pad``): ``widths`` is one (before, after) pair per dim. The
    padded border is a constant, so the gradient is the upstream gradient's interior (the
    pad kernels)."""

    kernel = "pad"

    @classmethod
    def forward(cls, ctx, x, widths, value=0.0):
        return cls.run(ctx, x, widths, value=value)


class Concat(ArrayFunction):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        if not arrays:
            raise ValueError("concat: expected a non-empty list of tensors")
        ref = arrays[0]
        if ref.ndim == 0:
            raise ValueError("concat: zero-dimensional tensors cannot be concatenated (use "
                             "stack)")
        axis = check_dim("concat", "axis", axis, ref.ndim)
        for i, a in enumerate(arrays[1:], start=1):
            if a.ndim != ref.ndim or any(
                s != r for d, (s, r) in enumerate(zip(a.shape, ref.shape)) if d != axis % ref.ndim
            ):
                raise ValueError(
                    f"concat: tensor {i} has shape {a.shape}, which does not match tensor 0's "
                    f"{ref.shape} outside axis {axis}"
                )
        out, cache = ctx.backend.concat_forward(arrays, axis=axis)
        ctx.save_for_backward(cache)
        return out

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.concat_backward(grad, *ctx.saved)  # one piece per input


class Stack(ArrayFunction):
    """Join along a new axis: each array gains a size-1 axis (a reshape), then concat."""

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        if not arrays:
            raise ValueError("stack: expected a non-empty list of tensors")
        axis = check_dim("stack", "axis", axis, arrays[0].ndim, extra=1)
        shapes = {tuple(a.shape) for a in arrays}
        if len(shapes) != 1:
            raise ValueError(f"stack: every tensor must have the same shape, got {sorted(shapes)}")
        shape = tuple(arrays[0].shape)
        axis = axis % (len(shape) + 1)
        grown = shape[:axis] + (1,) + shape[axis:]
        out, cache = ctx.backend.concat_forward(tuple(a.reshape(grown) for a in arrays),
                                                axis=axis)
        ctx.save_for_backward(cache, shape)
        return out

    @staticmethod
    def backward(ctx, grad):
        cache, shape = ctx.saved
        return tuple(piece.reshape(shape) for piece in ctx.backend.concat_backward(grad, cache))


class Split(ArrayFunction):
    """Several outputs: the backward receives one gradient per piece."""

    @staticmethod
    def forward(ctx, x, cuts=(), axis=0):
        bounds = [0, *cuts, tuple(x.shape)[axis]]
        sizes = [b - a for a, b in zip(bounds[:-1], bounds[1:])]
        out, cache = ctx.backend.split_forward(x, sizes, axis=axis)
        ctx.save_for_backward(cache)
        return out

    @staticmethod
    def backward(ctx, *grads):
        return ctx.backend.split_backward(grads, *ctx.saved)


def _promoted(tensors) -> list:
    """The tensors in their common dtype (PyTorch's promotion: int64 with float32 gives
    float32, not NumPy's float64)."""
    tensors = list(tensors)
    if not tensors:
        return tensors
    common = result_type(*tensors)
    return [t if t.dtype == common else t.to(common) for t in tensors]


def concat(tensors, axis: int = 0, *, dim: int | None = None):
    """Join tensors along an existing axis (``torch.cat``; ``dim`` is PyTorch's name), in
    their promoted dtype."""
    return Concat.apply(*_promoted(tensors), axis=axis if dim is None else dim)


cat = concat


def stack(tensors, axis: int = 0, *, dim: int | None = None):
    """Join tensors along a new axis (``torch.stack``; ``dim`` is PyTorch's name), in their
    promoted dtype."""
    return Stack.apply(*_promoted(tensors), axis=axis if dim is None else dim)


def split(x, split_size_or_sections, axis: int = 0, *, dim: int | None = None):
    """Split into pieces of ``split_size`` (int) or of the given sizes (list), as torch.split
    (``dim`` is PyTorch's name for ``axis``)."""
    if x.ndim == 0:
        raise ValueError("split: a zero-dimensional tensor cannot be split")
    axis = check_dim("split", "axis", axis if dim is None else dim, x.ndim)
    n = x.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)) \
            and not isinstance(split_size_or_sections, bool):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
        sizes = sizes or [0]  # an empty axis splits into one empty piece, as torch.split
    else:
        sizes = list(split_size_or_sections)
        if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0
                   for s in sizes):
            raise ValueError(f"split: sizes must be non-negative integers, got {sizes}")
        if sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} sum to {sum(sizes)}, but axis {axis} has {n}")
    cuts = tuple(np.cumsum(sizes)[:-1].tolist())
    return Split.apply(x, cuts=cuts, axis=axis)


def pad(input, pad, mode: str = "constant", value: float = 0.0):  # noqa: A002
    """``F.pad``: ``pad`` lists (before, after) widths from the last dim backwards, as
    PyTorch: (left, right) pads the last dim, (left, right, top, bottom) the last two.
    mode "constant" fills with ``value``; "reflect", "replicate" and "circular" index the
    input (ops/indexing.py)."""
    from tinymm.ops.indexing import PAD_MODES, pad_by_index
    from tinymm.tensor import as_tensor

    x = as_tensor(input)
    if mode != "constant" and mode not in PAD_MODES:
        raise ValueError(f"pad: mode must be 'constant' or one of {sorted(PAD_MODES)}, got "
                         f"{mode!r}")
    if len(pad) % 2 or len(pad) // 2 > x.ndim or any(int(w) < 0 for w in pad):
        raise ValueError(f"pad: expected an even number of non-negative widths, at most 2 per "
                         f"dim of the {x.ndim}-d input, got {tuple(pad)}")
    pairs = [(int(pad[2 * i]), int(pad[2 * i + 1])) for i in range(len(pad) // 2)]
    widths = [(0, 0)] * (x.ndim - len(pairs)) + pairs[::-1]  # first dim first
    if mode != "constant":
        return pad_by_index(x, widths, mode)
    return Pad.apply(x, widths=tuple(widths), value=value)

"""``KernelFunction``: the op whose forward and backward are one CONTRACT kernel pair.

Most ops are their input checks followed by ``<kernel>_forward``, whose cache is saved for
``<kernel>_backward``. A subclass names the pair in ``kernel`` and writes ``forward`` as its
checks and then ``return cls.run(ctx, *arrays, **options)``; the backward is inherited.
"""

from __future__ import annotations

from tinymm.autograd import ArrayFunction, Context
from tinymm.ops._checks import finite_kernel_forward


class KernelFunction(ArrayFunction):
    """An ``ArrayFunction`` over the backend kernels ``<kernel>_forward`` / ``<kernel>_backward``.

    ``finite_only = True`` marks a kernel pair whose fast backends assume finite values: its
    forward then runs through ``finite_kernel_forward``, which moves to the reference kernels
    when an input or the result holds NaN/Inf."""

    kernel = ""
    finite_only = False

    @classmethod
    def run(cls, ctx: Context, *arrays, **options):
        """The forward kernel's output; its cache is saved for the backward kernel."""
        name = f"{cls.kernel}_forward"
        if cls.finite_only:
            out, cache = finite_kernel_forward(ctx, name, arrays, *arrays, **options)
        else:
            out, cache = getattr(ctx.backend, name)(*arrays, **options)
        ctx.save_for_backward(cache)
        return out

    @classmethod
    def backward(cls, ctx: Context, grad):
        """One gradient per input, from the backward kernel and the saved cache."""
        return getattr(ctx.backend, f"{cls.kernel}_backward")(grad, *ctx.saved)

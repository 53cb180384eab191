"""``KernelFunction``: the op whose forward and backward are one CONTRACT kernel pair.

Most ops are their input checks followed by ``<kernel>_forward``, whose cache is saved for
``<kernel>_backward``. A subclass names the pair in ``kernel`` and writes ``forward`` as its
checks and then ``return cls.run(ctx, *arrays, **options)``; the backward is inherited.
"""

from __future__ import annotations

from tinymm.autograd import Context, Function


class KernelFunction(Function):
    """A ``Function`` over the backend kernels ``<kernel>_forward`` / ``<kernel>_backward``."""

    kernel = ""

    @classmethod
    def run(cls, ctx: Context, *arrays, **options):
        """The forward kernel's output; its cache is saved for the backward kernel."""
        out, cache = getattr(ctx.backend, f"{cls.kernel}_forward")(*arrays, **options)
        ctx.save_for_backward(cache)
        return out

    @classmethod
    def backward(cls, ctx: Context, grad):
        """One gradient per input, from the backward kernel and the saved cache."""
        return getattr(ctx.backend, f"{cls.kernel}_backward")(grad, *ctx.saved)

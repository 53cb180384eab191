"""The kernel CONTRACT: every kernel name, its signature and what it returns.

Kernels are the bottom layer of tinymm: arrays in, arrays out, no Tensor and no autograd.
Every backend (``reference``, ``numba_cpu``, ``numba_cuda``) provides functions with exactly
these names and signatures, so an op can call ``ctx.backend.linear_forward(x, w, b)`` without
knowing which backend runs it.

Conventions shared by every kernel:

* A forward kernel ``<name>_forward(*inputs, **options)`` returns ``(out, cache)``. ``out`` is
  an array (or a tuple of arrays for ops with several outputs) and ``cache`` is whatever the
  backward needs: the op saves it and hands it back untouched.
* A backward kernel ``<name>_backward(grad_out, cache)`` returns a tuple with one gradient per
  array input of the forward, in input order (``None`` for inputs that have no gradient, such
  as integer targets or an absent bias).
* Kernels never check user input: ops validate shapes, dtypes and index ranges first, so a
  kernel can assume its arguments are well formed (a Numba kernel must never read out of
  bounds, and it is the op's job to make sure it cannot).
* Floating kernels support float32 and float64 and compute in the input dtype.

The reference backend (``kernels/reference/<stem>.py``) is the executable specification: its
module docstring is the derivation and its code transcribes it. Every other backend is tested
against it (``tests/test_kernel_parity.py``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KernelSpec:
    """One entry of the CONTRACT."""

    name: str  # e.g. "linear_forward"
    stem: str  # the file stem that holds it in every backend, e.g. "linear"
    signature: str  # human-readable signature, shapes in the file's dimension letters
    doc: str  # one line: what it computes


_SPECS = [
    # --- linear algebra -------------------------------------------------------------------
    KernelSpec("matmul_forward", "matmul", "(a (..., M, K), b (..., K, P)) -> (out (..., M, P), cache)",
               "batched matrix product with NumPy broadcasting of the leading dims"),
    KernelSpec("matmul_backward", "matmul", "(dout (..., M, P), cache) -> (da, db)",
               "gradients of matmul, reduced over broadcast leading dims"),
    KernelSpec("linear_forward", "linear",
               "(x (..., D_in), weight (D_out, D_in), bias (D_out,) | None) -> (out (..., D_out), cache)",
               "y = x W^T + b, PyTorch's layout"),
    KernelSpec("linear_backward", "linear", "(dout (..., D_out), cache) -> (dx, dweight, dbias | None)",
               "gradients of linear"),
    # --- activations ----------------------------------------------------------------------
    KernelSpec("relu_forward", "activation", "(x) -> (out, cache)", "max(x, 0)"),
    KernelSpec("relu_backward", "activation", "(dout, cache) -> (dx,)", "dout where x > 0"),
    KernelSpec("sigmoid_forward", "activation", "(x) -> (out, cache)", "1 / (1 + exp(-x)), stable"),
    KernelSpec("sigmoid_backward", "activation", "(dout, cache) -> (dx,)", "dout * s * (1 - s)"),
    KernelSpec("tanh_forward", "activation", "(x) -> (out, cache)", "tanh(x)"),
    KernelSpec("tanh_backward", "activation", "(dout, cache) -> (dx,)", "dout * (1 - t^2)"),
    # --- softmax family -------------------------------------------------------------------
    KernelSpec("softmax_forward", "softmax", "(x, axis=-1) -> (p, cache)",
               "exp(x - max) / sum, along axis"),
    KernelSpec("softmax_backward", "softmax", "(dp, cache) -> (dx,)",
               "dx = p * (dp - sum(dp * p)) along axis"),
    KernelSpec("log_softmax_forward", "softmax", "(x, axis=-1) -> (out, cache)",
               "x - max - log(sum(exp(x - max))), along axis"),
    KernelSpec("log_softmax_backward", "softmax", "(dout, cache) -> (dx,)",
               "dx = dout - softmax(x) * sum(dout) along axis"),
    KernelSpec("cross_entropy_forward", "cross_entropy",
               "(logits (N, C), target (N,) int, ignore_index=-100, reduction='mean', "
               "label_smoothing=0.0) -> (loss () or (N,), cache)",
               "fused log-softmax + negative log-likelihood, PyTorch's semantics"),
    KernelSpec("cross_entropy_backward", "cross_entropy", "(dloss, cache) -> (dlogits, None)",
               "(softmax - onehot_smoothed) * weights, scaled by the reduction"),
]

CONTRACT: dict[str, KernelSpec] = {spec.name: spec for spec in _SPECS}


def stems() -> list[str]:
    """The distinct file stems named by the CONTRACT, in declaration order."""
    return list(dict.fromkeys(spec.stem for spec in CONTRACT.values()))

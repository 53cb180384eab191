"""The rest of ``torch.autograd``'s names that programs use, which build on layers above
``tinymm/autograd.py``: ``Variable``, ``backward``, ``set_detect_anomaly``, ``enable_grad``,
``set_grad_enabled`` and ``gradcheck``. ``tinymm/__init__.py`` attaches them to
``tinymm.autograd``, so ``torch.autograd.<name>`` resolves under ``import tinymm as torch``.
"""

from __future__ import annotations

from tinymm import autograd
from tinymm.gradcheck import gradcheck as _gradcheck
from tinymm.tensor import Tensor, as_tensor
from tinymm.torch_functions import enable_grad, set_grad_enabled


def Variable(data, requires_grad: bool = False, volatile: bool = False) -> Tensor:  # noqa: N802
    """PyTorch's legacy wrapper: a tensor over ``data``'s storage with ``requires_grad`` set
    (Variables and Tensors are one type since PyTorch 0.4)."""
    return as_tensor(data).detach().requires_grad_(requires_grad)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph: bool = False,
             inputs=None) -> None:
    """``torch.autograd.backward``: accumulate d(sum_i tensors[i] * grad_tensors[i]) into the
    leaves' ``.grad``, in one backward walk (a scalar tensor's grad defaults to 1)."""
    if create_graph or inputs is not None:
        raise ValueError("autograd.backward: create_graph and inputs are not supported in "
                         "tinymm; use tinymm.autograd.grad")
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    grads = [None] * len(tensors) if grad_tensors is None else \
        ([grad_tensors] if isinstance(grad_tensors, Tensor) else list(grad_tensors))
    if len(grads) != len(tensors):
        raise ValueError(f"autograd.backward: got {len(tensors)} tensors but {len(grads)} "
                         "grad_tensors")
    total = None
    for t, g in zip(tensors, grads):
        if g is None and t.numel() != 1:
            raise RuntimeError("autograd.backward: grad can be implicitly created only for "
                               f"scalar outputs, got shape {tuple(t.shape)}")
        term = t.sum() if g is None else (t * as_tensor(g).detach()).sum()
        total = term if total is None else total + term
    total.backward(retain_graph=retain_graph)


class set_detect_anomaly:  # noqa: N801 - PyTorch's name
    """``torch.autograd.set_detect_anomaly(mode)``: anomaly detection on (``mode``) or off, as
    a context manager (or a plain call that leaves it on for what follows)."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self.mode = bool(mode)
        self._inner = autograd.detect_anomaly(check_nan) if self.mode else None
        if self._inner is not None:
            self._inner.__enter__()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self._inner is not None:
            self._inner.__exit__(*exc)


def gradcheck(func, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, **unused) -> bool:
    """``torch.autograd.gradcheck``: tinymm's finite-difference check (tinymm.gradcheck) with
    PyTorch's default tolerances; returns False instead of raising when raise_exception is
    False."""
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    try:
        return _gradcheck(func, inputs, eps=eps, atol=atol, rtol=rtol)
    except Exception:
        if raise_exception:
            raise
        return False


__all__ = ["Variable", "backward", "enable_grad", "gradcheck", "set_detect_anomaly",
           "set_grad_enabled"]

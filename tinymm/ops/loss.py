"""PyTorch's loss functions (``torch.nn.functional``'s names, arguments and numerics), each a
``ArrayFunction`` with its backward beside it.

Dimension letters: N samples, C classes; ``x`` is the input (prediction), ``t`` the target,
``w`` an optional per-class (NLL) or per-element (BCE) weight, ``d = x - t``.
Each loss is an elementwise ``l`` reduced by ``reduction``: "mean" (divide by the count,
or by the total weight for NLL), "sum", or "none". The backward is dl/dx times the upstream
gradient (divided by the same count for "mean")::

    mse_loss              l = d^2                               dl/dx = 2 d
    l1_loss               l = |d|                               dl/dx = sign(d)
    smooth_l1_loss(beta)  l = d^2 / (2 beta) if |d| < beta      dl/dx = d / beta
                              |d| - beta / 2 otherwise                  sign(d)
    huber_loss(delta)     l = d^2 / 2 if |d| <= delta           dl/dx = d
                              delta (|d| - delta / 2) otherwise         delta sign(d)
    binary_cross_entropy  l = -w (t log x + (1 - t) log(1 - x))
                          dl/dx = w (x - t) / max(x (1 - x), 1e-12)
                          (each log clamped to >= -100, as PyTorch)
    bce_with_logits       l = w ((1 - t) x + c softplus(-x)),   dl/dx = w ((1 - t) - c sigmoid(-x))
                          c = 1 + (pos_weight - 1) t, softplus(-x) = log1p(exp(-|x|)) + max(-x, 0)
    nll_loss              l_i = -w[t_i] x[i, t_i]               dl/dx[i, t_i] = -w[t_i]
                          (0 where t_i = ignore_index; "mean" divides by sum_i w[t_i])

For the difference losses the target gets the opposite gradient (dl/dt = -dl/dx); the
cross-entropy losses give targets no gradient.
"""

from __future__ import annotations

import numpy as np

from tinymm.autograd import ArrayFunction
from tinymm.ops._checks import check_float, check_float_range, check_int_range

REDUCTIONS = ("mean", "sum", "none")


def legacy_reduction(size_average, reduce, reduction: str) -> str:
    """The reduction PyTorch's deprecated ``size_average`` / ``reduce`` arguments stand for
    (either given overrides ``reduction``, with PyTorch's warning): reduce=False -> "none",
    else size_average=False -> "sum", else "mean"."""
    if size_average is None and reduce is None:
        return reduction
    import warnings

    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = "none" if not reduce else "mean" if size_average else "sum"
    warnings.warn(f"size_average and reduce args will be deprecated, please use "
                  f"reduction='{reduction}' instead.", UserWarning, stacklevel=3)
    return reduction


def _check(who: str, x: np.ndarray, t: np.ndarray, reduction: str) -> None:
    check_float(who, "input", x)
    if x.shape != t.shape:
        raise ValueError(f"{who}: input has shape {x.shape} but target has shape {t.shape}; "
                         "they must match (reshape one, e.g. target.view(-1, 1))")
    if reduction not in REDUCTIONS:
        raise ValueError(f"{who}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


class DifferenceLoss(ArrayFunction):
    """mse, l1, smooth_l1 and huber: l(d) of d = x - t (``kind`` picks l, ``beta`` its knee),
    computed with the backend's kernels (``_kernel_difference``), so on either device."""

    @staticmethod
    def forward(ctx, x, t, kind, reduction="mean", beta=1.0):
        _check(f"{kind}_loss", x, t, reduction)
        loss, dl = _kernel_difference(ctx.backend, x, t, kind, beta)
        ctx.save_for_backward(dl, reduction)
        return _reduce_on(ctx.backend, loss, reduction)

    @staticmethod
    def backward(ctx, grad):
        dl, reduction = ctx.saved
        dx = _kernel_chain(ctx.backend, grad, dl, reduction)  # d(mean)/dloss_i = 1 / size
        return dx, ctx.backend.neg_forward(dx)[0]


def _kernel_difference(backend, x, t, kind, beta):
    """(elementwise loss, dloss/dx) for d = x - t, a = |d|, by kernels:
    mse (d^2, 2 d); l1 or smooth_l1 with beta 0 (a, sign d);
    smooth_l1 (a < beta: 0.5 d^2 / beta, d / beta; else a - beta / 2, sign d);
    huber (a <= beta: 0.5 d^2, d; else beta (a - beta / 2), beta sign d)."""
    b = backend

    def c(value):  # a 0-d constant of x's dtype, where x is
        return b.full((), value, x.dtype)

    if t.dtype != x.dtype:
        t = b.cast_forward(t, x.dtype)[0]
    d = b.sub_forward(x, t)[0]
    if kind == "mse":
        return b.mul_forward(d, d)[0], b.mul_forward(d, c(2))[0]
    a, sign = b.abs_forward(d)[0], b.rounding_forward(d, "sign")[0]
    if kind == "l1" or beta == 0:
        return a, sign
    small = b.compare_forward(a, c(beta), "lt" if kind == "smooth_l1" else "le")[0]
    half_square = b.mul_forward(b.mul_forward(c(0.5), d)[0], d)[0]  # 0.5 d d
    linear = b.sub_forward(a, c(0.5 * beta))[0]  # a - beta / 2
    if kind == "smooth_l1":
        return (b.where_forward(small, b.div_forward(half_square, c(beta))[0], linear)[0],
                b.where_forward(small, b.div_forward(d, c(beta))[0], sign)[0])
    return (b.where_forward(small, half_square, b.mul_forward(c(beta), linear)[0])[0],
            b.where_forward(small, d, b.mul_forward(c(beta), sign)[0])[0])


def _reduce_on(backend, loss, reduction):
    """The loss reduced by the backend's sum or mean kernel (a 0-d result), or kept for "none"."""
    if reduction == "none":
        return loss
    return getattr(backend, f"{reduction}_forward")(loss)[0]


class BinaryCrossEntropy(ArrayFunction):
    """l = -w (t log x + (1 - t) log(1 - x)) with each log clamped to >= -100, and
    dl/dx = w (x - t) / max(x (1 - x), 1e-12), by the backend's kernels (so on either
    device). The probabilities are range-checked first: at once on the host; on cuda the
    check is deferred (``check_float_range``) and its ValueError comes at the next copy of a
    result to the host or ``tinymm.cuda.synchronize()``, as PyTorch's device-side assert."""

    @staticmethod
    def forward(ctx, x, t, weight=None, reduction="mean"):
        _check("binary_cross_entropy", x, t, reduction)
        check_float_range("binary_cross_entropy", "input", x, 0, 1, what="probabilities",
                          hint="; for logits use binary_cross_entropy_with_logits "
                               "(BCEWithLogitsLoss)")
        b = ctx.backend
        if t.dtype != x.dtype:
            t = b.cast_forward(t, x.dtype)[0]
        one = b.full((), 1, x.dtype)
        log_x, log_1mx = _clamped_logs(b, x)
        one_minus_t = b.sub_forward(one, t)[0]
        loss = b.neg_forward(b.add_forward(b.mul_forward(t, log_x)[0],
                                           b.mul_forward(one_minus_t, log_1mx)[0])[0])[0]
        x_1mx = b.mul_forward(x, b.sub_forward(one, x)[0])[0]  # x (1 - x)
        dl = b.div_forward(b.sub_forward(x, t)[0],
                           b.maximum_forward(x_1mx, b.full((), 1e-12, x.dtype))[0])[0]
        if weight is not None:
            w = _on(b, weight, x.dtype)
            loss, dl = b.mul_forward(loss, w)[0], b.mul_forward(dl, w)[0]
        ctx.save_for_backward(dl, reduction)
        return _reduce_on(b, loss, reduction)

    @staticmethod
    def backward(ctx, grad):
        dl, reduction = ctx.saved
        return _kernel_chain(ctx.backend, grad, dl, reduction), None


def _clamped_logs(b, x):
    """(max(log x, -100), max(log1p(-x), -100)) by kernels, with no log of 0 or of a
    negative number evaluated (the cuda simulator raises on those; a GPU gives -inf/NaN):
    x is clamped to [0, 1] (a value outside is reported by the range check), log x is taken
    of max(x, the smallest subnormal), whose log is below -100, and log1p(-x) of
    min(x, the float below 1), replaced by -100 where x = 1. For x in [0, 1] both equal
    PyTorch's clamped logs exactly."""
    def c(value):
        return b.full((), value, x.dtype)

    floor = c(-100)
    xc = b.clamp_forward(x, 0, 1)[0]
    tiny, below_one = np.finfo(x.dtype).smallest_subnormal, np.nextafter(x.dtype.type(1), 0)
    log_x = b.maximum_forward(b.log_forward(b.maximum_forward(xc, c(tiny))[0])[0], floor)[0]
    below = b.neg_forward(b.minimum_forward(xc, c(below_one))[0])[0]  # -min(x, 1 - ulp)
    log_1mx = b.maximum_forward(b.log1p_forward(below)[0], floor)[0]
    return log_x, b.where_forward(b.compare_forward(xc, c(1), "lt")[0], log_1mx, floor)[0]


class BinaryCrossEntropyWithLogits(ArrayFunction):
    """loss = (1 - t) x + c softplus(-x), c = 1 + (pos_weight - 1) t (1 without pos_weight);
    dl/dx = (1 - t) - c sigmoid(-x), dl/dt = -x + (pos_weight - 1) softplus(-x). Computed
    with the backend's kernels (so on either device), in the stable forms
    softplus(-x) = log1p(exp(-|x|)) + max(-x, 0) and sigmoid(-x) = exp(-(max(x, 0) +
    log1p(exp(-|x|)))), NumPy's logaddexp(0, x) term for term."""

    @staticmethod
    def forward(ctx, x, t, weight=None, pos_weight=None, reduction="mean"):
        _check("binary_cross_entropy_with_logits", x, t, reduction)
        b = ctx.backend
        if t.dtype != x.dtype:
            t = b.cast_forward(t, x.dtype)[0]
        zero, one = b.full((), 0, x.dtype), b.full((), 1, x.dtype)
        log_term = b.log1p_forward(b.exp_forward(b.neg_forward(b.abs_forward(x)[0])[0])[0])[0]
        neg_x = b.neg_forward(x)[0]
        softplus_neg = b.add_forward(log_term, b.maximum_forward(neg_x, zero)[0])[0]
        one_minus_t = b.sub_forward(one, t)[0]
        if pos_weight is None:
            c, dt = one, neg_x
        else:
            excess = b.sub_forward(_on(b, pos_weight, x.dtype), one)[0]  # pos_weight - 1
            c = b.add_forward(one, b.mul_forward(excess, t)[0])[0]
            dt = b.add_forward(neg_x, b.mul_forward(excess, softplus_neg)[0])[0]
        loss = b.add_forward(b.mul_forward(one_minus_t, x)[0],
                             b.mul_forward(c, softplus_neg)[0])[0]
        softplus_x = b.add_forward(b.maximum_forward(x, zero)[0], log_term)[0]
        sigmoid_neg = b.exp_forward(b.neg_forward(softplus_x)[0])[0]
        dl = b.sub_forward(one_minus_t, b.mul_forward(c, sigmoid_neg)[0])[0]
        if weight is not None:
            w = _on(b, weight, x.dtype)
            loss, dl, dt = (b.mul_forward(a, w)[0] for a in (loss, dl, dt))
        ctx.save_for_backward(dl, dt, reduction)
        return _reduce_on(b, loss, reduction)

    @staticmethod
    def backward(ctx, grad):
        dl, dt, reduction = ctx.saved
        dtarget = _kernel_chain(ctx.backend, grad, dt, reduction) if ctx.needs_input_grad[1] \
            else None
        return _kernel_chain(ctx.backend, grad, dl, reduction), dtarget


def _on(backend, array, dtype):
    """A weight array in the loss's dtype (a cast kernel where it differs)."""
    return array if array.dtype == dtype else backend.cast_forward(array, np.dtype(dtype))[0]


def _kernel_chain(backend, grad, dl_dx, reduction):
    """d(reduced loss)/dx from the elementwise derivative, by kernels: dl_dx * grad (/ size
    for the mean)."""
    if reduction == "mean":
        grad = backend.div_forward(grad, backend.full((), dl_dx.size, dl_dx.dtype))[0]
    return backend.mul_forward(dl_dx, grad)[0]


class NLLLoss(ArrayFunction):
    """Negative log-likelihood of log-probabilities x (N, C) at class indices t (N,), by
    kernels (compare and where for ignore_index, gather for the picked log-probabilities and
    weights, its backward for dx), so on either device."""

    grad_fn_name = "NllLossBackward0"  # PyTorch's node

    @staticmethod
    def forward(ctx, x, t, weight=None, ignore_index=-100, reduction="mean"):
        check_float("nll_loss", "input", x)
        if x.ndim != 2 or t.shape != (x.shape[0],):
            raise ValueError(f"nll_loss: expected input (N, C) and target (N,), got {x.shape} "
                             f"and {t.shape}")
        check_int_range("nll_loss", "target", t, 0, x.shape[1], allowed_extra=ignore_index)
        if reduction not in REDUCTIONS:
            raise ValueError(f"nll_loss: reduction must be one of {REDUCTIONS}, got "
                             f"{reduction!r}")
        b = ctx.backend
        N, C = x.shape
        keep = b.compare_forward(t, b.full((), ignore_index, np.int64), "ne")[0]  # (N,)
        safe_t = b.where_forward(keep, t, b.full((), 0, np.int64))[0]  # (N,) ignored -> 0
        w = b.full((C,), 1, x.dtype) if weight is None else _on(b, weight, x.dtype)  # (C,)
        w_i = b.where_forward(keep, b.gather_forward(w, safe_t, 0)[0],
                              b.full((), 0, x.dtype))[0]  # (N,) 0 where ignored
        picked, pick_cache = b.gather_forward(x, safe_t.reshape(N, 1), 1)  # (N, 1)
        minus_w = b.neg_forward(w_i)[0]  # (N,)
        loss = b.mul_forward(minus_w, picked.reshape(N))[0]  # (N,) -w_i x[n, t_n]
        total = b.sum_forward(w_i)[0]  # ()
        ctx.save_for_backward(pick_cache, minus_w, total, reduction)
        if reduction == "mean":
            return b.div_forward(b.sum_forward(loss)[0], total)[0]
        return _reduce_on(b, loss, reduction)

    @staticmethod
    def backward(ctx, grad):
        pick_cache, minus_w, total, reduction = ctx.saved
        b = ctx.backend
        scale = b.div_forward(grad, total)[0] if reduction == "mean" else grad
        zero = b.full((), 0, minus_w.dtype)
        weighted = b.compare_forward(minus_w, zero, "ne")[0]  # (N,) False where ignored
        d_picked = b.where_forward(weighted, b.mul_forward(minus_w, scale)[0], zero)[0]  # (N,)
        # 0, not 0 * inf, where ignored: with every target ignored total is 0 (as torch)
        (dx, _) = b.gather_backward(d_picked.reshape(d_picked.shape[0], 1), pick_cache)
        return dx, None


# ---------------------------------------------------------------- functional wrappers
def _pair(input, target):  # noqa: A002
    from tinymm.tensor import Tensor, as_tensor

    x = input if isinstance(input, Tensor) else as_tensor(input)
    t = target if isinstance(target, Tensor) else as_tensor(np.asarray(target, dtype=x.dtype))
    return x, t


def _raw(value):
    """A weight's array: a Tensor's storage (host or device), other values as NumPy."""
    if value is None:
        return None
    return value.array if hasattr(value, "array") else np.asarray(value)


def mse_loss(input, target, reduction: str = "mean", size_average=None,  # noqa: A002
             reduce=None):
    reduction = legacy_reduction(size_average, reduce, reduction)
    return DifferenceLoss.apply(*_pair(input, target), kind="mse", reduction=reduction)


def l1_loss(input, target, reduction: str = "mean", size_average=None,  # noqa: A002
            reduce=None):
    reduction = legacy_reduction(size_average, reduce, reduction)
    return DifferenceLoss.apply(*_pair(input, target), kind="l1", reduction=reduction)


def smooth_l1_loss(input, target, reduction: str = "mean", beta: float = 1.0,  # noqa: A002
                   size_average=None, reduce=None):
    reduction = legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    return DifferenceLoss.apply(*_pair(input, target), kind="smooth_l1", reduction=reduction,
                                beta=beta)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0):  # noqa: A002
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    return DifferenceLoss.apply(*_pair(input, target), kind="huber", reduction=reduction,
                                beta=delta)


def binary_cross_entropy(input, target, weight=None, reduction: str = "mean",  # noqa: A002
                         size_average=None, reduce=None):
    reduction = legacy_reduction(size_average, reduce, reduction)
    return BinaryCrossEntropy.apply(*_pair(input, target), weight=_raw(weight),
                                    reduction=reduction)


def binary_cross_entropy_with_logits(input, target, weight=None,  # noqa: A002
                                     reduction: str = "mean", pos_weight=None,
                                     size_average=None, reduce=None):
    reduction = legacy_reduction(size_average, reduce, reduction)
    return BinaryCrossEntropyWithLogits.apply(*_pair(input, target), weight=_raw(weight),
                                              pos_weight=_raw(pos_weight), reduction=reduction)


def _classes_last(input, target):  # noqa: A002
    """(N, C, d1, ...) and (N, d1, ...) -> (N*d1*..., C) and (N*d1*...,)."""
    C = input.shape[1]
    moved = input.permute((0,) + tuple(range(2, input.ndim)) + (1,)).reshape(-1, C)
    return moved, target.reshape(-1)


def _one_row(loss_fn, x, t, reduction: str, **options):
    """PyTorch's unbatched class-index loss: x (C,) and a 0-d target as a batch of one row;
    reduction "none" gives a 0-d loss."""
    loss = loss_fn(x.reshape(1, -1), t.reshape(1), reduction=reduction, **options)
    return loss.reshape(()) if reduction == "none" else loss


def nll_loss(input, target, weight=None, ignore_index: int = -100,  # noqa: A002
             reduction: str = "mean", size_average=None, reduce=None):
    """``F.nll_loss`` on log-probabilities: input (N, C) or (N, C, d1, ...), target (N,) or
    (N, d1, ...) class indices."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    from tinymm.tensor import as_tensor

    x = as_tensor(input)
    t = target.array if hasattr(target, "array") else np.asarray(target)  # host or device
    if x.ndim == 1 and t.ndim == 0:  # unbatched: one (C,) row and its class index
        return _one_row(nll_loss, x, t, reduction, weight=weight, ignore_index=ignore_index)
    shape = tuple(t.shape)
    if x.ndim > 2:
        x, t = _classes_last(x, t)
    loss = NLLLoss.apply(x, t, weight=_raw(weight), ignore_index=ignore_index,
                         reduction=reduction)
    return loss.reshape(shape) if reduction == "none" and len(shape) > 1 else loss


def cross_entropy(input, target, weight=None, ignore_index: int = -100,  # noqa: A002
                  reduction: str = "mean", label_smoothing: float = 0.0, size_average=None,
                  reduce=None):
    """``F.cross_entropy`` from logits x (N, C) or (N, C, d1, ...), as PyTorch defines it.

    Class-index targets (N,) or (N, d1, ...) without ``weight`` take the fused kernel. With
    ``weight`` it is ``nll_loss(log_softmax(x))``, and with label smoothing e as well it is
    PyTorch's mixture ``(1 - e) * nll + (e / C) * smooth``, where ``smooth`` sums
    ``-w_c log p_c`` over the classes of each kept sample and its mean divides by the same
    sum of the targets' weights as the nll's mean. Probability targets (the shape and a
    floating dtype of x, soft labels as in mixup) give ``-sum_c w_c t'_c log p_c`` per
    sample with ``t' = (1 - e) t + e / C``, and their mean divides by the number of
    samples (N * d1 * ...), not by the weights."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    from tinymm.ops.cross_entropy import cross_entropy as fused
    from tinymm.tensor import as_tensor

    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"cross_entropy: reduction must be 'none', 'mean' or 'sum', got "
                         f"{reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    x = as_tensor(input)
    t = getattr(target, "array", target)  # a device array stays on the device here
    if not hasattr(t, "dtype"):
        t = np.asarray(t)  # a list of class indices or probabilities
    if tuple(t.shape) == tuple(x.shape) and np.dtype(t.dtype).kind == "f" and x.ndim >= 1:
        return _cross_entropy_probabilities(x, target, weight, ignore_index, reduction,
                                            label_smoothing)
    if x.ndim == 1 and len(t.shape) == 0:  # unbatched: one (C,) row and its class index
        return _one_row(cross_entropy, x, t, reduction, weight=weight,
                        ignore_index=ignore_index, label_smoothing=label_smoothing)
    if weight is None:
        return fused(input, target, ignore_index=ignore_index, reduction=reduction,
                     label_smoothing=label_smoothing)
    t = np.asarray(t)  # the weighted paths index the class weights on the host
    nll = nll_loss(_log_probabilities(x), target, weight=weight, ignore_index=ignore_index,
                   reduction=reduction)
    if not label_smoothing:
        return nll
    return _smoothed_with_weight(x, t, nll, weight, ignore_index, reduction, label_smoothing)


def _log_probabilities(x):
    from tinymm.ops.softmax import log_softmax

    return log_softmax(x, dim=1 if x.ndim > 1 else 0)


def _class_weights(x, weight):
    """``weight`` (C,) as a Tensor shaped to broadcast along x's class axis (1, or 0 for a
    single unbatched sample)."""
    from tinymm.tensor import as_tensor

    w = as_tensor(weight)
    C = x.shape[1] if x.ndim > 1 else x.shape[0]
    if w.shape != (C,):
        raise ValueError(f"cross_entropy: weight must have shape ({C},) for {C} classes, "
                         f"got {tuple(w.shape)}")
    shape = [1] * x.ndim
    shape[1 if x.ndim > 1 else 0] = C
    return w.reshape(*shape)


def _smoothed_with_weight(x, t, nll, weight, ignore_index, reduction, label_smoothing):
    """PyTorch's label-smoothing term for class-index targets with class weights, mixed in."""
    from tinymm.tensor import Tensor

    C = x.shape[1] if x.ndim > 1 else x.shape[0]
    class_axis = 1 if x.ndim > 1 else 0
    smooth = -(_log_probabilities(x) * _class_weights(x, weight)).sum(class_axis)  # t's shape
    ignored = t == ignore_index
    smooth = smooth.masked_fill(Tensor._make(ignored), 0.0)
    if reduction == "mean":
        w = np.asarray(getattr(weight, "array", weight))
        smooth = smooth.sum() / float(w[t[~ignored]].sum())
    elif reduction == "sum":
        smooth = smooth.sum()
    return nll * (1.0 - label_smoothing) + smooth * (label_smoothing / C)


def _cross_entropy_probabilities(x, target, weight, ignore_index, reduction, label_smoothing):
    from tinymm.tensor import as_tensor

    if ignore_index >= 0:
        raise ValueError(f"cross_entropy: ignore_index={ignore_index} is not supported for "
                         "probability (floating-point) targets")
    class_axis = 1 if x.ndim > 1 else 0
    C = x.shape[class_axis]
    t = as_tensor(target)
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + label_smoothing / C
    terms = _log_probabilities(x) * t  # same shape as x
    if weight is not None:
        terms = terms * _class_weights(x, weight)
    if reduction == "none":
        return -terms.sum(class_axis)
    total = -terms.sum()
    if reduction == "sum":
        return total
    count = x.numel() // C if x.ndim > 1 else 1  # samples: N * d1 * ...
    return total / count if count else total * float("nan")  # PyTorch: NaN for no samples

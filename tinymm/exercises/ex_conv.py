"""Exercises 03-conv-dw, 03-conv-dx and 03-maxpool-backward: cases over strides, paddings and
kernel shapes (expected values from tinymm's reference kernels), the mistakes the checker
recognises, hints, and a library of wrong answers written the way students write them.

Dimension letters: N batch, C input channels, O output channels, H/W input size, kh/kw
kernel, OH/OW output size, s stride, p padding (the same on every side).
"""

from __future__ import annotations

import numpy as np

from tinymm.exercises._core import Case, Exercise, Mistake
from tinymm.kernels.reference import conv2d as ref_conv
from tinymm.kernels.reference import pool2d as ref_pool

BATCH = "N, the batch size"
BATCH_QUESTION = ("did you average over the batch? The loss sums over the images, so dW sums "
                  "their contributions")
GEOMETRIES = (  # (name, x shape, weight shape, stride, padding)
    ("stride 1, padding 1", (3, 2, 5, 6), (3, 2, 3, 3), 1, 1),
    ("stride 2, padding 0", (2, 2, 7, 6), (3, 2, 3, 3), 2, 0),
    ("stride 1, padding 0, kernel 2x3", (2, 3, 5, 5), (2, 3, 2, 3), 1, 0),
)


def _conv_cases() -> list[Case]:
    r = np.random.default_rng(30)
    cases = []
    for name, x_shape, w_shape, s, p in GEOMETRIES:
        x, w = r.standard_normal(x_shape), r.standard_normal(w_shape)
        out, cache = ref_conv.conv2d_forward(x, w, None, s, p)
        dout = r.standard_normal(out.shape)
        dx, dw, _ = ref_conv.conv2d_backward(dout, cache)
        cases.append(Case(name, (), {"dweight": dw, "dx": dx}, sizes={BATCH: x_shape[0]},
                          extra={"x": x, "w": w, "dout": dout, "s": s, "p": p}))
    return cases


def _dw_loops(x, dout, kernel_size, s, p, *, window_step=None, flip=False):
    """dW by its sum, with the two classic bugs as options (a stride-1 window, flipped offsets)."""
    kh, kw = kernel_size
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    OH, OW = dout.shape[2:]
    step = s if window_step is None else window_step
    dw = np.zeros((dout.shape[1], x.shape[1], kh, kw))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + step * (OH - 1) + 1:step, j:j + step * (OW - 1) + 1:step]
            at = (kh - 1 - i, kw - 1 - j) if flip else (i, j)
            dw[:, :, at[0], at[1]] = np.einsum("noyz,ncyz->oc", dout, patch)
    return dw


def _dw_args(case: Case) -> tuple:
    e = case.extra
    return (e["x"], e["dout"], e["w"].shape[2:], e["s"], e["p"])


def _wrong_dw_mean(x, dout, kernel_size, stride=1, padding=0):
    return _dw_loops(x, dout, kernel_size, stride, padding) / len(x)


def _wrong_dw_flipped(x, dout, kernel_size, stride=1, padding=0):
    return _dw_loops(x, dout, kernel_size, stride, padding, flip=True)


def _wrong_dw_transposed(x, dout, kernel_size, stride=1, padding=0):
    return _dw_loops(x, dout, kernel_size, stride, padding).transpose(0, 1, 3, 2)


def _wrong_dw_first_image(x, dout, kernel_size, stride=1, padding=0):
    return _dw_loops(x[:1], dout[:1], kernel_size, stride, padding)  # no sum over the batch


def _wrong_dw_stride_ignored(x, dout, kernel_size, stride=1, padding=0):
    return _dw_loops(x, dout, kernel_size, stride, padding, window_step=1)


def _wrong_dw_sign(x, dout, kernel_size, stride=1, padding=0):
    return -_dw_loops(x, dout, kernel_size, stride, padding)


CONV_DW = Exercise(
    id="03-conv-dw", title="the weight gradient of a convolution",
    tutorial="03_conv_pool.py", entry="conv2d_dweight", outputs=("dweight",),
    axes={"dweight": ("o", "c", "i", "j")}, make_cases=_conv_cases,
    call=lambda fn, case: fn(*(a.copy() if isinstance(a, np.ndarray) else a
                               for a in _dw_args(case))),
    mistakes=[
        Mistake("first image only", lambda c: {"dweight": _dw_loops(
            c.extra["x"][:1], c.extra["dout"][:1], c.extra["w"].shape[2:], c.extra["s"],
            c.extra["p"])}, "your dweight holds the first image's contribution only: dW sums "
            "over every image n of the batch"),
        Mistake("window ignores stride", lambda c: {"dweight": _dw_loops(
            *_dw_args(c), window_step=1)}, "your windows step by 1, not by the stride: the patch "
            "for kernel offset (i, j) is xp[:, :, i : i + s*(OH-1) + 1 : s, j : j + s*(OW-1) + 1 "
            ": s]"),
    ],
    hints=["dweight[o, c, i, j] = sum over n, y, z of dout[n, o, y, z] * xp[n, c, y*s + i, "
           "z*s + j], with xp the zero-padded input.",
           "Loop over the kernel offsets (i, j) only: for each, the input values it touched form "
           "a strided patch of xp shaped like dout's spatial grid (N, C, OH, OW).",
           "dweight[:, :, i, j] = np.einsum('noyz,ncyz->oc', dout, xp[:, :, i:i + s*(OH-1)+1:s, "
           "j:j + s*(OW-1)+1:s])."],
    factor_questions={f"({BATCH})": BATCH_QUESTION},
)
CONV_DW.wrong_answers = {
    "averaged over the batch": (_wrong_dw_mean, "did you average over the batch?"),
    "flipped kernel": (_wrong_dw_flipped, "flipped along i, j"),
    "kernel axes transposed": (_wrong_dw_transposed, "(D"),
    "first image only": (_wrong_dw_first_image, "first image's contribution only"),
    "stride ignored in the window": (_wrong_dw_stride_ignored, "not by the stride"),
    "sign flipped": (_wrong_dw_sign, "sign flipped"),
}
CONV_DW.wrong_answers["kernel axes transposed"] = (_wrong_dw_transposed, "transposed")


# ---------------------------------------------------------------------------- 03-conv-dx
def _dx_scatter(dout, w, x_shape, s, p, *, flip=False, overwrite=False, crop=True):
    """dx by scattering every dout element back through the kernel (options: the bugs)."""
    N, C, H, W = x_shape
    O, _, kh, kw = w.shape
    OH, OW = dout.shape[2:]
    dxp = np.zeros((N, C, H + 2 * p, W + 2 * p))
    kernel = w[:, :, ::-1, ::-1] if flip else w
    for y in range(OH):
        for z in range(OW):
            contribution = np.einsum("no,ocij->ncij", dout[:, :, y, z], kernel)  # (N, C, kh, kw)
            if overwrite:
                dxp[:, :, y * s:y * s + kh, z * s:z * s + kw] = contribution
            else:
                dxp[:, :, y * s:y * s + kh, z * s:z * s + kw] += contribution
    return dxp[:, :, p:p + H, p:p + W] if crop else dxp


def _dx_args(case: Case) -> tuple:
    e = case.extra
    return (e["dout"], e["w"], e["x"].shape, e["s"], e["p"])


def _wrong_dx_flipped(dout, weight, x_shape, stride=1, padding=0):
    return _dx_scatter(dout, weight, x_shape, stride, padding, flip=True)


def _wrong_dx_overwrite(dout, weight, x_shape, stride=1, padding=0):
    return _dx_scatter(dout, weight, x_shape, stride, padding, overwrite=True)


def _wrong_dx_uncropped(dout, weight, x_shape, stride=1, padding=0):
    return _dx_scatter(dout, weight, x_shape, stride, padding, crop=False)


def _wrong_dx_sign(dout, weight, x_shape, stride=1, padding=0):
    return -_dx_scatter(dout, weight, x_shape, stride, padding)


def _wrong_dx_mean(dout, weight, x_shape, stride=1, padding=0):
    return _dx_scatter(dout, weight, x_shape, stride, padding) / x_shape[0]  # "averaged"


def _wrong_dx_stride_ignored(dout, weight, x_shape, stride=1, padding=0):
    N, C, H, W = x_shape
    dxp = np.zeros((N, C, H + 2 * padding, W + 2 * padding))
    kh, kw = weight.shape[2:]
    for y in range(dout.shape[2]):
        for z in range(dout.shape[3]):  # windows placed at (y, z), not (y*s, z*s)
            dxp[:, :, y:y + kh, z:z + kw] += np.einsum("no,ocij->ncij", dout[:, :, y, z], weight)
    return dxp[:, :, padding:padding + H, padding:padding + W]


CONV_DX = Exercise(
    id="03-conv-dx", title="the input gradient of a convolution (a transposed convolution)",
    tutorial="03_conv_pool.py", entry="conv2d_dx", outputs=("dx",),
    axes={"dx": ("n", "c", "h", "w")}, make_cases=_conv_cases,
    call=lambda fn, case: fn(*(a.copy() if isinstance(a, np.ndarray) else a
                               for a in _dx_args(case))),
    mistakes=[
        Mistake("flipped kernel", lambda c: {"dx": _dx_scatter(*_dx_args(c), flip=True)},
                "you flipped the kernel while scattering: each dout[n, o, y, z] goes back to "
                "the inputs it read, through the same weight[o, c, i, j] (the flip appears only "
                "when dx is written as a convolution of dout)"),
        Mistake("overwrite", lambda c: {"dx": _dx_scatter(*_dx_args(c), overwrite=True)},
                "where windows overlap an input pixel was read by several outputs: add their "
                "contributions (+=) instead of assigning (=)"),
        Mistake("uncropped", lambda c: {"dx": _dx_scatter(*_dx_args(c), crop=False)},
                "you returned the gradient of the PADDED input: crop p rows and columns from "
                "every side, dxp[:, :, p:p+H, p:p+W]"),
        Mistake("stride ignored", lambda c: {"dx": _wrong_dx_stride_ignored(*_dx_args(c))},
                "your windows start at (y, z) instead of (y*s, z*s): the stride is missing"),
    ],
    hints=["Each output dout[n, o, y, z] was computed from the window of xp starting at "
           "(y*s, z*s). Send it back there.",
           "For every (y, z): dxp[:, :, y*s:y*s+kh, z*s:z*s+kw] += the (N, C, kh, kw) product "
           "of dout[:, :, y, z] (N, O) with weight (O, C, kh, kw). Windows overlap: add.",
           "contribution = np.einsum('no,ocij->ncij', dout[:, :, y, z], weight); accumulate it "
           "into a zero (N, C, H+2p, W+2p) array, then return dxp[:, :, p:p+H, p:p+W]."],
    factor_questions={f"({BATCH})": "dx is per image: nothing is averaged over the batch"},
)
CONV_DX.wrong_answers = {
    "flipped kernel": (_wrong_dx_flipped, "flipped the kernel"),
    "overwrite at overlaps": (_wrong_dx_overwrite, "instead of assigning"),
    "padding not cropped": (_wrong_dx_uncropped, "PADDED input"),
    "sign flipped": (_wrong_dx_sign, "sign flipped"),
    "averaged over the batch": (_wrong_dx_mean, "nothing is averaged over the batch"),
    "stride ignored": (_wrong_dx_stride_ignored, "stride is missing"),
}


# ------------------------------------------------------------------- 03-maxpool-backward
POOLS = (  # (name, x shape, kernel, stride, ties)
    ("kernel 2, stride 2", (2, 2, 4, 6), 2, 2, False),
    ("kernel 3, stride 2: overlapping windows", (1, 2, 7, 7), 3, 2, False),
    ("kernel 2, stride 2, tied maxima", (1, 2, 4, 4), 2, 2, True),
)


def _pool_cases() -> list[Case]:
    r = np.random.default_rng(31)
    cases = []
    for name, shape, k, s, ties in POOLS:
        x = (r.integers(0, 3, shape).astype(float) if ties
             else r.permutation(int(np.prod(shape))).reshape(shape) / 10.0)
        out, cache = ref_pool.max_pool2d_forward(x, k, s)
        dout = r.standard_normal(out.shape)
        (dx,) = ref_pool.max_pool2d_backward(dout, cache)
        cases.append(Case(name, (dout, x, k, s), {"dx": dx}, extra={"k": k, "s": s}))
    return cases


def _pool_scatter(dout, x, k, s, rule="first", overwrite=False):
    """Max-pool dx window by window; rule: which elements of a window receive dout."""
    dx = np.zeros_like(x)
    N, C, OH, OW = dout.shape
    for n in range(N):
        for c in range(C):
            for y in range(OH):
                for z in range(OW):
                    win = x[n, c, y * s:y * s + k, z * s:z * s + k]
                    g = dout[n, c, y, z]
                    if rule == "all":
                        share = np.ones_like(win)
                    elif rule == "mean":
                        share = np.full_like(win, 1.0 / win.size)
                    elif rule == "ties":
                        share = (win == win.max()).astype(float)
                    else:
                        flat = win.reshape(-1)
                        pick = (flat.size - 1 - int(np.argmax(flat[::-1])) if rule == "last"
                                else int(np.argmax(flat)))
                        share = np.zeros(flat.size)
                        share[pick] = 1.0
                        share = share.reshape(win.shape)
                    target = dx[n, c, y * s:y * s + k, z * s:z * s + k]
                    if overwrite:
                        target[share != 0] = g * share[share != 0]
                    else:
                        target += g * share
    return dx


def _wrong_pool_all(dout, x, kernel_size, stride):
    return _pool_scatter(dout, x, kernel_size, stride, rule="all")


def _wrong_pool_mean(dout, x, kernel_size, stride):
    return _pool_scatter(dout, x, kernel_size, stride, rule="mean")


def _wrong_pool_overwrite(dout, x, kernel_size, stride):
    return _pool_scatter(dout, x, kernel_size, stride, overwrite=True)


def _wrong_pool_all_ties(dout, x, kernel_size, stride):
    return _pool_scatter(dout, x, kernel_size, stride, rule="ties")


def _wrong_pool_last_tie(dout, x, kernel_size, stride):
    return _pool_scatter(dout, x, kernel_size, stride, rule="last")


def _wrong_pool_transposed_argmax(dout, x, kernel_size, stride):
    k, s = kernel_size, stride
    dx = np.zeros_like(x)
    N, C, OH, OW = dout.shape
    for n, c, y, z in np.ndindex(N, C, OH, OW):
        a = int(np.argmax(x[n, c, y * s:y * s + k, z * s:z * s + k]))
        j, i = divmod(a, k)  # row and column swapped when decoding the flat argmax
        dx[n, c, y * s + i, z * s + j] += dout[n, c, y, z]
    return dx


def _pool_mistake(rule, overwrite=False):
    return lambda c: {"dx": _pool_scatter(*c.args, rule=rule, overwrite=overwrite)}


MAXPOOL = Exercise(
    id="03-maxpool-backward", title="the backward of max pooling (overlaps and ties)",
    tutorial="03_conv_pool.py", entry="max_pool2d_backward", outputs=("dx",),
    axes={"dx": ("n", "c", "h", "w")}, make_cases=_pool_cases,
    mistakes=[
        Mistake("all", _pool_mistake("all"), "you sent dout to every element of the window: "
                "only the maximum affected the output, so only it gets the gradient"),
        Mistake("mean", _pool_mistake("mean"), "that is AVERAGE pooling's backward (dout / "
                "(k*k) to every element); max pooling routes dout to the maximum only"),
        Mistake("overwrite", _pool_mistake("first", overwrite=True),
                "where windows overlap (stride < kernel) one element can be the maximum of "
                "several windows: add the gradients (np.add.at or +=) instead of assigning"),
        Mistake("ties", _pool_mistake("ties"), "at a tie you gave the gradient to every "
                "maximum, which counts it twice; a tie is a kink with no derivative, and "
                "PyTorch and tinymm give it to the FIRST maximum in row-major window order"),
        Mistake("last", _pool_mistake("last"), "at a tie you picked the LAST maximum; either "
                "one-sided slope is a valid choice at a kink, but PyTorch and tinymm pick the "
                "first in row-major window order (np.argmax does)"),
    ],
    hints=["The output of a window is one of its elements. Which element's change moves it?",
           "For each window find the (first) argmax, convert it to (row, column) inside the "
           "window with divmod(index, kernel_size), and add dout there.",
           "dx = zeros_like(x); for each n, c, y, z: a = argmax(window); i, j = divmod(a, k); "
           "dx[n, c, y*s + i, z*s + j] += dout[n, c, y, z]."],
)
MAXPOOL.wrong_answers = {
    "whole window": (_wrong_pool_all, "every element of the window"),
    "average pooling": (_wrong_pool_mean, "AVERAGE pooling"),
    "overwrite at overlaps": (_wrong_pool_overwrite, "instead of assigning"),
    "every tied maximum": (_wrong_pool_all_ties, "every maximum"),
    "last tied maximum": (_wrong_pool_last_tie, "LAST maximum"),
    "argmax row/column swapped": (_wrong_pool_transposed_argmax, "wrong in"),
}

EXERCISES = [CONV_DW, CONV_DX, MAXPOOL]

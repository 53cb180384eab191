"""``tinymm gradcheck``: run the finite-difference check on every op, on small inputs.

Each entry is (name, function, inputs builder). The test suite checks the same ops over many
random shapes (tests/); this command is the quick, visible version for a learner or after
changing a kernel: it prints each op's maximum relative error.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import tinymm
from tinymm import functional as F
from tinymm.ops.lstm_projected import lstm_projected


def _r(rng, *shape, scale=1.0):
    return rng.standard_normal(shape) * scale


def _tensor_checks() -> list[tuple[str, Callable, Callable]]:
    """Arithmetic, reductions, shapes, matmul, activations, softmax, the loss."""
    return [
        ("add (broadcast)", lambda a, b: a + b, lambda r: [_r(r, 3, 1), _r(r, 4)]),
        ("mul (broadcast)", lambda a, b: a * b, lambda r: [_r(r, 2, 3), _r(r, 1, 3)]),
        ("div", lambda a, b: a / b, lambda r: [_r(r, 3, 2), 2 + r.random((3, 2))]),
        ("pow", lambda a: a ** 3, lambda r: [_r(r, 4)]),
        ("exp/log/sqrt", lambda a: (a.exp() + 1).log().sqrt(), lambda r: [_r(r, 5)]),
        ("sum/mean/max", lambda a: a.sum(axis=0) + a.mean(axis=1, keepdims=True).sum() + a.max(),
         lambda r: [_r(r, 3, 4)]),
        ("reshape/permute/getitem", lambda a: a.reshape(2, 3, 2).permute(2, 0, 1)[1, :, ::2],
         lambda r: [_r(r, 3, 4)]),
        ("concat/stack/split", lambda a, b: tinymm.stack(tinymm.split(tinymm.concat([a, b], 1),
                                                                     [2, 3], axis=1)[1:] * 2),
         lambda r: [_r(r, 2, 2), _r(r, 2, 3)]),
        ("matmul (batched)", F.matmul, lambda r: [_r(r, 2, 3, 4), _r(r, 4, 5)]),
        ("linear", F.linear, lambda r: [_r(r, 4, 3), _r(r, 2, 3), _r(r, 2)]),
        ("relu", F.relu, lambda r: [_r(r, 3, 4) + 0.05]),
        ("sigmoid", F.sigmoid, lambda r: [_r(r, 3, 4, scale=3)]),
        ("tanh", F.tanh, lambda r: [_r(r, 3, 4)]),
        ("softmax", lambda x: F.softmax(x, dim=0), lambda r: [_r(r, 4, 3)]),
        ("log_softmax", F.log_softmax, lambda r: [_r(r, 3, 5)]),
        ("cross_entropy", lambda x: F.cross_entropy(x, np.array([0, 2, -100, 1]),
                                                    label_smoothing=0.1),
         lambda r: [_r(r, 4, 3)]),
    ]


def _vision_checks() -> list[tuple[str, Callable, Callable]]:
    """Convolution and pooling (kernels/reference/conv2d.py, pool2d.py)."""
    return [
        ("conv2d (stride 2, pad 1)", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
         lambda r: [_r(r, 2, 2, 5, 5), _r(r, 3, 2, 3, 3), _r(r, 3)]),
        ("conv2d_relu (same)", lambda x, w, b: F.conv2d_relu(x, w, b, padding="same"),
         lambda r: [_r(r, 1, 2, 4, 4), _r(r, 2, 2, 3, 3), _r(r, 2) + 0.1]),
        ("conv2d_relu_max_pool2d (pad 1)",
         lambda x, w, b: F.conv2d_relu_max_pool2d(x, w, b, padding=1),
         lambda r: [_r(r, 1, 8, 5, 6), _r(r, 2, 8, 3, 3) * 0.5, _r(r, 2) + 0.1]),
        ("max_pool2d", lambda x: F.max_pool2d(x, 2),
         lambda r: [r.permutation(64).reshape(1, 1, 8, 8) * 0.1]),
        ("avg_pool2d", lambda x: F.avg_pool2d(x, 3, stride=2, padding=1),
         lambda r: [_r(r, 1, 2, 5, 5)]),
        ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, 1),
         lambda r: [_r(r, 2, 3, 4, 4)]),
    ]


def _sequence_checks() -> list[tuple[str, Callable, Callable]]:
    """Embedding, recurrences, normalization, attention, fusion, InfoNCE."""
    return [
        # sequence (kernels/reference/embedding.py, rnn.py, lstm.py)
        # (padding_idx is left out: its row gets no gradient by convention, not by calculus)
        ("embedding (repeated ids)", lambda w: F.embedding(np.array([[1, 3, 1], [0, 2, 1]]), w),
         lambda r: [_r(r, 4, 3)]),
        ("rnn (lengths)", lambda x, wi, wh, bi, bh: F.rnn(x, wi, wh, bi, bh,
                                                          lengths=np.array([3, 1]))[0],
         lambda r: [_r(r, 3, 2, 2), _r(r, 3, 2), _r(r, 3, 3), _r(r, 3), _r(r, 3)]),
        ("lstm (lengths)", lambda x, wi, wh, bi, bh: F.lstm(x, wi, wh, bi, bh,
                                                            lengths=np.array([3, 2]))[0],
         lambda r: [_r(r, 3, 2, 2), _r(r, 8, 2), _r(r, 8, 2), _r(r, 8), _r(r, 8)]),
        ("gru (lengths, reverse)", lambda x, h0, wi, wh, bi, bh: F.gru(
            x, wi, wh, bi, bh, hx=h0, lengths=np.array([2, 3]), reverse=True)[0],
         lambda r: [_r(r, 3, 2, 2), _r(r, 2, 2), _r(r, 6, 2), _r(r, 6, 2), _r(r, 6), _r(r, 6)]),
        # normalization (kernels/reference/batch_norm.py, layer_norm.py). x is drawn uniform:
        # a normal x could repeat gradcheck's own upstream draw (--only), and the gradient of
        # sum(out * v) is exactly 0 when v is a per-channel affine image of x
        ("batch_norm (training)", lambda x, w, b: F.batch_norm(
            x, np.zeros(3), np.ones(3), w, b, training=True),
         lambda r: [4 * r.random((4, 3, 2, 2)) - 2, _r(r, 3), _r(r, 3)]),
        ("batch_norm (eval)", lambda x, w, b: F.batch_norm(
            x, np.array([0.1, -0.2, 0.3]), np.array([0.5, 1.0, 2.0]), w, b, training=False),
         lambda r: [4 * r.random((4, 3, 5)) - 2, _r(r, 3), _r(r, 3)]),
        ("layer_norm", lambda x, w, b: F.layer_norm(x, (3, 4), w, b),
         lambda r: [4 * r.random((2, 3, 4)) - 2, _r(r, 3, 4), _r(r, 3, 4)]),
        # attention and fusion (kernels/reference/attention.py, fusion.py)
        ("scaled_dot_product_attention", lambda q, k, v: F.scaled_dot_product_attention(
            q, k, v, attn_mask=np.array([[True, True, False], [True, False, False]])),
         lambda r: [_r(r, 1, 2, 2, 3), _r(r, 1, 2, 3, 3), _r(r, 1, 2, 3, 3)]),
        ("gated_fusion", F.gated_fusion, lambda r: [_r(r, 2, 3), _r(r, 2, 3), _r(r, 2, 3)]),
        ("bilinear_pool", F.bilinear_pool, lambda r: [_r(r, 2, 3), _r(r, 2, 3)]),
        ("film", F.film, lambda r: [_r(r, 2, 3, 2, 2), _r(r, 2, 3), _r(r, 2, 3)]),
        # contrastive loss (kernels/reference/info_nce.py)
        ("info_nce", F.info_nce, lambda r: [_r(r, 4, 3), _r(r, 4, 3), np.array(0.7)]),
    ]


def _torch_api_checks() -> list[tuple[str, Callable, Callable]]:
    """The ops with their own backward behind more of torch's API (ops/indexing.py,
    ops/special.py, prod in ops/reduction.py), and one composition (ops/interpolate.py)."""
    index = np.array([[0, 2], [1, 0]])  # no repeats in a row: scatter writes each once
    return [
        ("scatter/scatter_add", lambda x, s: x.scatter(1, index, s) + x.scatter_add(1, index, s),
         lambda r: [_r(r, 2, 3), _r(r, 2, 2)]),
        ("erf", tinymm.erf, lambda r: [_r(r, 3, 4)]),
        ("fmod/remainder", lambda a, b: tinymm.fmod(a, b) + tinymm.remainder(a, b),
         lambda r: [_r(r, 3, 4, scale=3), 1 + r.random(4)]),
        ("interpolate (bilinear)", lambda x: F.interpolate(x, size=(5, 3), mode="bilinear",
                                                           align_corners=False),
         lambda r: [_r(r, 1, 2, 3, 4)]),
        ("prod (exact zeros)", lambda a: a.prod(1) + a.prod(),
         lambda r: [_r(r, 3, 4) * np.array([[1, 0, 1, 1], [0, 1, 0, 1], [1, 1, 1, 1]])]),
    ]


def _layer_checks() -> list[tuple[str, Callable, Callable]]:
    """The rest of torch's layers and functions that programs use: grouped and transposed
    convolutions, sampling grids, the other normalizations, bags, patches, distances."""
    bags, offsets = np.array([1, 3, 0, 2, 2]), np.array([0, 2])
    return [
        ("conv1d (groups, dilation)", lambda x, w, b: F.conv1d(x, w, b, padding=1,
                                                                    dilation=2, groups=2),
         lambda r: [_r(r, 2, 4, 6), _r(r, 4, 2, 3), _r(r, 4)]),
        ("conv_transpose2d (stride 2)", lambda x, w, b: F.conv_transpose2d(
            x, w, b, stride=2, padding=1, output_padding=1),
         lambda r: [_r(r, 1, 2, 3, 3), _r(r, 2, 3, 3, 3), _r(r, 3)]),
        ("grid_sample (bilinear)", lambda x, g: F.grid_sample(x, g, align_corners=False),
         lambda r: [_r(r, 1, 2, 4, 4), 1.8 * r.random((1, 3, 2, 2)) - 0.9]),
        ("interpolate (bicubic)", lambda x: F.interpolate(x, size=(5, 4), mode="bicubic",
                                                          align_corners=True),
         lambda r: [_r(r, 1, 1, 3, 3)]),
        ("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b),
         lambda r: [4 * r.random((2, 4, 3)) - 2, _r(r, 4), _r(r, 4)]),
        ("instance_norm", lambda x: F.instance_norm(x),
         lambda r: [4 * r.random((2, 2, 3, 3)) - 2]),
        ("embedding_bag (mean)", lambda w: F.embedding_bag(bags, w, offsets, mode="mean"),
         lambda r: [_r(r, 4, 3)]),
        ("unfold/fold", lambda x: F.fold(F.unfold(x, 2, padding=1) * 2, (3, 4), 2, padding=1),
         lambda r: [_r(r, 1, 2, 3, 4)]),
        ("pixel_shuffle", lambda x: F.pixel_shuffle(x, 2) * x.sum(), lambda r: [_r(r, 1, 4, 2, 2)]),
        ("bilinear", F.bilinear, lambda r: [_r(r, 3, 2), _r(r, 3, 4), _r(r, 5, 2, 4), _r(r, 5)]),
        ("gelu (exact, tanh)", lambda x: F.gelu(x) + F.gelu(x, approximate="tanh"),
         lambda r: [_r(r, 3, 4)]),
        ("cosine_similarity/cdist", lambda a, b: F.cosine_similarity(a, b) + tinymm.cdist(
            a, b).sum(1), lambda r: [_r(r, 3, 4), _r(r, 3, 4)]),
        ("gather/cumsum/prod", lambda x: x.gather(1, np.array([[2, 0], [1, 1]])).sum()
         + x.cumsum(1) * x.prod(1, keepdim=True), lambda r: [1 + r.random((2, 3))]),
        ("einsum (bij,bjk->bik)", lambda a, b: tinymm.einsum("bij,bjk->bik", a, b),
         lambda r: [_r(r, 2, 2, 3), _r(r, 2, 3, 2)]),
        ("ctc_loss (repeat, short input)", lambda lp: F.ctc_loss(
            lp, np.array([[1, 1], [2, 0]]), [5, 3], [2, 1], reduction="sum"),
         lambda r: [_r(r, 5, 2, 3)]),
        ("lstm with proj_size (reverse)", lambda x, w_ih, w_hh, w_hr: lstm_projected(
            x, w_ih, w_hh, None, None, w_hr, reverse=True)[0],
         lambda r: [_r(r, 3, 2, 2), _r(r, 12, 2), _r(r, 12, 2), _r(r, 2, 3)]),
    ]


def _checks() -> list[tuple[str, Callable, Callable]]:
    """Every check in the order it runs (each draws its inputs from the one generator)."""
    return (_tensor_checks() + _vision_checks() + _sequence_checks() + _torch_api_checks()
            + _layer_checks())


def run_gradchecks(only: str | None = None, backend: str | None = None) -> int:
    if backend is not None:
        tinymm.use_backend(backend)
    rng = np.random.default_rng(0)
    failures = 0
    print(f"gradcheck on the '{tinymm.current_backend().name}' backend (float64, central "
          "differences, random upstream gradient)")
    for name, fn, make in _checks():
        if only and only not in name:
            continue
        inputs = make(rng)
        try:
            tinymm.gradcheck(fn, inputs)
            worst = max(tinymm.gradcheck_report(fn, inputs).values())
            print(f"  ok    {name:<28} max relative error {worst:.2e}")
        except tinymm.GradcheckError as exc:
            failures += 1
            print(f"  FAIL  {name}\n{exc}")
    print("all gradients agree with finite differences" if failures == 0
          else f"{failures} op(s) failed")
    return 1 if failures else 0

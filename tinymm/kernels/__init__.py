"""The kernel CONTRACT: every kernel name, its signature and what it returns.

Kernels are the bottom layer of tinymm: arrays in, arrays out, no Tensor and no autograd.
The reference backend implements every kernel listed here; the other backends
(``numba_cpu``, ``numba_cuda``) implement them under exactly these names and signatures, so an
op can call ``ctx.backend.linear_forward(x, w, b)`` without knowing which backend runs it. A
CPU backend that lacks a kernel falls back to the reference one; the cuda backend never falls
back to the host (``tinymm info`` lists each backend's coverage).

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
* Kernels without the ``_forward``/``_backward`` pair are not differentiable: ``full`` makes
  a new array, ``correct_count`` counts a classifier's hits, ``accumulate`` adds one array
  into another in place (autograd's gradient sums), and the optimizer updates
  (``sgd_step``, ``adam_step``, ``rmsprop_step``, ``adagrad_step``, ``adadelta_step``,
  ``nadam_step``, ``radam_step``, ``adamax_step``, ``lion_step``) change their arrays in
  place and return None.

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
    KernelSpec("matmul_forward", "matmul",
               "(a (..., M, K), b (..., K, P)) -> (out (..., M, P), cache)",
               "batched matrix product with NumPy broadcasting of the leading dims"),
    KernelSpec("matmul_backward", "matmul", "(dout (..., M, P), cache) -> (da, db)",
               "gradients of matmul, reduced over broadcast leading dims"),
    KernelSpec("linear_forward", "linear",
               "(x (..., D_in), weight (D_out, D_in), bias (D_out,) | None) "
               "-> (out (..., D_out), cache)",
               "y = x W^T + b, PyTorch's layout"),
    KernelSpec("linear_backward", "linear",
               "(dout (..., D_out), cache) -> (dx, dweight, dbias | None)",
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
    # --- conv2d and pool2d (vision layers) ---------------------------------------------------
    KernelSpec("correct_count", "cross_entropy", "(logits (N, C), target (N,)) -> hits (1,) int64",
               "rows whose first maximum is at the target (accuracy; not differentiable)"),
    KernelSpec("conv2d_forward", "conv2d",
               "(x (N, C, H, W), weight (O, C, kh, kw), bias (O,) | None, stride=1, padding=0, "
               "dilation=1) -> (out (N, O, OH, OW), cache)",
               "2-d cross-correlation, PyTorch's conv2d; padding int|pair|(pt, pb, pl, pr)|"
               "'same'|'valid'"),
    KernelSpec("conv2d_backward", "conv2d",
               "(dout (N, O, OH, OW), cache, need_dx=True) -> (dx | None, dweight, dbias | None)",
               "gradients of conv2d: transposed conv for dx (skipped with need_dx=False), "
               "x-dout correlation for dweight"),
    KernelSpec("conv2d_relu_forward", "conv2d",
               "(x, weight, bias | None, stride=1, padding=0, dilation=1) -> (max(conv, 0), cache)",
               "fused conv2d + bias + ReLU"),
    KernelSpec("conv2d_relu_backward", "conv2d",
               "(dr (N, O, OH, OW), cache, need_dx=True) -> (dx | None, dweight, dbias | None)",
               "gradients of the fused conv2d + ReLU (mask by r > 0, then conv2d_backward)"),
    KernelSpec("conv2d_relu_max_pool2d_forward", "conv2d",
               "(x, weight, bias | None, stride=1, padding=0, dilation=1) -> "
               "(max_pool2d(max(conv, 0), 2) (N, O, OH // 2, OW // 2), cache)",
               "fused conv2d + bias + ReLU + 2x2 / stride-2 max-pool (one node)"),
    KernelSpec("conv2d_relu_max_pool2d_backward", "conv2d",
               "(dp (N, O, OH // 2, OW // 2), cache, need_dx=True) -> "
               "(dx | None, dweight, dbias | None)",
               "gradients of the fused op: dp to each window's first maximum, the ReLU "
               "mask, then conv2d_backward"),
    KernelSpec("max_pool2d_forward", "pool2d",
               "(x (N, C, H, W), kernel_size, stride=None, padding=0) -> "
               "(out (N, C, OH, OW), cache)",
               "max over each window (padding -inf); ties: first maximum in window order"),
    KernelSpec("max_pool2d_backward", "pool2d", "(dout (N, C, OH, OW), cache) -> (dx,)",
               "dout routed to each window's first maximum"),
    KernelSpec("avg_pool2d_forward", "pool2d",
               "(x (N, C, H, W), kernel_size, stride=None, padding=0) -> "
               "(out (N, C, OH, OW), cache)",
               "mean over each window, zero padding counted (count_include_pad=True)"),
    KernelSpec("avg_pool2d_backward", "pool2d", "(dout (N, C, OH, OW), cache) -> (dx,)",
               "dout / (kh*kw) spread over each window"),
    KernelSpec("adaptive_avg_pool2d_forward", "pool2d",
               "(x (N, C, H, W), output_size) -> (out (N, C, OH, OW), cache)",
               "mean over PyTorch's adaptive windows; (1, 1) is global average pooling"),
    KernelSpec("adaptive_avg_pool2d_backward", "pool2d", "(dout (N, C, OH, OW), cache) -> (dx,)",
               "dout / window size spread over each adaptive window"),
    # --- embedding, rnn, lstm (sequence layers) ----------------------------------------------
    KernelSpec("embedding_forward", "embedding",
               "(indices (...) int, weight (V, E), padding_idx=None) -> (out (..., E), cache)",
               "row gather out[p] = weight[indices[p]]"),
    KernelSpec("embedding_backward", "embedding",
               "(dout (..., E), cache) -> (None, dweight (V, E))",
               "scatter-add of dout rows, repeated indices accumulate, padding row zero"),
    KernelSpec("rnn_forward", "rnn",
               "(x (T, N, D) | (N, T, D), h0 (N, H) | None, weight_ih (H, D), weight_hh (H, H), "
               "bias_ih (H,) | None, bias_hh (H,) | None, lengths=None, nonlinearity='tanh', "
               "batch_first=False, reverse=False) -> ((out, h_n), cache)",
               "one layer, one direction of an Elman RNN over the whole sequence"),
    KernelSpec("rnn_backward", "rnn", "((dout, dh_n), cache, need_dx=True) -> (dx | None, dh0, "
               "dweight_ih, dweight_hh, dbias_ih, dbias_hh)",
               "backpropagation through time (need_dx=False skips the dx GEMM)"),
    KernelSpec("lstm_forward", "lstm",
               "(x (T, N, D) | (N, T, D), h0 (N, H) | None, c0 (N, H) | None, weight_ih (4H, D), "
               "weight_hh (4H, H), bias_ih (4H,) | None, bias_hh (4H,) | None, lengths=None, "
               "batch_first=False, reverse=False) -> ((out, h_n, c_n), cache)",
               "one layer, one direction of an LSTM (gates i, f, g, o) over the whole sequence"),
    KernelSpec("lstm_backward", "lstm", "((dout, dh_n, dc_n), cache, need_dx=True) -> "
               "(dx | None, dh0, dc0, dweight_ih, dweight_hh, dbias_ih, dbias_hh)",
               "backpropagation through time (need_dx=False skips the dx GEMM)"),
    KernelSpec("gru_forward", "gru",
               "(x (T, N, D) | (N, T, D), h0 (N, H) | None, weight_ih (3H, D), weight_hh (3H, H), "
               "bias_ih (3H,) | None, bias_hh (3H,) | None, lengths=None, batch_first=False, "
               "reverse=False) -> ((out, h_n), cache)",
               "one layer, one direction of a GRU (gates r, z, n) over the whole sequence"),
    KernelSpec("gru_backward", "gru", "((dout, dh_n), cache, need_dx=True) -> (dx | None, dh0, "
               "dweight_ih, dweight_hh, dbias_ih, dbias_hh)",
               "backpropagation through time (need_dx=False skips the dx GEMM)"),
    # --- normalization: N batch, C channels, S trailing spatial positions, B rows, D features
    KernelSpec("batch_norm_forward", "batch_norm",
               "(x (N, C) | (N, C, L) | (N, C, H, W), weight (C,) | None, bias (C,) | None, "
               "running_mean (C,) | None, running_var (C,) | None, training=True, momentum=0.1, "
               "eps=1e-5) -> (out like x, cache)",
               "per-channel normalisation over all axes but C; training: batch statistics and "
               "an in-place momentum update of the running ones (unbiased variance)"),
    KernelSpec("batch_norm_backward", "batch_norm",
               "(dout like x, cache) -> (dx, dweight | None, dbias | None, None, None)",
               "compact dx = inv_std / M (M dx_hat - sum dx_hat - x_hat sum dx_hat x_hat)"),
    KernelSpec("layer_norm_forward", "layer_norm",
               "(x (..., *normalized_shape), normalized_shape, weight (normalized_shape) | None, "
               "bias (normalized_shape) | None, eps=1e-5) -> (out like x, cache)",
               "per-position normalisation over the trailing normalized_shape axes"),
    KernelSpec("layer_norm_backward", "layer_norm",
               "(dout like x, cache) -> (dx, dweight | None, dbias | None)",
               "compact dx = inv_std / D (D dx_hat - sum dx_hat - x_hat sum dx_hat x_hat)"),
    # --- attention: N batch, h heads, Lq queries, Lk keys, d q/k features, e v features
    KernelSpec("scaled_dot_product_attention_forward", "attention",
               "(q (N, h, Lq, d), k (N, h, Lk, d), v (N, h, Lk, e), mask (bool True = attend | "
               "float additive, broadcast to (N, h, Lq, Lk)) | None, is_causal=False, "
               "scale=None) -> ((out (N, h, Lq, e), weights (N, h, Lq, Lk)), cache)",
               "softmax(q k^T * scale + mask) v, stable; a fully masked row gives zeros"),
    KernelSpec("scaled_dot_product_attention_backward", "attention",
               "((dout, dweights | None), cache) -> (dq, dk, dv, dmask | None)",
               "dS = P * (dP - rowsum(dP * P)); dq = scale dS k, dk = scale dS^T q, dv = P^T dout"),
    # --- fusion cores: B leading dims, D features, R rank
    KernelSpec("gated_fusion_forward", "fusion",
               "(g (B, D), ua (B, D), ub (B, D)) -> (out (B, D), cache)",
               "sigmoid(g) * tanh(ua) + (1 - sigmoid(g)) * tanh(ub), the gated multimodal unit"),
    KernelSpec("gated_fusion_backward", "fusion", "(dout (B, D), cache) -> (dg, dua, dub)",
               "gradients of the gated fusion core"),
    KernelSpec("bilinear_pool_forward", "fusion", "(pa (B, R), pb (B, R)) -> (out (B, R), cache)",
               "tanh(pa) * tanh(pb), the core of low-rank bilinear pooling"),
    KernelSpec("bilinear_pool_backward", "fusion", "(dout (B, R), cache) -> (dpa, dpb)",
               "gradients of the bilinear pooling core"),
    KernelSpec("film_forward", "fusion",
               "(x (N, C, H, W), gamma (N, C), beta (N, C)) -> (out (N, C, H, W), cache)",
               "FiLM: gamma * x + beta per channel"),
    KernelSpec("film_backward", "fusion", "(dout (N, C, H, W), cache) -> (dx, dgamma, dbeta)",
               "dx = dout * gamma; dgamma, dbeta = sums of dout * x and dout over H, W"),
    # --- Tensor ops (elementwise, reductions, shapes) and optimizer updates: the kernels that
    # let a Tensor on any device compute without NumPy; one-liners in the reference
    *[spec
      for op, formula in (("add", "a + b"), ("sub", "a - b"), ("mul", "a * b"), ("div", "a / b"),
                          ("pow", "a ** b"), ("maximum", "max(a, b), ties split"),
                          ("minimum", "min(a, b), ties split"))
      for spec in (
          KernelSpec(f"{op}_forward", "elementwise", "(a, b broadcastable) -> (out, cache)",
                     f"{formula}, NumPy broadcasting"),
          KernelSpec(f"{op}_backward", "elementwise", "(dout, cache) -> (da, db)",
                     "gradients, summed down to each operand's shape"))],
    *[spec
      for op, formula in (("neg", "-x"), ("exp", "e^x"), ("log", "log x"), ("sqrt", "sqrt x"),
                          ("abs", "|x|, sign(0) = 0 in the backward"))
      for spec in (
          KernelSpec(f"{op}_forward", "elementwise", "(x) -> (out, cache)", formula),
          KernelSpec(f"{op}_backward", "elementwise", "(dout, cache) -> (dx,)",
                     f"gradient of {formula.split(',')[0]}"))],
    *[spec
      for op, formula in (("sin", "sin x"), ("cos", "cos x"), ("tan", "tan x"),
                          ("asin", "asin x"), ("acos", "acos x"), ("atan", "atan x"),
                          ("sinh", "sinh x"), ("cosh", "cosh x"), ("log1p", "log(1 + x)"),
                          ("expm1", "e^x - 1"), ("log2", "log2 x"), ("log10", "log10 x"),
                          ("reciprocal", "1 / x"), ("rsqrt", "1 / sqrt x"))
      for spec in (
          KernelSpec(f"{op}_forward", "elementwise", "(x) -> (out, cache)",
                     f"{formula}, torch.{op}"),
          KernelSpec(f"{op}_backward", "elementwise", "(dout, cache) -> (dx,)",
                     f"gradient of {formula}"))],
    KernelSpec("rounding_forward", "special", "(x, mode) -> (out, cache)",
               "floor, ceil, round (half to even), trunc or sign of x, by mode"),
    KernelSpec("rounding_backward", "special", "(dout, cache) -> (dx,)",
               "zeros: the derivative of a piecewise-constant function, as PyTorch"),
    KernelSpec("erf_forward", "special", "(x) -> (out, cache)", "erf x, torch.erf"),
    KernelSpec("erf_backward", "special", "(dout, cache) -> (dx,)",
               "dout * 2 / sqrt(pi) * exp(-x^2)"),
    KernelSpec("modulo_forward", "special", "(a, b broadcastable, floor=False) -> (out, cache)",
               "torch.fmod (the sign of a) or, with floor, torch.remainder (the sign of b)"),
    KernelSpec("modulo_backward", "special", "(dout, cache) -> (da, db)",
               "da = dout, db = -dout * the quotient, summed to each operand's shape"),
    KernelSpec("atan2_forward", "special", "(y, x broadcastable) -> (out, cache)",
               "the angle of (x, y), torch.atan2"),
    KernelSpec("atan2_backward", "special", "(dout, cache) -> (dy, dx)",
               "dy = dout x / (x^2 + y^2), dx = -dout y / (x^2 + y^2), summed to each shape"),
    KernelSpec("clamp_forward", "elementwise", "(x, min=None, max=None) -> (out, cache)",
               "min(max(x, min), max), a None bound absent"),
    KernelSpec("clamp_backward", "elementwise", "(dout, cache) -> (dx,)",
               "dout where min <= x <= max, else 0"),
    *[spec
      for op, formula in (("sum", "sum"), ("mean", "mean"),
                          ("max", "max; the backward routes dout to the first maximum"))
      for spec in (
          KernelSpec(f"{op}_forward", "reduction", "(x, axis=None, keepdim=False) -> (out, cache)",
                     f"{formula} over axis (None: every axis), PyTorch's keepdim"),
          KernelSpec(f"{op}_backward", "reduction", "(dout, cache) -> (dx,)",
                     f"gradient of the {op} reduction"))],
    KernelSpec("prod_forward", "prod", "(x, axis=None, keepdim=False) -> (out, cache)",
               "product over one axis (None: every element), torch.prod"),
    KernelSpec("prod_backward", "prod", "(dout, cache) -> (dx,)",
               "dout times the product of the other elements (prefix * suffix, zeros exact)"),
    KernelSpec("amax_forward", "reduction", "(x, axis=None, keepdim=False) -> (out, cache)",
               "max over axis, torch.amax"),
    KernelSpec("amax_backward", "reduction", "(dout, cache) -> (dx,)",
               "dout shared equally among tied maxima"),
    KernelSpec("permute_forward", "shape", "(x, axes) -> (out, cache)",
               "np.transpose(x, axes) (a contiguous copy on a device)"),
    KernelSpec("permute_backward", "shape", "(dout, cache) -> (dx,)",
               "the inverse permutation of dout"),
    KernelSpec("getitem_forward", "shape", "(x, index) -> (out, cache)",
               "x[index], basic or advanced (host index arrays on a device)"),
    KernelSpec("getitem_backward", "shape", "(dout, cache) -> (dx,)",
               "zeros of x's shape with dout added at x[index]"),
    KernelSpec("concat_forward", "shape", "(arrays (tuple), axis=0) -> (out, cache)",
               "np.concatenate(arrays, axis)"),
    KernelSpec("concat_backward", "shape", "(dout, cache) -> (tuple of d(arrays[i]),)",
               "dout cut back into the pieces along axis"),
    KernelSpec("split_forward", "shape", "(x, sizes, axis=0) -> (tuple of pieces, cache)",
               "x cut into pieces of the given sizes along axis"),
    KernelSpec("split_backward", "shape", "(douts (tuple), cache) -> (dx,)",
               "np.concatenate(douts, axis)"),
    KernelSpec("pad_forward", "pad", "(x, widths ((before, after) per axis), value=0.0) -> "
               "(out, cache)", "x inside a border of value, F.pad's constant mode"),
    KernelSpec("pad_backward", "pad", "(dout, cache) -> (dx,)", "the interior of dout"),
    KernelSpec("cast_forward", "shape", "(x, dtype) -> (out, cache)", "x converted to dtype"),
    KernelSpec("cast_backward", "shape", "(dout, cache) -> (dx,)",
               "dout converted back to x's dtype"),
    # --- selection -----------------------------------------------------------------------
    KernelSpec("topk_forward", "index",
               "(x (N, M), k, largest=True) -> ((values (N, k), indices (N, k) int64), cache)",
               "the k largest (smallest) of each row, best first, ties to the lower index"),
    KernelSpec("topk_backward", "index", "((dvalues, None), cache) -> (dx,)",
               "dvalues put back at the picked positions, zero elsewhere"),
    # --- gather, scatter, where, masks: p a position of index (kernels/reference/gather.py)
    KernelSpec("gather_forward", "gather", "(x, index int64 like x's ndim, dim) -> (out like "
               "index, cache)", "out[p] = x[p with dim -> index[p]], torch.gather"),
    KernelSpec("gather_backward", "gather", "(dout, cache) -> (dx, None)",
               "dout added back at the gathered positions (repeats add)"),
    KernelSpec("scatter_forward", "gather", "(x, index int64, src, dim, add=False) -> (out like "
               "x, cache)", "x with src written (or added) at p with dim -> index[p]"),
    KernelSpec("scatter_backward", "gather", "(dout, cache) -> (dx, dsrc, None)",
               "dx = dout (0 where written), dsrc = dout at the written positions"),
    KernelSpec("where_forward", "gather", "(cond bool, a, b, broadcastable) -> (out, cache)",
               "a where cond else b, NumPy broadcasting"),
    KernelSpec("where_backward", "gather", "(dout, cache) -> (None, da, db)",
               "dout split by cond, summed down to each operand's shape"),
    KernelSpec("compare_forward", "gather", "(a, b broadcastable, op) -> (out bool, None)",
               "a op b for op in lt le gt ge eq ne (and, or, xor on bools); no gradient"),
    KernelSpec("compare_backward", "gather", "(dout, cache) -> (None, None)",
               "comparisons have no gradient"),
    KernelSpec("one_hot_forward", "gather", "(idx int64 (...), num_classes) -> (out int64 "
               "(..., C), None)", "1 at each index, F.one_hot; no gradient"),
    KernelSpec("one_hot_backward", "gather", "(dout, cache) -> (None,)", "no gradient"),
    # --- scans along one dim, extremes with their index, stream compaction (reference/scan.py)
    KernelSpec("cumsum_forward", "scan", "(x, dim) -> (out like x, cache)",
               "running sum along dim (int64 for integer and bool input)"),
    KernelSpec("cumsum_backward", "scan", "(dout, cache) -> (dx,)",
               "the running sum of dout from the end"),
    KernelSpec("cumprod_forward", "scan", "(x, dim) -> (out like x, cache)",
               "running product along dim"),
    KernelSpec("cumprod_backward", "scan", "(dout, cache) -> (dx,)",
               "dx_i = sum_{j >= i} dout_j prod_{k <= j, k != i} x_k, exact with zeros"),
    KernelSpec("cummax_forward", "scan", "(x, dim, largest=True) -> ((values, indices int64), "
               "cache)", "running max (min) and the index of its latest occurrence"),
    KernelSpec("cummax_backward", "scan", "((dvalues, None), cache) -> (dx,)",
               "dvalues added at the running extreme's indices"),
    KernelSpec("max_dim_forward", "scan", "(x, dim, keepdim=False, largest=True) -> ((values, "
               "indices int64), cache)", "max (min) along dim and its first index"),
    KernelSpec("max_dim_backward", "scan", "((dvalues, None), cache) -> (dx,)",
               "dvalues put back at the first extreme of each line"),
    KernelSpec("masked_select_forward", "scan", "(x, mask bool like x, count) -> (out "
               "(count,), cache)", "x's elements where mask, row-major order"),
    KernelSpec("masked_select_backward", "scan", "(dout (count,), cache) -> (dx, None)",
               "dout put back where mask, zero elsewhere"),
    KernelSpec("nonzero_forward", "scan", "(mask bool, count) -> (out (count, ndim) int64, "
               "None)", "the coordinates of mask's True elements, row-major; no gradient"),
    KernelSpec("nonzero_backward", "scan", "(dout, cache) -> (None,)", "no gradient"),
    KernelSpec("full", "shape", "(shape, value, dtype) -> out",
               "a new array filled with value (not differentiable)"),
    KernelSpec("accumulate", "elementwise", "(dst, src of dst's shape) -> None",
               "dst += src in place, NumPy's casting: a gradient summed into a tensor's .grad"),
    KernelSpec("sgd_step", "optim",
               "(param, grad, momentum_buffer | None, lr, momentum=0, dampening=0, "
               "weight_decay=0, nesterov=False, first_step=False) -> None",
               "torch.optim.SGD's update of one parameter, in place"),
    KernelSpec("adam_step", "optim",
               "(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq | None, step, lr, beta1, "
               "beta2, eps, weight_decay=0, decoupled=False) -> None",
               "Adam (decoupled=False) or AdamW update of one parameter in place, bias-corrected"),
    KernelSpec("rmsprop_step", "optim",
               "(param, grad, square_avg, momentum_buffer | None, grad_avg | None, lr, alpha, "
               "eps, weight_decay=0, momentum=0) -> None",
               "torch.optim.RMSprop's update in place (centered when grad_avg is given)"),
    KernelSpec("adagrad_step", "optim",
               "(param, grad, state_sum, step, lr, lr_decay=0, weight_decay=0, eps=1e-10) "
               "-> None", "torch.optim.Adagrad's update of one parameter, in place"),
    KernelSpec("adadelta_step", "optim",
               "(param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay=0) -> None",
               "torch.optim.Adadelta's update of one parameter, in place"),
    KernelSpec("nadam_step", "optim",
               "(param, grad, exp_avg, exp_avg_sq, step, mu_product, lr, beta1, beta2, eps, "
               "weight_decay=0, momentum_decay=4e-3, decoupled=False) -> None",
               "torch.optim.NAdam's update in place; mu_product = mu_1 ... mu_step"),
    KernelSpec("radam_step", "optim",
               "(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, "
               "weight_decay=0, decoupled=False) -> None",
               "torch.optim.RAdam's update in place (rectified once rho_t > 5)"),
    KernelSpec("adamax_step", "optim",
               "(param, grad, exp_avg, exp_inf, step, lr, beta1, beta2, eps, weight_decay=0) "
               "-> None", "torch.optim.Adamax's update in place"),
    KernelSpec("lion_step", "optim", "(param, grad, exp_avg, lr, beta1, beta2) -> None",
               "Lion's sign update in place (Keras's Lion)"),
    # --- contrastive loss: N pairs, D embedding features
    KernelSpec("info_nce_forward", "info_nce",
               "(a (N, D), b (N, D), logit_scale ()) -> (loss (), cache)",
               "symmetric InfoNCE: mean of row and column cross-entropies of exp(t) a b^T"),
    KernelSpec("info_nce_backward", "info_nce", "(dloss (), cache) -> (da, db, dlogit_scale)",
               "dS = (P - I + Q - I) / 2N; da = exp(t) dS b, db = exp(t) dS^T a, dt = sum dS*S"),
    # --- CTC loss: T steps, N samples, C classes, S the longest target
    KernelSpec("ctc_loss_forward", "ctc",
               "(log_probs (T, N, C), targets (N, S) | (sum L_n,) int, input_lengths (N,) int, "
               "target_lengths (N,) int, max_target, blank=0, zero_infinity=False) "
               "-> (loss (N,), cache)",
               "-log p(target | x) per sample by the alpha recursion in log space"),
    KernelSpec("ctc_loss_backward", "ctc",
               "(dloss (N,), cache) -> (dlog_probs, None, None, None)",
               "dlog_probs = -exp(lse(alpha + beta over l'_s = c) + loss - log_probs) dloss"),
]

CONTRACT: dict[str, KernelSpec] = {spec.name: spec for spec in _SPECS}


def stems() -> list[str]:
    """The distinct file stems named by the CONTRACT, in declaration order."""
    return list(dict.fromkeys(spec.stem for spec in CONTRACT.values()))

# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 03 · Convolution and pooling: derived, checked, and written yourself
#
# The image encoder of tinymm's multimodal model is
# `Conv(3->32, 3x3, same) + ReLU -> Conv(32->64, 3x3, same) + ReLU -> max-pool 2x2 ->
# max-pool 2x2 -> flatten -> dense`. This tutorial derives every piece:
#
# 1. the output size and the forward pass of a convolution, as a sum;
# 2. its backward: `dx` is a *transposed* convolution (a full correlation with the flipped
#    kernel) and `dW` is a correlation of the input with the output gradient;
# 3. the im2col view, which turns all three into matrix products (how fast kernels work);
# 4. max and average pooling, and what happens to the gradient at ties;
# 5. three exercises: write `dW`, `dx` and the max-pool backward yourself; the checker
#    names the case that fails and, for the classic mistakes, the mistake.
#
# Dimension letters: N batch, C input channels, O output channels, H/W input height/width,
# kh/kw kernel, OH/OW output. Layout NCHW and weight (O, C, kh, kw), as PyTorch.

# %%
import numpy as np

import tinymm
from tinymm import F, tensor
from tinymm.exercises import check
from tinymm.exercises.literate import run_as_lesson
from tinymm.kernels.reference import conv2d as ref_conv

if run_as_lesson(globals()):  # run as a script: print the prose, run the cells, stop here
    raise SystemExit(0)

tinymm.use_backend("reference")  # the executable specification; "numba" gives the same numbers
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Forward: a sum over the receptive field
#
# PyTorch's "convolution" is a cross-correlation (the kernel is not flipped). With stride s,
# dilation d and zero padding p on each side, output pixel (y, z) sees the padded input rows
# `y*s + i*d` for kernel rows `i = 0..kh-1`. The last output row must still fit, which gives
#
#     OH = (H + 2p - d*(kh - 1) - 1) // s + 1            (and the same for OW)
#
#     out[n, o, y, z] = bias[o] + sum_{c, i, j} weight[o, c, i, j] * xp[n, c, y*s + i*d, z*s + j*d]
#
# Written as loops, straight from the sum (slow, but obviously right):

# %%
def conv2d_loops(x, weight, bias, stride=1, padding=0, dilation=1):
    N, C, H, W = x.shape
    O, _, kh, kw = weight.shape
    s, p, d = stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))  # (N, C, H + 2p, W + 2p)
    OH = (H + 2 * p - d * (kh - 1) - 1) // s + 1
    OW = (W + 2 * p - d * (kw - 1) - 1) // s + 1
    out = np.zeros((N, O, OH, OW))  # (N, O, OH, OW)
    for n in range(N):
        for o in range(O):
            for y in range(OH):
                for z in range(OW):
                    window = xp[n, :, y * s:y * s + d * (kh - 1) + 1:d,
                                z * s:z * s + d * (kw - 1) + 1:d]  # (C, kh, kw)
                    out[n, o, y, z] = bias[o] + np.sum(weight[o] * window)
    return out


x = rng.standard_normal((2, 3, 7, 6))
weight = rng.standard_normal((4, 3, 3, 3))
bias = rng.standard_normal(4)
for stride, padding, dilation in [(1, 1, 1), (2, 0, 1), (1, 2, 2)]:
    loops = conv2d_loops(x, weight, bias, stride, padding, dilation)
    ours = F.conv2d(tensor(x), tensor(weight), tensor(bias), stride, padding, dilation)
    assert np.allclose(loops, ours.array), (stride, padding, dilation)
print("loops == F.conv2d for three geometries; output shape at stride 2:",
      F.conv2d(tensor(x), tensor(weight), None, stride=2).shape)

# %% [markdown]
# ## 2. Backward
#
# Write `dout = dL/dout`. Every product `weight[o, c, i, j] * xp[n, c, a, b]` with
# `a = y*s + i*d`, `b = z*s + j*d` contributes to `out[n, o, y, z]`, so by the chain rule
#
#     dbias[o]          = sum_{n, y, z} dout[n, o, y, z]
#     dweight[o, c, i, j] = sum_{n, y, z} dout[n, o, y, z] * xp[n, c, y*s + i*d, z*s + j*d]
#     dxp[n, c, a, b]   = sum_{o, i, j} dout[n, o, y, z] * weight[o, c, i, j]
#                         over the (y, z) with y*s + i*d = a and z*s + j*d = b
#
# `dweight` is the correlation of the input with the output gradient: the forward's sum
# with the roles of weight and dout exchanged. For stride 1 and dilation 1 the `dx` sum is
# `dxp[n, c, a, b] = sum_{o, i, j} dout[n, o, a - i, b - j] * weight[o, c, i, j]`: a *full*
# correlation of `dout` (padded by kh-1, kw-1) with the kernel flipped in both spatial axes
# and with in/out channels swapped, which is what "transposed convolution" means. Let us
# check that claim numerically, using F.conv2d itself for the full correlation:

# %%
x = rng.standard_normal((2, 3, 6, 5))
weight = rng.standard_normal((4, 3, 3, 2))
xt = tensor(x, requires_grad=True)
out = F.conv2d(xt, tensor(weight), None, padding=0)  # (2, 4, 4, 4)
dout = rng.standard_normal(out.shape)
out.backward(dout)

flipped = weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, O, kh, kw): flip, swap channels
full = F.conv2d(tensor(dout), tensor(flipped.copy()), None, padding=(2, 1))  # pad kh-1, kw-1
assert np.allclose(full.array, xt.grad)
print("dx == full correlation of dout with the flipped kernel:", np.allclose(full.array, xt.grad))

# %% [markdown]
# ## 3. The im2col view
#
# Copy every receptive field into a column: `col[n, (c, i, j), (y, z)] = xp[n, c, y*s + i*d,
# z*s + j*d]`, a (K, L) matrix per image with K = C*kh*kw and L = OH*OW. With
# `W2 = weight.reshape(O, K)` the three sums above become matrix products:
#
#     out[n]  = W2 @ col[n] + bias              (O, L)
#     dW2     = sum_n dout[n] @ col[n]^T         (O, K)
#     dcol[n] = W2^T @ dout[n]                   (K, L), then col2im adds it back into dxp
#
# That is exactly the reference kernel, `tinymm/kernels/reference/conv2d.py`
# (`_im2col`, `conv2d_forward`, `conv2d_backward`: read them beside this section). One check
# that the three products give the reference's numbers:

# %%
x = rng.standard_normal((2, 3, 5, 5))
weight = rng.standard_normal((4, 3, 3, 3))
xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))  # padding 1
col = np.stack([np.stack([xp[n, :, y:y + 3, z:z + 3].reshape(-1) for y in range(5)
                          for z in range(5)], axis=1) for n in range(2)])  # (N, K, L)
by_im2col = (weight.reshape(4, -1) @ col).reshape(2, 4, 5, 5)  # out[n] = W2 @ col[n]
reference, _ = ref_conv.conv2d_forward(x, weight, None, 1, 1)
assert np.allclose(by_im2col, reference)
print("im2col + one matrix product per image == the reference forward, shape", reference.shape)

# %% [markdown]
# The numba backend keeps the same three products but lays `col` out as one (K, N*L) matrix
# so each product is a single large GEMM, runs im2col/col2im as parallel Numba loops, and
# fuses bias + ReLU into the pass that writes the output (`F.conv2d_relu`, or
# `nn.Conv2d(..., activation="relu")`). Both backends agree, and a gradcheck confirms the
# backward against finite differences (in float64):

# %%
x = rng.standard_normal((2, 2, 6, 5))
weight = rng.standard_normal((3, 2, 3, 3))
bias = rng.standard_normal(3)
assert tinymm.gradcheck(lambda a, w, b: F.conv2d(a, w, b, stride=2, padding=1),
                        [x, weight, bias])
assert tinymm.gradcheck(lambda a, w, b: F.conv2d_relu(a, w, b, padding="same"),
                        [x, weight, bias])
with tinymm.use_backend("numba"):  # same op, numba kernels: same numbers
    fast = F.conv2d_relu(tensor(x), tensor(weight), tensor(bias), padding="same")
slow = F.conv2d_relu(tensor(x), tensor(weight), tensor(bias), padding="same")
assert np.allclose(fast.array, slow.array, rtol=1e-12, atol=1e-12)
print("gradcheck passed: conv2d (stride 2, padding 1) and conv2d_relu ('same'); "
      "numba == reference")

# %% [markdown]
# ## 4. Pooling
#
# Max pooling keeps the largest value of each window; its derivative is 1 at the winner and
# 0 elsewhere, so the whole output gradient flows to one element. At a tie (two equal
# maxima) the function has a kink and no derivative; tinymm, like PyTorch, sends the
# gradient to the *first* maximum in row-major window order. Average pooling spreads
# `dout / (kh*kw)` over its window; global average pooling (`adaptive_avg_pool2d(x, 1)`)
# spreads `dout / (H*W)` over the whole plane.

# %%
tie = tensor(np.array([[[[1.0, 3.0], [3.0, 0.0]]]]), requires_grad=True)
F.max_pool2d(tie, 2).backward(np.ones((1, 1, 1, 1)))
print("max-pool gradient at a tie goes to the first maximum:\n", tie.grad.array[0, 0])
assert tie.grad.array[0, 0, 0, 1] == 1 and tie.grad.array[0, 0, 1, 0] == 0

x = rng.permutation(2 * 3 * 6 * 6).reshape(2, 3, 6, 6) / 10.0  # distinct values: no ties
assert tinymm.gradcheck(lambda a: F.max_pool2d(a, 3, stride=2, padding=1), [x])
assert tinymm.gradcheck(lambda a: F.avg_pool2d(a, 2), [x])
assert tinymm.gradcheck(lambda a: F.adaptive_avg_pool2d(a, 1), [x])
print("gradcheck passed: max pool (3, stride 2, padding 1), avg pool 2, global avg pool")

# %% [markdown]
# The reference backward (`max_pool2d_backward` in `tinymm/kernels/reference/pool2d.py`)
# stores the winner's index in the forward and routes each `dout` there with `np.add.at`:
# with stride < kernel windows overlap, and one element can win several windows.

# %% [markdown]
# ## 5. Exercises: dW, dx and the max-pool backward, written yourself
#
# Three stubs wait in `tutorials/exercises/`:
#
# * `03-conv-dw.py`: `conv2d_dweight(x, dout, kernel_size, stride, padding)` returns dweight
#   (O, C, kh, kw), the correlation of section 2;
# * `03-conv-dx.py`: `conv2d_dx(dout, weight, x_shape, stride, padding)` returns dx
#   (N, C, H, W), each output's gradient sent back through the kernel to the window it read;
# * `03-maxpool-backward.py`: `max_pool2d_backward(dout, x, kernel_size, stride)` returns dx,
#   the gradient routed to each window's first maximum.
#
# `tinymm exercises check 03-conv-dw` (or this cell) grades one in float64 at a relative
# error of 1e-6 over several geometries (stride 1 and 2, padding 0 and 1, a 2x3 kernel) and
# names the one that fails. Your current status:

# %%
for exercise_id in ("03-conv-dw", "03-conv-dx", "03-maxpool-backward"):
    print(f"{exercise_id}: {check(exercise_id).status}")

# %% [markdown]
# What the checker says about the classic mistakes. Averaging dW over the batch (dividing by
# N) gives an answer that is exactly the expected one divided by the batch size, and the
# checker says so:

# %%
def averaged_dweight(x, dout, kernel_size, stride=1, padding=0):
    kh, kw = kernel_size
    s, p = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    OH, OW = dout.shape[2:]
    dweight = np.zeros((dout.shape[1], x.shape[1], kh, kw))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + s * (OH - 1) + 1:s, j:j + s * (OW - 1) + 1:s]
            dweight[:, :, i, j] = np.einsum("noyz,ncyz->oc", dout, patch)
    return dweight / len(x)  # BUG: the loss sums over the batch, and so does dW


result = check("03-conv-dw", fn=averaged_dweight)
print(result.message)
assert not result.ok and "did you average over the batch?" in result.message

# %% [markdown]
# A window that steps by 1 instead of by the stride is right at stride 1: the checker names
# the stride-2 case as the one that fails, and the cases that pass.

# %%
def stride_forgotten(x, dout, kernel_size, stride=1, padding=0):
    kh, kw = kernel_size
    p = padding
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    OH, OW = dout.shape[2:]
    dweight = np.zeros((dout.shape[1], x.shape[1], kh, kw))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + OH, j:j + OW]  # BUG: steps by 1, not by the stride
            dweight[:, :, i, j] = np.einsum("noyz,ncyz->oc", dout, patch)
    return dweight


result = check("03-conv-dw", fn=stride_forgotten)
print(result.message)
assert not result.ok and "Wrong in case 'stride 2, padding 0'" in result.message

# %% [markdown]
# For max pooling, the mistake that only overlapping windows reveal: assigning the gradient
# instead of adding it, so an element that wins two windows keeps only one gradient.

# %%
def assigned_not_added(dout, x, kernel_size, stride):
    k, s = kernel_size, stride
    dx = np.zeros_like(x)
    for n, c, y, z in np.ndindex(dout.shape):
        i, j = divmod(int(np.argmax(x[n, c, y * s:y * s + k, z * s:z * s + k])), k)
        dx[n, c, y * s + i, z * s + j] = dout[n, c, y, z]  # BUG: = instead of +=
    return dx


result = check("03-maxpool-backward", fn=assigned_not_added)
print(result.message)
assert not result.ok and "overlapping windows" in result.message

# %% [markdown]
# Next: `04_rnn_lstm.py`, where the same weights are used at every time step.

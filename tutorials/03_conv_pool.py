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
# 5. an exercise: write `dW` yourself; the checker runs gradcheck and tells you which
#    elements are wrong.
#
# Dimension letters: N batch, C input channels, O output channels, H/W input height/width,
# kh/kw kernel, OH/OW output. Layout NCHW and weight (O, C, kh, kw), as PyTorch.

# %%
import inspect

import numpy as np

import tinymm
from tinymm import F
from tinymm.kernels.reference import conv2d as ref_conv
from tinymm.kernels.reference import pool2d as ref_pool
from tinymm.tensor import Tensor

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
    ours = F.conv2d(Tensor(x), Tensor(weight), Tensor(bias), stride, padding, dilation)
    assert np.allclose(loops, ours.array), (stride, padding, dilation)
print("loops == F.conv2d for three geometries; output shape at stride 2:",
      F.conv2d(Tensor(x), Tensor(weight), None, stride=2).shape)

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
xt = Tensor(x, requires_grad=True)
out = F.conv2d(xt, Tensor(weight), None, padding=0)  # (2, 4, 4, 4)
dout = rng.standard_normal(out.shape)
out.backward(dout)

flipped = weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, O, kh, kw): flip, swap channels
full = F.conv2d(Tensor(dout), Tensor(flipped.copy()), None, padding=(2, 1))  # pad kh-1, kw-1
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
# That is exactly the reference kernel, `tinymm/kernels/reference/conv2d.py`:

# %%
print(inspect.getsource(ref_conv._im2col))
print(inspect.getsource(ref_conv.conv2d_forward))
print(inspect.getsource(ref_conv.conv2d_backward))

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
    fast = F.conv2d_relu(Tensor(x), Tensor(weight), Tensor(bias), padding="same")
slow = F.conv2d_relu(Tensor(x), Tensor(weight), Tensor(bias), padding="same")
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
tie = Tensor(np.array([[[[1.0, 3.0], [3.0, 0.0]]]]), requires_grad=True)
F.max_pool2d(tie, 2).backward(np.ones((1, 1, 1, 1)))
print("max-pool gradient at a tie goes to the first maximum:\n", tie.grad.array[0, 0])
assert tie.grad.array[0, 0, 0, 1] == 1 and tie.grad.array[0, 0, 1, 0] == 0

x = rng.permutation(2 * 3 * 6 * 6).reshape(2, 3, 6, 6) / 10.0  # distinct values: no ties
assert tinymm.gradcheck(lambda a: F.max_pool2d(a, 3, stride=2, padding=1), [x])
assert tinymm.gradcheck(lambda a: F.avg_pool2d(a, 2), [x])
assert tinymm.gradcheck(lambda a: F.adaptive_avg_pool2d(a, 1), [x])
print(inspect.getsource(ref_pool.max_pool2d_backward))

# %% [markdown]
# ## 5. Exercise: write dW yourself
#
# Fill in `my_conv2d_dweight(x, dout, kernel_size, stride, padding)`: given the input
# x (N, C, H, W) and the output gradient dout (N, O, OH, OW) of a convolution (no dilation),
# return dweight (O, C, kh, kw). The derivation is in section 2. `check_dweight` plugs your
# function into a convolution op, runs gradcheck, and when it fails lists the elements of
# dweight that disagree with finite differences.

# %%
def my_conv2d_dweight(x, dout, kernel_size, stride=1, padding=0):
    kh, kw = kernel_size
    s, p = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))  # (N, C, H + 2p, W + 2p)
    OH, OW = dout.shape[2:]
    dweight = np.zeros((dout.shape[1], x.shape[1], kh, kw))  # (O, C, kh, kw)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + s * (OH - 1) + 1:s, j:j + s * (OW - 1) + 1:s]  # (N, C, OH, OW)
            dweight[:, :, i, j] = np.einsum("noyz,ncyz->oc", dout, patch)
    return dweight


# %%
class _ConvWithYourDW(tinymm.Function):
    """conv2d whose backward uses the reader's dweight (dx and dbias from the reference)."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride=1, padding=0, dweight_fn=None):
        out, cache = ref_conv.conv2d_forward(x, weight, bias, stride, padding)
        ctx.save_for_backward(cache, x, weight.shape[2:], stride, padding, dweight_fn)
        return out

    @staticmethod
    def backward(ctx, dout):
        cache, x, kernel_size, stride, padding, dweight_fn = ctx.saved
        dx, _, dbias = ref_conv.conv2d_backward(dout, cache)
        dweight = np.asarray(dweight_fn(x, dout, tuple(kernel_size), stride, padding))
        return dx, dweight, dbias


def check_dweight(dweight_fn, stride=1, padding=1, seed=0):
    """Gradcheck ``dweight_fn``; return (True, "...") or (False, a list of wrong elements)."""
    r = np.random.default_rng(seed)
    x = r.standard_normal((2, 2, 5, 6))
    weight = r.standard_normal((3, 2, 3, 3))
    bias = r.standard_normal(3)
    expected_shape = weight.shape

    def conv(a, w, b):
        return _ConvWithYourDW.apply(a, w, b, stride=stride, padding=padding,
                                     dweight_fn=dweight_fn)

    with tinymm.use_backend("reference"):
        try:
            tinymm.gradcheck(conv, [x, weight, bias])
            return True, "dweight is right: gradcheck passed"
        except tinymm.GradcheckError:
            pass
        except (ValueError, RuntimeError) as err:  # wrong shape, etc.
            return False, f"dweight must have shape {expected_shape}: {err}"
        # Which elements? Compare with the finite-difference gradient of L = sum(out * v).
        out = conv(Tensor(x), Tensor(weight), Tensor(bias))
        v = r.standard_normal(out.shape)
        yours = np.asarray(dweight_fn(x, v, weight.shape[2:], stride, padding))
        numeric = np.zeros(weight.shape)
        eps = 1e-6
        for index in np.ndindex(weight.shape):
            w_plus, w_minus = weight.copy(), weight.copy()
            w_plus[index] += eps
            w_minus[index] -= eps
            plus = np.sum(ref_conv.conv2d_forward(x, w_plus, bias, stride, padding)[0] * v)
            minus = np.sum(ref_conv.conv2d_forward(x, w_minus, bias, stride, padding)[0] * v)
            numeric[index] = (plus - minus) / (2 * eps)
    wrong = np.argwhere(~np.isclose(yours, numeric, rtol=1e-4, atol=1e-6))
    lines = [f"  dweight[o={o}, c={c}, i={i}, j={j}]: yours {yours[o, c, i, j]:.5f}, "
             f"expected {numeric[o, c, i, j]:.5f}" for o, c, i, j in wrong[:8]]
    more = f"\n  ... and {len(wrong) - 8} more" if len(wrong) > 8 else ""
    return False, (f"dweight is wrong in {len(wrong)} of {numeric.size} elements "
                   f"(o, c, i, j = output channel, input channel, kernel row, kernel column):\n"
                   + "\n".join(lines) + more)


ok, message = check_dweight(my_conv2d_dweight)
print(message)
assert ok
ok, message = check_dweight(my_conv2d_dweight, stride=2, padding=0)
assert ok, message

# %% [markdown]
# What a mistake looks like: this version mixes up correlation and convolution and stores
# each kernel offset at its *flipped* position. Only the centre of a 3x3 kernel maps to
# itself, so the checker lists every other element and not the centre (i=1, j=1).

# %%
def wrong_dweight(x, dout, kernel_size, stride=1, padding=0):
    kh, kw = kernel_size
    s, p = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    OH, OW = dout.shape[2:]
    dweight = np.zeros((dout.shape[1], x.shape[1], kh, kw))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + s * (OH - 1) + 1:s, j:j + s * (OW - 1) + 1:s]
            dweight[:, :, kh - 1 - i, kw - 1 - j] = np.einsum("noyz,ncyz->oc", dout, patch)  # BUG
    return dweight


ok, message = check_dweight(wrong_dweight)
print(message)
assert not ok and "dweight[o=0, c=0, i=0, j=0]" in message and "i=1, j=1]" not in message

# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 10 · Normalization: BatchNorm and LayerNorm, derived and checked
#
# Deep networks train faster when every layer sees inputs of a steady scale. Normalization
# layers enforce that: subtract a mean, divide by a standard deviation, then let the network
# rescale with learned parameters. They differ in *what* they average over:
#
# 1. `BatchNorm1d`: per feature, over the batch; training and evaluation modes, running
#    statistics;
# 2. its backward: why the batch statistics add two terms, the compact formula, gradcheck;
# 3. `BatchNorm2d`: per channel, over the batch and every pixel;
# 4. `LayerNorm`: per sample, over its features; no batch statistics, no modes.
#
# Exercise: `10-batchnorm-backward`. Prerequisites: tutorials 01 (gradcheck) and 02 (dense
# layers). The layers follow PyTorch's names and numerics (`nn.BatchNorm1d`, `nn.BatchNorm2d`,
# `nn.LayerNorm`); the derivations are in `tinymm/kernels/reference/batch_norm.py` and
# `layer_norm.py`. Dimension letters: N batch, C channels (features), H/W height/width.

# %%
import numpy as np

import tinymm
from tinymm import functional as F
from tinymm import nn, tensor
from tinymm.exercises import check
from tinymm.exercises.literate import run_as_lesson

if run_as_lesson(globals()):  # run as a script: print the prose, run the cells, stop here
    raise SystemExit(0)

tinymm.use_backend("reference")  # the plain NumPy kernels this tutorial reads
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. BatchNorm1d: per feature, over the batch
#
# For x (N, C), in training mode, each feature c is normalised with its batch statistics:
#
#     mean_c = (1/N) sum_n x[n, c]          var_c = (1/N) sum_n (x[n, c] - mean_c)^2   (biased)
#     x_hat  = (x - mean) / sqrt(var + eps)
#     out    = weight * x_hat + bias         weight (gamma), bias (beta): (C,), learned
#
# Each column of the output has mean `bias` and standard deviation about `weight`,
# whatever the input's scale:

# %%
bn = nn.BatchNorm1d(3, dtype=np.float64)
x = rng.standard_normal((64, 3)) * np.array([0.1, 5.0, 100.0]) + np.array([3.0, -2.0, 50.0])
out = bn(tensor(x)).array
print("input  mean", np.round(x.mean(0), 2), " std", np.round(x.std(0), 2))
print("output mean", np.round(out.mean(0), 6), " std", np.round(out.std(0), 4))
assert np.allclose(out.mean(0), 0, atol=1e-9) and np.allclose(out.std(0), 1, atol=1e-3)

# %% [markdown]
# ### Training and evaluation modes
#
# At test time there may be one example, not a batch. So during training BatchNorm also keeps
# running estimates, updated at every batch with PyTorch's momentum rule (the variance
# estimate is the *unbiased* one, divided by N - 1):
#
#     running_mean = (1 - momentum) running_mean + momentum mean
#     running_var  = (1 - momentum) running_var  + momentum var N / (N - 1)
#
# and `bn.eval()` normalises with those instead. Keras' `BatchNormalization` has the same
# rule with `momentum` meaning the weight of the *old* estimate (0.99 there is 0.01 here).

# %%
bn = nn.BatchNorm1d(3, momentum=0.1, dtype=np.float64)
for _ in range(50):  # 50 training batches from the same distribution
    bn(tensor(rng.standard_normal((32, 3)) * 2.0 + 5.0))
print("running mean", np.round(bn.running_mean.array, 2), " running var",
      np.round(bn.running_var.array, 2), "(the data: mean 5, var 4)")
bn.eval()
one = bn(tensor(np.array([[5.0, 7.0, 3.0]]))).array
print("eval mode, one example [5, 7, 3] ->", np.round(one, 2), "(about (x - 5) / 2)")
assert np.allclose(one, (np.array([5.0, 7.0, 3.0]) - 5) / 2, atol=0.3)

# %% [markdown]
# ## 2. The backward: the batch statistics are functions of x
#
# In evaluation mode `x_hat` is an affine function of x alone, so `dx = dout * weight /
# sqrt(running_var + eps)`. In training mode the mean and the variance are computed *from*
# x, so every x of a feature also moves every other row's `x_hat`. With `dx_hat = dout *
# weight` and inv_std = 1 / sqrt(var + eps), the chain rule through the mean
# (d mean / dx = 1/N) and the variance (d var / dx = 2 (x - mean) / N) collapses to
#
#     dbias   = sum_n dout                   dweight = sum_n dout * x_hat
#     dx      = inv_std / N * (N dx_hat - sum_n dx_hat - x_hat * sum_n (dx_hat * x_hat))
#
# Read it as: remove from the incoming gradient its mean (shifting x does not change
# x_hat) and its component along x_hat (neither does scaling x), then divide by the standard
# deviation. Each column of dx therefore sums to 0, and is orthogonal to x_hat up to the
# eps term (eps makes x_hat's variance var / (var + eps), a little under 1). Checked:

# %%
x = rng.standard_normal((6, 3)) * 2 + 1
weight, bias = rng.standard_normal(3), rng.standard_normal(3)
assert tinymm.gradcheck(lambda a, w, b: F.batch_norm(a, None, None, w, b, training=True),
                        [x, weight, bias], strict=True)
xt = tensor(x, requires_grad=True)
F.batch_norm(xt, None, None, tensor(weight), tensor(bias), training=True).backward(
    rng.standard_normal(x.shape))
x_hat = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)
print("column sums of dx:", np.round(xt.grad.array.sum(0), 12), " <dx, x_hat> per column:",
      np.round((xt.grad.array * x_hat).sum(0), 12))

# %% [markdown]
# **Exercise 10-batchnorm-backward**: in `tutorials/exercises/10-batchnorm-backward.py`
# write `batchnorm_backward(dout, x, gamma, eps)` returning `(dx, dgamma, dbeta)` for
# training mode on (N, D). `tinymm exercises check 10-batchnorm-backward` grades it against
# the reference kernel. Your status:

# %%
print("10-batchnorm-backward:", check("10-batchnorm-backward").status)

# %% [markdown]
# The classic mistake is to treat the batch mean and variance as constants, which is the
# evaluation-mode formula. The checker recognises it:

# %%
def constants(dout, x, gamma, eps=1e-5):
    inv_std = 1 / np.sqrt(x.var(axis=0) + eps)
    x_hat = (x - x.mean(axis=0)) * inv_std
    return dout * gamma * inv_std, (dout * x_hat).sum(0), dout.sum(0)  # BUG: dx


result = check("10-batchnorm-backward", fn=constants)
print(result.message)
assert not result.ok and "treated the batch mean and variance as constants" in result.message

# %% [markdown]
# ## 3. BatchNorm2d: per channel, over the batch and the pixels
#
# For images (N, C, H, W) a channel is one feature detector applied at every position, so
# its statistics run over N, H and W together: the same as BatchNorm1d on the (N*H*W, C)
# matrix of pixels.

# %%
images = rng.standard_normal((4, 3, 5, 5)) * 3 + 1
bn2 = nn.BatchNorm2d(3, dtype=np.float64)
bn1 = nn.BatchNorm1d(3, dtype=np.float64)
as_rows = images.transpose(0, 2, 3, 1).reshape(-1, 3)  # (N*H*W, C)
by_rows = bn1(tensor(as_rows)).array.reshape(4, 5, 5, 3).transpose(0, 3, 1, 2)
assert np.allclose(bn2(tensor(images)).array, by_rows)
print("BatchNorm2d == BatchNorm1d over the (N*H*W, C) pixels; running means equal:",
      np.allclose(bn2.running_mean.array, bn1.running_mean.array))

# %% [markdown]
# ## 4. LayerNorm: per sample, over its features
#
# BatchNorm couples the examples of a batch: with batch size 1, or sequences of different
# lengths, its statistics are poor or undefined. LayerNorm normalises each sample over its
# own last dimensions instead (`normalized_shape`), so it behaves the same in training and
# evaluation and needs no running statistics. It is the normalization of transformers:
#
#     mean, var over the last axes of each sample
#     out = weight * (x - mean) / sqrt(var + eps) + bias
#
# Its backward is the BatchNorm formula with the sums over the normalised axes instead of
# the batch.

# %%
ln = nn.LayerNorm(4, dtype=np.float64)
tokens = rng.standard_normal((2, 3, 4)) * 10  # (N, T, D): every token normalised alone
normed = ln(tensor(tokens)).array
print("per-token mean", np.round(normed.mean(-1), 6).ravel(), "std",
      np.round(normed.std(-1), 3).ravel())
alone = ln(tensor(tokens[:1, :1])).array  # one token, no batch: the same answer
assert np.allclose(alone, normed[:1, :1])
assert tinymm.gradcheck(lambda a, w, b: F.layer_norm(a, (4,), w, b),
                        [tokens[:1] / 10, rng.standard_normal(4), rng.standard_normal(4)],
                        strict=True)
print("gradcheck (strict) passed: layer_norm over the last axis")

# %% [markdown]
# Where next: tinymm's layers are in `tinymm/nn/batch_norm.py` and `layer_norm.py`, the
# numba kernels in `tinymm/kernels/numba_cpu/`, and the PyTorch parity tests in
# `tests/test_batch_norm.py` and `tests/test_layer_norm.py`.

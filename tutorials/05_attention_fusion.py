# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 05 · Attention and fusion: derived, checked, and written yourself
#
# tinymm's multimodal model has an image (a (N, 64, 8, 8) feature map: 64 *regions*, each a
# vector) and a question (LSTM states, one per token). It has to join them. This tutorial
# derives the joiner that can look at *one region* because of *one word*: scaled dot-product
# attention. Then it compares it with the simpler fusions of the seed article.
#
# 1. the forward pass: scores, a stable softmax, a weighted sum; masks; fully masked rows;
# 2. the softmax Jacobian and its cheap Jacobian-vector product `dS = P * (dP - rowsum(dP * P))`;
# 3. the gradients for q, k and v, checked by finite differences;
# 4. multi-head attention is just reshapes around the same core;
# 5. **exercises**: write the softmax backward, then dq, dk and dv with the scale; the
#    checker says what is wrong;
# 6. what concatenation, product, attention, gating and bilinear pooling can and cannot express.
#
# Dimension letters: N batch, h heads, Lq queries, Lk keys/values, d query/key features,
# e value features, E = h * d the model width.

# %%
import numpy as np

import tinymm
from tinymm import functional as F
from tinymm import nn, tensor
from tinymm.exercises import check
from tinymm.exercises.literate import run_as_lesson
from tinymm.ops.attention import attention_with_weights

if run_as_lesson(globals()):  # run as a script: print the prose, run the cells, stop here
    raise SystemExit(0)

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The forward pass
#
# For one batch item and one head, with queries `q` (Lq, d), keys `k` (Lk, d), values `v` (Lk, e):
#
#     S = q @ k.T / sqrt(d) + B          (Lq, Lk)   how well query i matches key j
#     P = softmax(S, along j)            (Lq, Lk)   each row: a distribution over keys
#     out = P @ v                        (Lq, e)    each query: an average of the values
#
# `B` is the mask in additive form: 0 where query i may look at key j, `-inf` where it may not
# (padding, or the future under `is_causal`). Since `exp(-inf) = 0`, a forbidden key gets
# exactly zero weight. The softmax subtracts each row's maximum first: mathematically a no-op
# (the factor `exp(-m)` cancels), numerically the difference between `exp(1000) = inf` and a
# correct answer.
#
# What if *every* key of a row is forbidden? Then the softmax is 0/0. tinymm (like PyTorch
# 2.5+) defines that row of `P` and of `out` as zeros, so nothing downstream turns into NaN.
# The reference kernel, `scaled_dot_product_attention_forward` in
# `tinymm/kernels/reference/attention.py`, is the specification every backend is tested
# against. The same numbers, from loops that follow the equations one index at a time:

# %%
N, h, Lq, Lk, d, e = 1, 2, 3, 4, 5, 2
q, k, v = (rng.standard_normal(s) for s in [(N, h, Lq, d), (N, h, Lk, d), (N, h, Lk, e)])
keep = np.ones((Lq, Lk), dtype=bool)  # bool mask, True = may attend (PyTorch's SDPA convention)
keep[0, 2:] = False  # query 0 may only see keys 0 and 1
keep[2, :] = False  # query 2 may see nothing at all

loops = np.zeros((N, h, Lq, e))
for n in range(N):
    for head in range(h):
        for i in range(Lq):
            scores = [q[n, head, i] @ k[n, head, j] / np.sqrt(d) if keep[i, j] else -np.inf
                      for j in range(Lk)]
            if max(scores) == -np.inf:
                continue  # fully masked row: zeros
            weights = np.exp(np.array(scores) - max(scores))
            weights /= weights.sum()
            loops[n, head, i] = weights @ v[n, head]

with tinymm.use_backend("reference"):
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
assert np.allclose(out.array, loops)
print("query 2 (fully masked) gives zeros:", out.array[0, 0, 2])

# %% [markdown]
# ## 2. The softmax Jacobian, and why we never build it
#
# Take one row: `p = softmax(s)` with `p_j = exp(s_j) / sum_l exp(s_l)`. Differentiating,
#
#     dp_j / ds_l = p_j * (delta_jl - p_l)          J = diag(p) - p p^T     (Lk, Lk)
#
# The backward needs `ds = J^T dp` (J is symmetric). Written out,
#
#     ds_l = sum_j dp_j * p_j * (delta_jl - p_l) = p_l * dp_l - p_l * sum_j dp_j p_j
#          = p_l * (dp_l - <dp, p>)
#
# so for the whole matrix, row by row: **`dS = P * (dP - rowsum(dP * P))`**. One dot product
# per row instead of an (Lk, Lk) matrix per row. A check against the explicit Jacobian:

# %%
s_row = rng.standard_normal(6)
p_row = np.exp(s_row - s_row.max())
p_row /= p_row.sum()
dp_row = rng.standard_normal(6)
J = np.diag(p_row) - np.outer(p_row, p_row)
assert np.allclose(J.T @ dp_row, p_row * (dp_row - dp_row @ p_row))
print("rows of dS sum to zero (softmax outputs always sum to 1):",
      np.isclose((p_row * (dp_row - dp_row @ p_row)).sum(), 0.0))

# %% [markdown]
# ## 3. The gradients for q, k and v
#
# With `dout = dL/dout` (Lq, e):
#
#     dv = P^T @ dout                    (Lk, e)    value j was used with weight P[i, j]
#     dP = dout @ v^T                    (Lq, Lk)
#     dS = P * (dP - rowsum(dP * P))     (Lq, Lk)   the softmax JVP from section 2
#     dq = dS @ k / sqrt(d)              (Lq, d)
#     dk = dS^T @ q / sqrt(d)            (Lk, d)
#
# A masked key has `P = 0`, so `dS = 0` there: it gets no gradient, as it should. The
# reference backward (`scaled_dot_product_attention_backward`) is those five lines.
#
# **Why 1/sqrt(d).** If the entries of q and k are independent with variance 1, the score
# q . k = sum of d products has variance d. Unscaled, the scores grow like sqrt(d), the
# softmax saturates (one weight near 1, the rest near 0) and its gradient `P * (dP - ...)`
# vanishes. Dividing by sqrt(d) keeps the scores' variance at 1 for every width. Measured:

# %%
for width in (4, 64, 1024):
    qs, ks = rng.standard_normal((2000, width)), rng.standard_normal((2000, width))
    scores = (qs * ks).sum(axis=1)
    print(f"d={width:5d}: std of q.k {scores.std():6.2f}, of q.k/sqrt(d) "
          f"{(scores / np.sqrt(width)).std():5.2f}")

# %% [markdown]
# Finite differences agree (float64, random upstream gradient), with the mask and the fully
# masked row from above, and with causal masking. The Numba backend then has to give the
# reference's numbers, forward and backward (tests/test_kernel_parity.py does this for every
# kernel on many shapes):

# %%
with tinymm.use_backend("reference"):
    assert tinymm.gradcheck(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=keep), [q, k, v])
    assert tinymm.gradcheck(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), [q, k, v])

grads = {}
for backend in ("reference", "numba"):
    leaves = [tensor(a, requires_grad=True) for a in (q, k, v)]
    with tinymm.use_backend(backend):
        F.scaled_dot_product_attention(*leaves, attn_mask=keep).sum().backward()
    grads[backend] = [t.grad for t in leaves]
for ours, ref in zip(grads["numba"], grads["reference"]):
    assert np.allclose(ours, ref, atol=1e-12)
print("gradcheck passed (masked, causal); numba matches the reference")

# %% [markdown]
# ## 4. Multi-head attention is reshapes around the same core
#
# `nn.MultiheadAttention(E, h)` projects (one (3E, E) weight, PyTorch's `in_proj_weight`),
# splits the E features into h groups of d = E / h, runs the core on each group, concatenates,
# and projects again (`out_proj`). Each head can attend to something different. The split is a
# reshape (N, L, E) -> (N, L, h, d) and a transpose to (N, h, L, d):

# %%
E, heads = 6, 3
mha = nn.MultiheadAttention(E, heads, batch_first=True, dtype=np.float64)
x_q, x_kv = rng.standard_normal((2, 4, E)), rng.standard_normal((2, 5, E))
out, avg_weights = mha(x_q, x_kv, x_kv)

W, b = mha.in_proj_weight.array, mha.in_proj_bias.array
Qp, Kp, Vp = x_q @ W[:E].T + b[:E], x_kv @ W[E:2 * E].T + b[E:2 * E], x_kv @ W[2 * E:].T + b[2 * E:]


def split_heads(t):  # (N, L, E) -> (N, h, L, d)
    return t.reshape(t.shape[0], t.shape[1], heads, E // heads).transpose(0, 2, 1, 3)


with tinymm.use_backend("reference"):
    core, weights = attention_with_weights(split_heads(Qp), split_heads(Kp), split_heads(Vp))
merged = core.array.transpose(0, 2, 1, 3).reshape(2, 4, E)  # (N, Lq, E)
by_hand = merged @ mha.out_proj.weight.array.T + mha.out_proj.bias.array
assert np.allclose(out.array, by_hand)
assert np.allclose(avg_weights.array, weights.array.mean(axis=1))  # need_weights: head average
print("MultiheadAttention = projections + per-head core + out_proj; weights", avg_weights.shape)

# %% [markdown]
# ## 5. Exercises: the softmax backward, then dq, dk and dv
#
# **05-attention-softmax**: in `tutorials/exercises/05-attention-softmax.py` write
# `softmax_backward(P, dP)`: given the attention weights `P` (..., Lq, Lk) (rows sum to 1, or
# are all zero for fully masked rows) and the upstream gradient `dP`, return `dS`. Section 2
# has everything you need.
#
# **05-attention-dqdkdv**: in `05-attention-dqdkdv.py` write `attention_backward(q, k, v, P,
# dout)` returning `(dq, dk, dv)` for one head, scale included (section 3). The checker runs
# a square case (Lq = Lk, where a missing transpose keeps the shapes) and a rectangular one.
# Your status:

# %%
for exercise_id in ("05-attention-softmax", "05-attention-dqdkdv"):
    print(f"{exercise_id}: {check(exercise_id).status}")

# %% [markdown]
# The classic mistake, `return P * dP` (the Jacobian's diagonal only):

# %%
result = check("05-attention-softmax", fn=lambda P, dP: P * dP)
print(result.message)
assert not result.ok and "rowsum" in result.message

# %% [markdown]
# And in dq/dk/dv, leaving out the scale: dq and dk come out exactly sqrt(d) times too large,
# and the checker says which factor it is:

# %%
def unscaled(q, k, v, P, dout):
    dv = P.swapaxes(-1, -2) @ dout
    dP = dout @ v.swapaxes(-1, -2)
    dS = P * (dP - (dP * P).sum(axis=-1, keepdims=True))
    return dS @ k, dS.swapaxes(-1, -2) @ q, dv  # BUG: no 1/sqrt(d)


result = check("05-attention-dqdkdv", fn=unscaled)
print(result.message)
assert not result.ok and "sqrt(d)" in result.message

# %% [markdown]
# ## 6. What each fusion can and cannot express
#
# The question vector `a` (from the LSTM) and the image must become one vector for the
# classifier. Consider "what colour is the square?": the answer lives in *one region*.
#
# * **Concatenate** `[a; b]`: keeps everything, but a following Linear computes
#   `W_a a + W_b b`, a *sum* of a question part and an image part; the interaction ("colour
#   *of the square*") must be built by the nonlinear layers after it.
# * **Multiply** `a * b`: a multiplicative interaction, but only feature i with feature i,
#   and only of two *vectors*. The image was pooled or flattened into one vector first, so
#   "which region" is gone before the product happens. It also needs equal widths: the seed
#   article multiplies a 65,536-wide flattened conv output with a 128-wide LSTM state, which
#   tinymm refuses with a message that suggests a projection (below).
# * **CrossAttentionFusion**: the question scores *every region* and averages them by those
#   scores, so it can select a region by content, and it hands back the map over regions.
# * **GatedFusion**: per feature, a learned sigmoid gate decides how much to take from each
#   modality; it can ignore the image for questions that do not need it, but it still mixes
#   whole vectors.
# * **BilinearFusion**: `W_o (tanh(U a) * tanh(V b))` lets every question feature interact
#   with every image feature through a rank-R factorisation; more expressive than Multiply,
#   still blind to *where* unless the image vector kept location.
# * **FiLM**: the question scales and shifts each channel of the *feature map* before
#   pooling, so location survives the conditioning.
#
# A concrete case: four regions, each a one-hot "colour" vector; region 2 holds the only red
# thing. Mean-pooling then multiplying cannot tell *where* red is: permuting the regions gives
# the same pooled vector, so the product is identical. Attention with a "red" query puts its
# weight on region 2, and moves with it when the regions are permuted.

# %%
regions = np.array([[[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
permuted = regions[:, [2, 0, 1, 3]]  # red moves to region 0
question = np.array([[1.0, 0.0, 0.0]])  # "find red"

product = nn.Multiply()
pooled, pooled_perm = regions.mean(axis=1), permuted.mean(axis=1)
assert np.allclose(product(question, pooled).array, product(question, pooled_perm).array)
print("Multiply after pooling: identical for both layouts, 'where' is lost")

fusion = nn.CrossAttentionFusion(3, 3, embed_dim=3, num_heads=1, dtype=np.float64)
fusion.query_proj.weight.array[...] = np.eye(3)
fusion.query_proj.bias.array[...] = 0
fusion.attention.in_proj_weight.array[:6] = np.vstack([np.eye(3) * 8, np.eye(3) * 8])  # W_q, W_k
_, where = fusion(question, regions)
_, where_perm = fusion(question, permuted)
print("attention over regions:", np.round(where.array[0], 3), "->",
      np.round(where_perm.array[0], 3))
assert np.argmax(where.array[0]) == 2 and np.argmax(where_perm.array[0]) == 0

try:
    nn.Multiply()(np.zeros((1, 65536), np.float32), np.zeros((1, 128), np.float32))
except ValueError as err:
    print("Multiply refuses the seed article's widths:\n ", err)

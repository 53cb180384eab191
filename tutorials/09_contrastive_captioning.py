# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 09 · Contrastive learning and captioning
#
# The seed article names three image-text applications. Tutorial 07 built the first, visual
# question answering. This one builds the other two from the same two towers (the CNN and the
# Embedding + LSTM):
#
# 1. **retrieval** with a dual encoder trained by the symmetric InfoNCE loss: what in-batch
#    negatives are, why there is a temperature, and the gradient, derived and checked;
# 2. **exercise**: write the InfoNCE backward yourself; the checker says what is wrong;
# 3. **captioning** with an LSTM decoder: teacher forcing in training, free running at test
#    time, and beam search against greedy decoding.
#
# Dimension letters: N pairs in a batch, D embedding features, V vocabulary, T steps.

# %%
import inspect

import numpy as np

import tinymm
from tinymm import nn
from tinymm.data.shapes_captions import CaptionPairs, ShapesCaptions, decode_caption
from tinymm.exercises.literate import run_as_lesson
from tinymm.kernels.reference import info_nce as ref_info_nce
from tinymm.models.captioning import (
    Captioner,
    CaptionerConfig,
    beam_search,
    caption_loss,
    greedy_decode,
)
from tinymm.ops.info_nce import info_nce
from tinymm.optim import Adam

if run_as_lesson(globals()):  # run as a script: print the prose, run the cells, stop here
    raise SystemExit(0)

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. InfoNCE: every other pair in the batch is a negative
#
# A dual encoder maps image i to a unit vector `a_i` and caption j to a unit vector `b_j`.
# For a batch of N matching pairs, the N x N matrix of cosine similarities `G = a b^T` has the
# matching pairs on its diagonal. InfoNCE reads each row as an N-way classification ("which
# caption goes with image i?") and each column the same way for captions, with the diagonal
# as the right answer:
#
#     S = exp(t) * G,   loss = (CE(rows of S, diagonal) + CE(columns of S, diagonal)) / 2
#
# The **in-batch negatives** are free: the other N - 1 captions of the batch are the wrong
# answers for image i, so a batch of 64 pairs gives every image 63 negatives without a single
# extra forward pass. Here is the kernel's derivation, the docstring of its reference code:

# %%
print(ref_info_nce.__doc__[:1500])

# %% [markdown]
# **Why a temperature.** Cosine similarities live in [-1, 1]. Fed to a softmax as they are,
# the best possible row (1 on the diagonal, -1 elsewhere) still gives the right caption only
# `e / (e + (N-1)/e)`: with N = 64 that is 0.11, so the loss can never get small and its
# gradient never stops pushing every pair. Scaling by `exp(t) = 1 / temperature` lets the
# softmax become sharp. CLIP starts at temperature 0.07 and learns t with everything else.

# %%
N, D = 64, 16
aligned = rng.standard_normal((N, D))
aligned /= np.linalg.norm(aligned, axis=1, keepdims=True)
noisy = aligned + 0.2 * rng.standard_normal((N, D))  # a fairly good encoder's pairs
noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
shuffled = noisy[rng.permutation(N)]
print(f"{'temperature':>11} {'matching pairs':>15} {'shuffled pairs':>15}")
for temperature in (1.0, 0.3, 0.07, 0.01):
    t = np.array(np.log(1 / temperature))
    good, bad = info_nce(aligned, noisy, t).item(), info_nce(aligned, shuffled, t).item()
    print(f"{temperature:11.2f} {good:15.4f} {bad:15.4f}")
print(f"chance level log(N) = {np.log(N):.4f}")

# %% [markdown]
# At temperature 1 the matching pairs cost almost as much as `log N`, little less than the
# shuffled ones: the loss barely tells a good encoder from a random one. At 0.07 the
# matching pairs are cheap and the shuffled ones very expensive. At 0.01 the matching pairs
# cost more again: the softmax is so sharp that the few pairs whose caption is not the
# closest dominate the loss (and its gradient).
#
# **The gradient.** For one row, `d(-log P[i, i]) / dS[i, j] = P[i, j] - [i == j]`: push up
# the right caption by `1 - P[i, i]`, push down every wrong caption in proportion to how much
# the model currently believes it. The column term adds the same for captions, so
# `dS = (P - I + Q - I) / 2N`, `da = exp(t) dS b` and `dt = sum(dS * S)`. Hard negatives (a
# wrong caption with a high P) get the largest push: that is what in-batch negatives do.
#
# The finite-difference check, on every backend, for all three inputs:

# %%
a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
t = np.array(0.8)
for backend in ("reference", "numba"):
    with tinymm.use_backend(backend):
        assert tinymm.gradcheck(lambda x, y, s: info_nce(x, y, s), [a, b, t])
        print(backend, "gradcheck passed:",
              tinymm.gradcheck_report(lambda x, y, s: info_nce(x, y, s), [a, b, t]))

# %% [markdown]
# ## 2. Exercise: write the InfoNCE backward
#
# Write `info_nce_backward(a, b, t)` returning `(da, db, dt)`, the gradients of the loss
# above (upstream gradient 1) with respect to `a` (N, D), `b` (N, D) and the scalar `t`.
# Section 1 has the formulas. The checker compares with finite differences and says what is
# wrong. (Try it: drop the column term `Q - I` and run the cell.)


# %%
def info_nce_backward(a, b, t):
    N = a.shape[0]
    s = np.exp(t)
    S = s * a @ b.T  # (N, N)
    P = np.exp(S - S.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)  # row softmax
    Q = np.exp(S - S.max(axis=0, keepdims=True))
    Q /= Q.sum(axis=0, keepdims=True)  # column softmax
    dS = ((P - np.eye(N)) + (Q - np.eye(N))) / (2 * N)
    return s * dS @ b, s * dS.T @ a, float((dS * S).sum())


def check_info_nce_backward(fn, seed=0, eps=1e-6):
    """Test ``fn(a, b, t) -> (da, db, dt)`` against central differences; raise with a hint."""
    r = np.random.default_rng(seed)
    a, b, t = r.standard_normal((4, 3)), r.standard_normal((4, 3)), 0.5

    def loss(a_, b_, t_):
        return ref_info_nce.info_nce_forward(a_, b_, np.asarray(t_))[0].item()

    numeric = []
    for which, x in enumerate((a, b)):
        g = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            plus, minus = x.copy(), x.copy()
            plus[idx] += eps
            minus[idx] -= eps
            args_p, args_m = [a, b, t], [a, b, t]
            args_p[which], args_m[which] = plus, minus
            g[idx] = (loss(*args_p) - loss(*args_m)) / (2 * eps)
        numeric.append(g)
    numeric.append((loss(a, b, t + eps) - loss(a, b, t - eps)) / (2 * eps))
    da, db, dt = fn(a.copy(), b.copy(), t)
    for name, yours, ref in (("da", da, numeric[0]), ("db", db, numeric[1])):
        yours = np.asarray(yours, dtype=np.float64)
        if yours.shape != ref.shape:
            raise AssertionError(f"{name} has shape {yours.shape}, expected {ref.shape}")
        if not np.allclose(yours, ref, rtol=1e-4, atol=1e-7):
            ratio = np.sum(yours * ref) / max(np.sum(ref * ref), 1e-30)
            hint = (" It is about half the right size: did you drop the column (text->image) "
                    "term Q - I?" if 0.3 < ratio < 0.7 else
                    " Did you forget the scale exp(t) (S = exp(t) a b^T)?" if
                    np.allclose(yours * np.exp(t), ref, rtol=1e-4, atol=1e-7) else "")
            raise AssertionError(f"{name} is wrong (max error "
                                 f"{np.abs(yours - ref).max():.3g}).{hint}")
    if not np.isclose(float(dt), numeric[2], rtol=1e-4, atol=1e-7):
        raise AssertionError(f"dt is wrong: yours {float(dt):.6g}, finite differences "
                             f"{numeric[2]:.6g}; S depends on t through exp(t), so "
                             "dS/dt = S and dt = sum(dS * S)")
    return True


assert check_info_nce_backward(info_nce_backward)
print("your InfoNCE backward is right")
print(inspect.getsource(ref_info_nce.info_nce_backward))

# %% [markdown]
# ## 3. Captioning: teacher forcing, free running, beam search
#
# A captioner turns the image into the LSTM's initial state and then predicts one word at a
# time. In **training** every step is fed the *true* previous word (teacher forcing): all
# steps are independent given the reference, so the plain decoder runs the LSTM over the
# whole sequence in one call, and the loss is the cross-entropy of each next word. At **test
# time** there is no reference: the decoder is fed its *own* previous word (free running), so
# an early mistake is never corrected by the data (the gap between the two is called
# exposure bias).
#
# The initial state is a plain linear function of the image vector v, h0 = W_h v + b_h, with
# no tanh. With tanh(W_h v + b_h), Adam saturates the tanh within a few dozen steps (v is a
# ReLU output with a large part common to every image), h0 becomes the same +-1 vector for
# every image, the image's gradient vanishes and the decoder learns one caption for all
# images. A quick check for that failure: the loss with the images shuffled across the
# batch should be higher than the loss with the right images.
#
# A tiny captioner, a few hundred steps on 96 images (small on purpose: this runs in the
# test suite):

# %%
data = ShapesCaptions(96, seed=0)
pairs = CaptionPairs(data)
nn.init.seed(0)
model = Captioner(CaptionerConfig(conv1_channels=8, conv2_channels=16, embed_dim=16,
                                  hidden_size=48, image_dim=32))
opt = Adam(model.parameters(), lr=1e-2)
order = np.random.default_rng(1).permutation(len(pairs))
for step in range(120):
    batch = pairs.batch(order[(step * 24) % len(pairs):][:24])
    L = int(batch["lengths"].max())
    loss = caption_loss(model(batch["image"], batch["tokens"][:, :L]), batch["tokens"][:, :L])
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 40 == 0 or step == 119:
        print(f"step {step:3d}  teacher-forced loss {loss.item():.3f}")

# %% [markdown]
# Free running: greedy decoding takes the most probable word each step; beam search keeps the
# `B` most probable prefixes (sum of log probabilities) and returns the best. With `B = 1` it
# *is* greedy decoding, which the tests check token for token; with a wider beam the
# returned caption can only score at least as well under the model.
#
# After so little training the teacher-forced loss has fallen a long way, yet the free-running
# captions are fluent sentences of the caption templates whose facts are mostly wrong (the
# colours and shapes named are rarely the image's): the decoder has learnt the language
# before learning to look. A low teacher-forced loss is not a
# good caption; BLEU and the attribute accuracy of decoded captions are what the task reports.

# %%
images = data.image_array(np.arange(4))
greedy, _ = greedy_decode(model, images)
beam1 = beam_search(model, images, beam=1)
beam4 = beam_search(model, images, beam=4)
assert np.array_equal(greedy, beam1)
for i in range(4):
    print(f"reference: {data.captions[i][0]}")
    print(f"greedy:    {decode_caption(data.tokenizer, greedy[i])}")
    print(f"beam 4:    {decode_caption(data.tokenizer, beam4[i])}\n")

# %% [markdown]
# With more data and training (`tinymm train --task captioning`) the captions become right;
# `--decoder attention` adds "show, attend and tell" attention: at every step the decoder's
# state queries the 64 image regions and the weighted region vector is fed in beside the
# word, so the decoder can look at the object it is about to name (its `attention.png` shows
# the map of each word). `tinymm train --task retrieval` trains the dual encoder of section 1.
#
# What a trained captioner gets wrong is the facts, and shapes first: the sentences are
# fluent and the colours mostly right, long before every shape is. Colour is one pixel's
# value; shape is an arrangement of pixels, so the encoder has to see enough of an object at
# once. The seed's image tower runs both convolutions at full resolution and then pools
# twice, so each conv2 output sees 5x5 pixels of an 8-10 pixel object. The captioner's
# default tower (`early_pool`) pools between the convolutions instead: conv2 runs on the
# 16x16 map, so each of its outputs sees 8x8 pixels (most of an object) and the step costs
# half as much, which buys twice the training steps in the same time.
# `--model-option early_pool=false` gives the seed tower back.
#
# The attention decoder trains with Show, attend and tell's doubly stochastic regulariser,
# `coverage` * sum_r (1 - sum_t alpha_tr)^2 (0.1 by default): each row of alpha sums to one
# over the regions by the softmax, and this asks each region's column to sum to about one
# over the caption, so the weights cannot all settle on a few cells early in training.
# Other options to measure (`benchmarks/caption_study.py`): `slot_loss` (a head on the
# image vector trained to name each object's colour and shape, left to right),
# `batch_norm`, `map_conv`, and `context_gate` (beta_t = sigmoid(W h) scaling the context).

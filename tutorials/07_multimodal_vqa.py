# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 07 · The multimodal application: visual question answering and what fusion does
#
# `tinymm train` learns to answer questions about pictures: "what color is the triangle ?",
# "how many red objects are there ?". An image encoder (a small CNN) and a question encoder
# (an embedding and an LSTM) each produce a representation; a **fusion** layer combines them;
# a dense head picks one of 16 answers. The only thing that changes between the models we
# compare is the fusion, so the comparison shows what each fusion can express.
#
# This tutorial walks through
#
# 1. the data (ShapesVQA) and why a model must look *and* read to beat chance;
# 2. the model, fusion by fusion, with the math;
# 3. a tiny comparison run (seconds; the real one is `tinymm compare-fusions`, minutes);
# 4. attention maps: where the question made the model look.
#
# Run it as a script (`python tutorials/07_multimodal_vqa.py`) or open it with jupytext.

# %%
import os
import tempfile

import numpy as np

import tinymm
from tinymm.app.render import render_grid
from tinymm.data import (
    ANSWERS,
    ANSWERS_BY_TYPE,
    QUESTION_TYPES,
    DataLoader,
    ShapesVQA,
    question_only_chance,
)
from tinymm.exercises.literate import run_as_lesson
from tinymm.models import FUSIONS, MultimodalConfig, MultimodalVQA

if run_as_lesson(globals()):  # run as a script: print the prose, run the cells, stop here
    raise SystemExit(0)

OUT = tempfile.mkdtemp(prefix="tinymm_tutorial07_")

# %% [markdown]
# ## 1. The data
#
# Each sample is a 32x32 image with 1 to 4 coloured shapes on black, and one templated
# question of four types. Generation is seeded and vectorised: the same seed gives the same
# data everywhere, and 10,000 samples take a fraction of a second.

# %%
data = ShapesVQA(2000, seed=0)
for i in range(6):
    sample = data[i]
    print(f"{sample['question_type']:<6} {sample['question']:<40} -> {sample['answer']}")
grid = render_grid(data, os.path.join(OUT, "samples.png"), indices=np.arange(8))
print("sample grid:", os.path.join(OUT, "samples.png"), grid.shape)

# %% [markdown]
# **Why neither modality alone is enough.** For every question type the answer is drawn
# first, uniformly, *independently of the words in the question*, and then a scene is built
# that makes it true. So the question tells you the answer *type* ("what color" -> one of
# six colours) but nothing more: the best question-only guess is right
# 1/6, 1/3, 1/5, 1/2 of the time for the four types, 0.30 on average. The image alone does
# not say what is asked. Let us check the balance numerically:

# %%
counts = data.answer_counts()
for qtype in QUESTION_TYPES:
    print(f"{qtype:<6}", counts[qtype])
print("question-only chance:", question_only_chance())
for qtype in QUESTION_TYPES:
    per_answer = np.array(list(counts[qtype].values()))
    assert per_answer.max() - per_answer.min() <= 1  # exactly balanced

# %% [markdown]
# ## 2. The model, and what each fusion can express
#
# Shared parts (`tinymm/models/multimodal.py`):
#
# * image: Conv(3->32, 3x3, same)+ReLU, Conv(32->64)+ReLU, two 2x2 max-pools: a map
#   `(N, 64, 8, 8)`, i.e. 64 **region vectors** of 64 channels, each seeing a 4x4 patch;
# * question: Embedding(24, 128) -> LSTM(128) run with the true lengths, giving the token
#   outputs `H (N, T, 128)` and the final state `q (N, 128)`;
# * head: Dense(128)+ReLU -> Dense(16).
#
# Write `v = W_v flatten(map) (N, 128)` for the global image vector. The fusions:
#
# * **concat** `f = [v ; q]`: no interaction inside the fusion; the head's first layer
#   computes `A v + B q`, a sum, and only the ReLU after it can combine the two.
# * **multiply** `f = v * q`: multiplicative, feature by feature: the question can switch
#   image features on and off.
# * **gated** `f = z * tanh(W_a v) + (1 - z) * tanh(W_b q)`, `z = sigmoid(W_z [v; q])`: per
#   feature, a learned choice of modality.
# * **bilinear** `f = W_o ((U LN(v)) * (V LN(q)))`: every image feature with every question
#   feature, through a rank-R factorisation. MLB puts a tanh on both factors
#   (`bilinear_core="tanh"`); here Adam grows `U v` until that tanh saturates and the CNN's
#   gradient vanishes, so the default core is linear on LayerNorm'd inputs.
# * **attention** `f = mean_t (p_t + sum_r softmax_r(p_t . k_r / sqrt(d)) v_r)` with
#   `p_t = W_q h_t` (multi-head in practice): the question **chooses regions**, weighing each
#   of the 64 region vectors by its match with each token.
# * **attention_count** attention plus a `RegionCounter`, whose output is appended to `f`.
#   Softmax weights sum to 1, so attention returns an *average* of the matching regions,
#   the same for one red object as for three: "how many" is lost (Zhang et al. 2018). The
#   counter scores each region on its own, `m_rk = sigmoid(k_r . p_k(q))` for `K` probes
#   `p_k` read off the question, so the 8 x 8 map `m_k` marks the cells that match. Summing
#   `m_k` counts *cells*, and one object covers 4 to 16 of them, depending on its size and
#   where it falls on the grid. So the counter reads `J` learnt 2x2 patterns off the maps
#   (`ReLU(Conv2d(K -> J, 2x2, padding=1))`, summed over the windows), which can express the
#   map's **Euler number**: the number of connected blobs of cells, whatever their area
#   (`count_patterns=0` gives the plain sums back). The cell below checks the formula.
#   Its image tower differs from the seed's in two ways (`early_pool`, `batch_norm` in
#   `MultimodalConfig`; the other fusions keep the seed tower). Every question type waits
#   on the CNN telling shapes apart ("what color is the circle" must find the circle), and
#   with the seed tower the validation shape accuracy stays at chance for thousands of
#   steps before it jumps, so the counter, learnt after the jump, runs out of epochs. A
#   `BatchNorm2d` between each conv and its ReLU keeps every channel centred and scaled as
#   the weights move, and the shape jump comes within the first few epochs; pooling once
#   before conv2 (`early_pool`) runs conv2 on the 16 x 16 map, a quarter of the work, and
#   lets each of its outputs see 8 x 8 pixels, about one object.
# * **image_only** `f = v`, **question_only** `f = q`: baselines, one modality alone.
#
# The key difference: every fusion except attention sees the image as *one* vector `v`,
# computed before the question is known. To answer "what color is the triangle" the image
# vector would have to encode the colour of every object *and* which shape it has, in a form
# one product or sum can query. Attention keeps the 64 regions apart until the question has
# picked which to read: it is the only fusion here that can select by content.
#
# A concrete check of that claim on numbers: with one-hot "region contents", attention with
# a query matching region 2 returns region 2's content, while the product `v * q` of a pooled
# vector can only rescale the *sum* of all regions.

# %%
regions = np.eye(4)  # 4 regions, each holding a different one-hot "object"
key = regions * 8.0  # keys: how well each region matches a query direction
query = np.array([0.0, 0.0, 1.0, 0.0])  # "look for object 2"
scores = key @ query  # (4,)
weights = np.exp(scores - scores.max())
weights /= weights.sum()
attended = weights @ regions
pooled = regions.sum(axis=0)
print("attention weights:", weights.round(3), "-> reads", attended.round(3))
print("pooled v * q:", (pooled * query), "(only a rescaled sum of everything)")
assert attended.argmax() == 2 and weights[2] > 0.99

# %% [markdown]
# The Euler number of a 0/1 map, summed over every 2x2 window `[[a, b], [c, d]]` of the
# zero-padded map: `(a + b + c + d) / 4` (each cell is in four windows), minus half of each
# adjacent pair `ab, cd, ac, bd` (each pair is in two), plus the full block `abcd`. On 0/1
# values a pair is `ReLU(a + b - 1)` and the block `ReLU(a + b + c + d - 3)`: ReLUs of linear
# functions of the window, which is what a 2x2 convolution followed by a ReLU computes.

# %%
def euler_number(m):
    """Connected blobs minus holes of a 0/1 map m (h, w), from its 2x2 windows."""
    p = np.pad(m, 1)  # (h + 2, w + 2)
    a, b, c, d = p[:-1, :-1], p[:-1, 1:], p[1:, :-1], p[1:, 1:]  # (h + 1, w + 1) each
    relu = lambda x: np.maximum(x, 0.0)  # noqa: E731
    pairs = relu(a + b - 1) + relu(c + d - 1) + relu(a + c - 1) + relu(b + d - 1)
    return float(((a + b + c + d) / 4 - pairs / 2 + relu(a + b + c + d - 3)).sum())


one_big, three_small = np.zeros((8, 8)), np.zeros((8, 8))
one_big[1:5, 2:6] = 1  # one object over 16 cells
three_small[0, 0] = three_small[3:5, 3:5] = three_small[7, 1:4] = 1  # three over 8 cells
for name, m in (("one large object", one_big), ("three small objects", three_small)):
    print(f"{name}: {m.sum():.0f} matching cells, Euler number {euler_number(m):.0f}")
assert euler_number(one_big) == 1 and euler_number(three_small) == 3

# %% [markdown]
# Two objects whose cells share an edge merge into one blob, so the count can be one short.

# %% [markdown]
# Every fusion builds from the same parts; the model has a dataclass config and only
# creates the layers its fusion needs:

# %%
TINY = dict(conv1_channels=4, conv2_channels=8, embed_dim=16, hidden_size=16, fused_dim=16,
            head_hidden=16, num_heads=2, bilinear_rank=4)
batch = data.batch(np.arange(4))
for fusion in FUSIONS:
    tinymm.nn.init.seed(0)
    model = MultimodalVQA(MultimodalConfig(fusion=fusion, **TINY))
    logits = model(batch["image"], batch["tokens"], batch["lengths"])
    print(f"{fusion:<14} logits {logits.shape}  parameters {model.num_parameters():>7,}")

# %% [markdown]
# The counting option's tower has the seed's parameters plus the two norms' scales and
# shifts, and gives the same 8 x 8 map of region vectors:

# %%
for fusion in ("attention", "attention_count"):
    config = MultimodalConfig(fusion=fusion)
    print(f"{fusion:<16} early_pool={config.early_pool}  batch_norm={config.batch_norm}")
tinymm.nn.init.seed(0)
counting = MultimodalVQA(MultimodalConfig(fusion="attention_count", **TINY))
fmap = counting.encode_image(tinymm.tensor(batch["image"]))  # (N, C2, 8, 8)
print("attention_count feature map:", fmap.shape)
assert fmap.shape == (4, TINY["conv2_channels"], 8, 8)

# %% [markdown]
# The counting option also trains on a learning-rate schedule (`tinymm train --lr-schedule`;
# the other fusions keep a constant rate). At a constant Adam rate the counter's validation
# accuracy keeps moving from epoch to epoch after it has learnt to count, so where a run
# stops decides its number. `cosine:K` holds `--lr` and then anneals it to 0 over the last
# K epochs, one `tinymm.optim.lr_scheduler` step per optimizer step (PyTorch's
# `SequentialLR` of `ConstantLR` and `CosineAnnealingLR`), so the last epochs take ever
# smaller steps and the weights settle. Here is the rate at the end of each epoch of a
# default counting run (313 steps an epoch):

# %%
from tinymm.app.lr_schedule import build_scheduler  # noqa: E402
from tinymm.app.train import default_epochs, default_schedule  # noqa: E402

spec, epochs = default_schedule("attention_count"), default_epochs("attention_count")
steps = 313  # ceil(10,000 / 32)
optimizer = tinymm.optim.Adam([tinymm.nn.Parameter(np.zeros(1, np.float32))], lr=1e-3)
scheduler = build_scheduler(spec, optimizer, epochs, steps)
ends = []
for step in range(epochs * steps):
    scheduler.step()
    if (step + 1) % steps == 0:
        ends.append(optimizer.param_groups[0]["lr"])
print(spec, " ".join(f"{lr:.1e}" for lr in ends))
assert ends[-1] < 1e-8 and all(a >= b for a, b in zip(ends, ends[1:]))

# %% [markdown]
# ## 3. A tiny comparison
#
# The real comparison (`tinymm compare-fusions`: 10,000 training samples, the full-size
# model, 15 epochs) takes minutes per fusion. Here a small model takes ten Adam steps on 320
# samples: enough to see the machinery work end to end (and the question-only baseline
# stuck at its 0.30 ceiling), far too short to rank the fusions, and far too short for
# the attention model's characteristic jump: on the
# full data it sits near 0.5 for ~1,600-2,200 Adam steps and then climbs to about 0.9
# (measured in development on the built-in data), so a short run makes attention look no better
# than multiply.

# %%
def train_tiny(fusion, train_set, test_set, epochs=1, lr=3e-3, seed=0):
    tinymm.nn.init.seed(seed)
    model = MultimodalVQA(MultimodalConfig(fusion=fusion, **TINY))
    optimizer = tinymm.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(train_set, batch_size=32, shuffle=True, seed=seed)
    for _ in range(epochs):
        for b in loader:
            logits = model(b["image"], b["tokens"], b["lengths"])
            loss = tinymm.F.cross_entropy(logits, b["answer"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with tinymm.no_grad():
        model.eval()
        t = test_set.batch(np.arange(len(test_set)))
        predicted = model(t["image"], t["tokens"], t["lengths"]).array.argmax(axis=1)
    return model, float((predicted == test_set.answer).mean())


splits = ShapesVQA.splits(train=320, val=10, test=200, seed=0)
results = {}
for fusion in ("question_only", "multiply", "attention"):
    model, accuracy = train_tiny(fusion, splits["train"], splits["test"])
    results[fusion] = (model, accuracy)
    print(f"{fusion:<14} test accuracy {accuracy:.3f}")

# %% [markdown]
# With so few steps the numbers are noise around chance. What must hold even here: the
# question-only model cannot beat its 0.30 ceiling (up to sampling noise on 200 questions),
# whatever it learns.

# %%
assert results["question_only"][1] < 0.40
assert all(0.0 <= acc <= 1.0 for _, acc in results.values())

# %% [markdown]
# ## 4. Attention maps
#
# `model.forward_with_attention(image, tokens, lengths)` returns the logits and the weights
# over the 64 regions (averaged over heads and real question tokens). `tinymm train` draws them
# for a few test questions into `attention.png`; the same function works here. A trained
# model's map lights up the object the question names; this tiny one has barely started.

# %%
from tinymm.app.figures import attention_png  # noqa: E402

attention_model = results["attention"][0]
pixels = attention_png(attention_model, splits["test"], np.arange(4),
                       os.path.join(OUT, "attention.png"))
batch4 = splits["test"].batch(np.arange(4))
with tinymm.no_grad():
    _, weights = attention_model.forward_with_attention(batch4["image"], batch4["tokens"],
                                                         batch4["lengths"])
weights = weights.array
print("attention map:", os.path.join(OUT, "attention.png"), pixels.shape)
print("weights per question: shape", weights.shape, "rows sum to", weights.sum(axis=1).round(4))
assert np.allclose(weights.sum(axis=1), 1.0, atol=1e-5)

# %% [markdown]
# ## Exercise: pool the attention over the real question tokens
#
# Each token t of a question attends over the R regions with weights `A[n, t, :]` (a row
# that sums to 1). The map we draw is one row per question: the average of the token rows,
# **over the real tokens only**: the padding after a short question must not vote. Write
# `pool_attention(A, mask)` with `A (N, T, R)` and `mask (N, T)` bool (True = real token),
# returning `(N, R)`. The checker compares against the answer and says what is wrong.

# %%
def pool_attention(A, mask):
    w = mask / mask.sum(axis=1, keepdims=True)  # (N, T): 1/L_n on real tokens, 0 on padding
    return (A * w[:, :, None]).sum(axis=1)  # (N, R)


def check_pool_attention(fn) -> str:
    """'ok', or what is wrong with ``fn``'s answer."""
    rng = np.random.default_rng(0)
    N, T, R = 3, 5, 6
    A = rng.random((N, T, R))
    A /= A.sum(axis=2, keepdims=True)  # each token's weights sum to 1
    lengths = np.array([5, 3, 1])
    mask = np.arange(T)[None, :] < lengths[:, None]  # (N, T)
    A[~mask] = np.eye(R)[0]  # padded tokens all "look" at region 0
    got = np.asarray(fn(A, mask))
    if got.shape != (N, R):
        return f"the result has shape {got.shape}; expected (N, R) = {(N, R)}"
    expected = np.stack([A[n, :lengths[n]].mean(axis=0) for n in range(N)])
    if np.allclose(got, expected):
        return "ok"
    if np.allclose(got, A.mean(axis=1)):
        return ("you averaged over the padded tokens too: divide by each question's number "
                "of real tokens and leave padded rows out")
    if np.allclose(got, (A * mask[:, :, None]).sum(axis=1) / T):
        return "padding is left out, but you divided by T instead of each question's length"
    if not np.allclose(got.sum(axis=1), 1.0):
        return "each pooled row must sum to 1 (it is an average of distributions)"
    return "the values differ from the mean of each question's real-token rows"


print("your solution:", check_pool_attention(pool_attention))
assert check_pool_attention(pool_attention) == "ok"
broken = check_pool_attention(lambda A, mask: A.mean(axis=1))  # forgets the mask
print("a broken one: ", broken)
assert "padded tokens" in broken
assert "divided by T" in check_pool_attention(lambda A, mask: (A * mask[:, :, None]).sum(1) / 5)

# %% [markdown]
# tinymm's `CrossAttentionFusion` (tinymm/nn/fusion.py) pools its per-token weights the
# same way; that is why the attention rows of section 4 sum to 1.

# %% [markdown]
# ## Where to go next
#
# * `tinymm train` (attention fusion, 10,000 samples) and `tinymm compare-fusions` write the
#   curves, the table and the attention maps for the real runs.
# * The layers used here are derived in tutorials 03 (conv, pooling), 04 (LSTM) and 05
#   (attention and fusion).
# * Exercise: add a `film` fusion (tinymm.nn.FiLM: the question scales and shifts each
#   channel of the feature map *before* pooling) to `MultimodalVQA` and compare it. It keeps
#   the spatial layout like attention; does it count better?

# %%
print("answers:", ", ".join(ANSWERS))
print("answer ids per type:", {k: list(v) for k, v in ANSWERS_BY_TYPE.items()})

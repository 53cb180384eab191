# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 02 · The dense layer, an MLP, softmax and cross-entropy: derived, checked, trained
#
# The classifier head of tinymm's multimodal model is a dense layer followed by a softmax
# over the answers, trained with cross-entropy. This tutorial derives each piece from the
# reference kernels' docstrings (`tinymm/kernels/reference/linear.py`, `cross_entropy.py`),
# checks it, and ends with a trained model:
#
# 1. the dense layer: forward, and the three gradients as matrix products;
# 2. an MLP: layers chained, the backward as the chain rule run in reverse;
# 3. softmax and cross-entropy, fused: a stable forward and a one-line gradient;
# 4. training: an MLP fits a data set a linear model cannot;
# 5. one Adam step, the optimizer the training used.
#
# Exercises: `02-dense-backward`, `02-softmax-ce`, `06-adam-step`. Prerequisite: tutorial 01
# (gradcheck). Dimension letters: N rows (the batch), D_in / D_out features, C classes.

# %%
import numpy as np

import tinymm
from tinymm import functional as F
from tinymm import nn, optim, tensor
from tinymm.exercises import check
from tinymm.exercises.literate import run_as_lesson
from tinymm.kernels.reference import cross_entropy as ref_ce
from tinymm.kernels.reference import linear as ref_linear

if run_as_lesson(globals()):  # run as a script: print the prose, run the cells, stop here
    raise SystemExit(0)

tinymm.use_backend("reference")  # the plain NumPy kernels this tutorial reads
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The dense layer
#
# PyTorch's layout: `weight` is (D_out, D_in), one row per output unit, so
#
#     out[n, o] = sum_i x[n, i] * weight[o, i] + bias[o]          out = x @ weight^T + bias
#
# Differentiate one element at a time. `out[n, o]` depends on `x[n, i]` through
# `weight[o, i]`, on `weight[o, i]` through `x[n, i]`, and on `bias[o]` with slope 1. Summing
# over everything that used each input (the chain rule), with `dout = dL/dout`:
#
#     dx[n, i]      = sum_o dout[n, o] weight[o, i]       dx      = dout @ weight     (N, D_in)
#     dweight[o, i] = sum_n dout[n, o] x[n, i]            dweight = dout^T @ x        (D_out, D_in)
#     dbias[o]      = sum_n dout[n, o]                    one bias, added to every row
#
# Note the sums over n: the weights are shared by every row of the batch, so their gradient
# *adds up* the rows' contributions. The shapes are the best check: each gradient has its
# input's shape, and there is only one way to multiply the matrices to get it.

# %%
x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((5, 3)), rng.standard_normal(5)
dout = rng.standard_normal((4, 5))
out, cache = ref_linear.linear_forward(x, w, b)
dx, dw, db = ref_linear.linear_backward(dout, cache)
assert np.allclose(out, x @ w.T + b)
assert np.allclose(dw, np.einsum("no,ni->oi", dout, x))  # the sum, element by element
assert tinymm.gradcheck(F.linear, [x, w, b], strict=True)
print("dense: out", out.shape, " dx", dx.shape, " dweight", dw.shape, " dbias", db.shape,
      "; gradcheck (strict) passed")

# %% [markdown]
# ## 2. An MLP is the chain rule, run backwards
#
# `Linear(2, 32) -> ReLU -> Linear(32, 3)`. Its forward is three functions composed; its
# backward calls each one's backward in reverse order, passing the gradient along: the
# second layer's `dx` is the ReLU's `dout`, the ReLU lets it through where its input was
# positive, and the first layer turns it into `dweight` and `dbias`. tinymm's autograd does
# this walk (tutorial 01). Checked by hand:

# %%
mlp = nn.Sequential(nn.Linear(2, 32, dtype=np.float64), nn.ReLU(),
                    nn.Linear(32, 3, dtype=np.float64))
xs = rng.standard_normal((6, 2))
d_logits = rng.standard_normal((6, 3))
mlp(tensor(xs)).backward(d_logits)

first, second = mlp[0], mlp[2]
hidden_in = xs @ first.weight.array.T + first.bias.array  # (6, 32)
hidden = np.maximum(hidden_in, 0)
d_hidden = d_logits @ second.weight.array  # second layer's dx
d_hidden_in = d_hidden * (hidden_in > 0)  # ReLU: pass where the input was positive
assert np.allclose(second.weight.grad.array, d_logits.T @ hidden)
assert np.allclose(first.weight.grad.array, d_hidden_in.T @ xs)
print("MLP backward by hand == autograd, for both weight matrices")

# %% [markdown]
# ## 3. Softmax and cross-entropy, fused
#
# A classifier outputs C logits `z` per row. Softmax turns them into probabilities
# `p_c = exp(z_c) / sum_j exp(z_j)`, and cross-entropy is minus the log-probability of the
# right class `t`, averaged over the N rows:
#
#     loss = (1/N) sum_n -log p[n, t_n] = (1/N) sum_n ( -z[n, t_n] + log sum_j exp(z[n, j]) )
#
# Differentiating the second form is easier than chaining through the softmax: the first
# term gives -1 at the target class, the log-sum-exp gives `p[n, c]` for every class:
#
#     dlogits[n, c] = (p[n, c] - [c == t_n]) / N
#
# "Push up the right answer, push down every class by how likely the model thought it was."
# Two practical points. `exp(1000)` overflows, so the forward subtracts each row's maximum
# first (it cancels between numerator and denominator). And fusing softmax with the loss
# avoids `log(p)` of a `p` that rounded to 0. The reference kernel does both:

# %%
logits = rng.standard_normal((5, 4)) * 3
targets = np.array([0, 3, 1, 1, 2])
loss, cache = ref_ce.cross_entropy_forward(logits, targets)
dlogits, _ = ref_ce.cross_entropy_backward(np.asarray(1.0), cache)
p = np.exp(logits - logits.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
assert np.allclose(dlogits, (p - np.eye(4)[targets]) / 5)
assert np.allclose(dlogits.sum(axis=1), 0)  # each row's gradient sums to 0 (p sums to 1)
huge, _ = ref_ce.cross_entropy_forward(logits * 1000, targets)
print(f"loss {float(loss):.4f}; with logits x1000 the loss is still finite: {float(huge):.1f}")
assert tinymm.gradcheck(lambda z: F.cross_entropy(z, targets), [logits], strict=True)

# %% [markdown]
# ## 4. Training: what the hidden layer buys
#
# Three interleaved spirals in the plane: no straight line separates them, so a linear model
# (a single dense layer) cannot fit them; the MLP's ReLU layer bends the decision boundary.
# 300 full-batch Adam steps each (a few seconds):

# %%
def spirals(n_per_class, classes=3, seed=0):
    r = np.random.default_rng(seed)
    xs, ys = [], []
    for c in range(classes):
        t = np.linspace(0.0, 1.0, n_per_class)
        angle = c * 2 * np.pi / classes + t * 4.0 + r.normal(0, 0.15, n_per_class)
        xs.append(np.stack([t * np.sin(angle), t * np.cos(angle)], axis=1))
        ys.append(np.full(n_per_class, c))
    return np.concatenate(xs), np.concatenate(ys)


def train(model, xs, ys, steps=300, lr=0.02):
    opt = optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(tensor(xs)), ys)
        loss.backward()
        opt.step()
    accuracy = float((model(tensor(xs)).array.argmax(axis=1) == ys).mean())
    return float(loss.array), accuracy


xs, ys = spirals(100)
linear_model = nn.Linear(2, 3, dtype=np.float64)
mlp = nn.Sequential(nn.Linear(2, 64, dtype=np.float64), nn.ReLU(),
                    nn.Linear(64, 3, dtype=np.float64))
for name, model in (("linear", linear_model), ("MLP, 64 hidden", mlp)):
    final_loss, accuracy = train(model, xs, ys)
    print(f"{name:15s} final loss {final_loss:.3f}, training accuracy {accuracy:.2f}")
assert accuracy > 0.9  # the MLP fits the spirals; the linear model cannot

# %% [markdown]
# ## 5. One Adam step
#
# The optimizer above is Adam (Kingma and Ba). Per parameter, with gradient g at step t
# (t counts from 1), it keeps moving averages of g and g^2, corrects their bias toward 0
# (they start at 0), and steps by their ratio:
#
#     m = b1 m + (1 - b1) g          v = b2 v + (1 - b2) g^2
#     m_hat = m / (1 - b1^t)         v_hat = v / (1 - b2^t)
#     param = param - lr * m_hat / (sqrt(v_hat) + eps)
#
# Dividing by sqrt(v_hat) makes the step size about `lr` whatever the gradient's scale. See
# `tinymm/optim.py` for PyTorch's exact operation order.
#
# ## Exercises
#
# * **02-dense-backward**: `dense_backward(dout, x, weight)` returns `(dx, dweight, dbias)`
#   (section 1);
# * **02-softmax-ce**: `softmax_cross_entropy_backward(logits, targets)` returns `dlogits`
#   for the mean loss, finite for logits of size 1000 (section 3);
# * **06-adam-step**: `adam_step(param, grad, m, v, t, lr, betas, eps)` returns the new
#   `(param, m, v)`, checked against `tinymm.optim.Adam` (section 5).
#
# The stubs are in `tutorials/exercises/`; `tinymm exercises check ID` grades one. Status:

# %%
for exercise_id in ("02-dense-backward", "02-softmax-ce", "06-adam-step"):
    print(f"{exercise_id}: {check(exercise_id).status}")

# %% [markdown]
# The checker on the most common dense-layer mistake, averaging over the batch:

# %%
def averaged(dout, x, weight):
    return dout @ weight, dout.T @ x / len(x), dout.mean(axis=0)  # BUG: / N


result = check("02-dense-backward", fn=averaged)
print(result.message)
assert not result.ok and "did you average over the batch?" in result.message

# %% [markdown]
# And on a cross-entropy gradient that forgot the mean's 1/N:

# %%
def summed(logits, targets):
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(p)), targets] -= 1
    return p  # BUG: the loss is a mean, the gradient needs / N


result = check("02-softmax-ce", fn=summed)
print(result.message)
assert not result.ok and "the loss is the MEAN over rows" in result.message

# %% [markdown]
# Next: `03_conv_pool.py`, where the weights are shared across positions as well as rows.

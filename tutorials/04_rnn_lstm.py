# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 04 · RNN and LSTM: backpropagation through time
#
# tinymm's text encoder reads a question token by token: `Embedding(vocab, 128)` turns token
# ids into vectors, an `LSTM(128, 128)` runs over them, and the hidden state at each
# question's last real token is the question's summary. This tutorial derives the backward
# pass of that recurrence, backpropagation through time (BPTT):
#
# 1. the Elman RNN: forward, the unrolled graph, BPTT, and why its gradients vanish;
# 2. the LSTM: four gates, a cell, and the derivation of every gradient;
# 3. variable-length sequences (`lengths`): padded steps that change nothing;
# 4. the checks: gradcheck on both layers;
# 5. exercises: the LSTM cell backward (the checker names the gate you got wrong), then the
#    loop through time around your own cell, then the embedding backward.
#
# Dimension letters throughout: T time steps, N batch, D input features, H hidden units.
# The code shown is tinymm's reference backend (`tinymm/kernels/reference/rnn.py`,
# `lstm.py`), whose module docstrings hold the same derivation.

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
# ## 1. The Elman RNN
#
# One hidden state h (N, H), updated once per step from the input x[t] (N, D):
#
#     a_t = x[t] W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh        (N, H)
#     h_t = tanh(a_t),    out[t] = h_t
#
# The same weights are used at every step. Unrolled over T steps this is an ordinary
# (deep) feed-forward graph with shared weights, so backprop applies unchanged; two things
# are special:
#
# * **h_t has two consumers**: the output out[t] and the next step. Its gradient is the
#   sum `dh = dout[t] + dh_next`, where `dh_next` came back from step t+1.
# * **shared weights accumulate**: W_hh was used at every step, so dW_hh is the sum of each
#   step's contribution, `dW_hh += da_t^T h_{t-1}`.
#
# Walking the steps backwards, from t = T-1 to 0:
#
#     dh      = dout[t] + dh_next
#     da      = dh * (1 - h_t^2)              tanh' from the saved output
#     dh_next = da W_hh                        for step t-1
#     dx[t]   = da W_ih,   dW_ih += da^T x[t],   dW_hh += da^T h_{t-1},   db += sum_n da
#
# The reference backward, `rnn_backward` in `tinymm/kernels/reference/rnn.py`, is those
# lines, one for one, inside a loop over t.
#
# ### Why RNN gradients vanish
#
# Unroll `dh_next = (dh * tanh'(a)) W_hh` over k steps: the gradient reaching step t-k has
# been multiplied by k matrices `diag(1 - h^2) W_hh`. Unless their product keeps norm ~1 it
# shrinks (or grows) geometrically. Measure it: the gradient of the last hidden state with
# respect to the *first* input, as the sequence gets longer.

# %%
D = H = 8
x_long = rng.standard_normal((40, 1, D))
rnn_layer = nn.RNN(D, H, dtype=np.float64)
lstm_layer = nn.LSTM(D, H, dtype=np.float64)
lstm_remember = nn.LSTM(D, H, dtype=np.float64)
lstm_remember.load_state_dict(lstm_layer.state_dict())
lstm_remember.bias_ih_l0.array[H:2 * H] = 3.0  # forget-gate bias +3: f = sigmoid(~3) ~ 0.95
print(" T   |d h_T / d x_0|:  RNN    LSTM   LSTM, forget bias 3")
for T in (2, 5, 10, 20, 40):
    norms = []
    for layer in (rnn_layer, lstm_layer, lstm_remember):
        x = tensor(x_long[:T], requires_grad=True)
        out = layer(x)[0]
        out[T - 1].sum().backward()
        norms.append(np.linalg.norm(x.grad.array[0]))
    print(f"{T:3d}   {norms[0]:18.2e} {norms[1]:9.2e} {norms[2]:9.2e}")

# %% [markdown]
# With random weights both decay geometrically. But the LSTM does not have to: its cell
# state carries gradient through a path with no squashing nonlinearity and no weight matrix,
# only the forget gate (section 2). Open that gate (the third column, a common
# initialisation trick) and the gradient from 40 steps back is orders of magnitude larger.
#
# ## 2. The LSTM
#
# Per step, from (h_prev, c_prev), with PyTorch's gate order i, f, g, o stacked in the rows
# of `weight_ih` (4H, D) and `weight_hh` (4H, H):
#
#     a = x[t] W_ih^T + b_ih + h_prev W_hh^T + b_hh           (N, 4H), four blocks of H
#     i = sigmoid(a_i)     input gate: how much of g to write
#     f = sigmoid(a_f)     forget gate: how much of c_prev to keep
#     g = tanh(a_g)        candidate values
#     o = sigmoid(a_o)     output gate: how much of the cell to expose
#     c = f * c_prev + i * g
#     h = o * tanh(c)
#
# **Backward of one cell.** Two gradients arrive from the future: `dh` (the output's plus
# the next step's, as in the RNN) and `dc_next` (the next step's, through its
# `f * c_prev` term). Take each forward line in reverse:
#
# * `h = o * tanh(c)`: `do = dh * tanh(c)`; and c gets `dh * o * (1 - tanh(c)^2)` on top of
#   `dc_next`, so `dc = dc_next + dh * o * (1 - tanh(c)^2)`.
# * `c = f * c_prev + i * g`: a product rule for each term:
#   `di = dc * g`, `dg = dc * i`, `df = dc * c_prev`, `dc_prev = dc * f`.
# * through the nonlinearities, with the derivatives written using the saved outputs
#   (`sigmoid' = s (1 - s)`, `tanh' = 1 - t^2`):
#   `da_i = di * i (1 - i)`, `da_f = df * f (1 - f)`, `da_g = dg * (1 - g^2)`,
#   `da_o = do * o (1 - o)`.
# * then the linear map, exactly as in the RNN with `da` (N, 4H):
#   `dh_prev = da W_hh`, `dx[t] = da W_ih`, `dW_ih += da^T x[t]`, `dW_hh += da^T h_prev`.
#
# Look at `dc_prev = dc * f`: from one cell state to the previous one the gradient is only
# multiplied by the forget gate. With f near 1 it passes many steps unchanged: the
# "constant error carousel" that lets an LSTM learn long-range dependencies.
#
# The reference backward, `lstm_backward` in `tinymm/kernels/reference/lstm.py`, runs the
# same lines inside the time loop.
#
# ## 3. Variable-length sequences
#
# Questions have different lengths; a batch pads them to T. With `lengths` (one per batch
# item), a padded step leaves that row's state untouched (h = h_prev, c = c_prev) and outputs
# 0 (as PyTorch's `pad_packed_sequence` does). In the backward a copied state copies its
# gradient: the gate gradient is 0 there and `dh_next`, `dc_next` pass straight through. So
# `h_n` is each sequence's state at its own last real token, and padding changes nothing:

# %%
layer = nn.LSTM(3, 4, batch_first=True, dtype=np.float64)
x = rng.standard_normal((2, 5, 3))  # (N, T, D): sequence 1 has only 2 real steps
_, (h_n, _) = layer(tensor(x), lengths=[5, 2])
_, (h_alone, _) = layer(tensor(x[1:2, :2]))  # the short sequence, unpadded
print("h_n of the padded sequence:", np.round(h_n.array[0, 1], 6))
print("same sequence, no padding: ", np.round(h_alone.array[0, 0], 6))
assert np.allclose(h_n.array[0, 1], h_alone.array[0, 0])

# %% [markdown]
# ## 4. Check it: gradcheck
#
# `tinymm.gradcheck` compares every gradient with central finite differences in float64
# (tutorial 01). Here on the RNN and on a two-layer LSTM with uneven lengths, for the input,
# the initial states and every weight.

# %%
T, N, D, H = 4, 2, 3, 3
x = rng.standard_normal((T, N, D))
h0, c0 = rng.standard_normal((N, H)), rng.standard_normal((N, H))
w_ih, w_hh = rng.standard_normal((H, D)), rng.standard_normal((H, H))
assert tinymm.gradcheck(lambda x, h0, w_ih, w_hh: F.rnn(x, w_ih, w_hh, hx=h0, lengths=[4, 2]),
                        [x, h0, w_ih, w_hh])

w_ih, w_hh = rng.standard_normal((4 * H, D)), rng.standard_normal((4 * H, H))
b_ih, b_hh = rng.standard_normal(4 * H), rng.standard_normal(4 * H)


def one_lstm_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
    out, (h_n, c_n) = F.lstm(x, w_ih, w_hh, b_ih, b_hh, hx=(h0, c0), lengths=[3, 4])
    return out, h_n, c_n


assert tinymm.gradcheck(one_lstm_layer, [x, h0, c0, w_ih, w_hh, b_ih, b_hh])
print("gradcheck passed: RNN and LSTM, every input and weight")

# %% [markdown]
# ## 5. Exercises: the cell, the loop through time, the embedding
#
# **04-lstm-cell.** In `tutorials/exercises/04-lstm-cell.py` write
# `lstm_cell_backward(dh, dc_next, i, f, g, o, c_prev, tanh_c)`. The arguments are the two
# incoming gradients (`dh` already includes `dout[t]`) and what the forward saved: the four
# gate activations, `c_prev` and `tanh(c)`, all (N, H). Return `(da, dc_prev)`: `da` (N, 4H)
# the gradients of the gate *pre-activations* in the order i, f, g, o, and `dc_prev` (N, H).
# The checker compares gate by gate and names every gate that is wrong.
#
# **04-lstm-bptt.** In `04-lstm-bptt.py` write the loop of section 2 around a cell backward:
# `lstm_bptt(dout, dh_n, dc_n, cache, cell_backward)` returns dx, dh0, dc0 and the three
# weight gradients, with `cache["lengths"]` marking padded steps as in section 3 (there the
# row's gradient passes straight through). Once your cell passes, the checker plugs *your*
# cell into *your* loop, and it checks dW_hh over T = 1, 4, 5 and 6 steps (one step cannot
# tell `+=` from `=`), one case with padded rows.
#
# **04-embedding-backward** is in section 6. Your status:

# %%
for exercise_id in ("04-lstm-cell", "04-lstm-bptt", "04-embedding-backward"):
    print(f"{exercise_id}: {check(exercise_id).status}")

# %% [markdown]
# What a mistake looks like. A classic: the forget gate's gradient uses the *new* cell state
# c instead of c_prev (`df = dc * c`). Only the forget gate is affected, and the checker says
# so, with the reason:

# %%
def wrong_forget_gate(dh, dc_next, i, f, g, o, c_prev, tanh_c):
    do = dh * tanh_c
    dc = dc_next + dh * o * (1 - tanh_c**2)
    c = f * c_prev + i * g
    di, dg, df = dc * g, dc * i, dc * c  # BUG: should be dc * c_prev
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2),
                         do * o * (1 - o)], axis=1)
    return da, dc * f


result = check("04-lstm-cell", fn=wrong_forget_gate)
print(result.message)
assert not result.ok and "gate f" in result.message and "gate i" not in result.message

# %% [markdown]
# Another: the gate blocks stacked as i, f, o, g (a formula sheet's order) instead of
# PyTorch's i, f, g, o. Two blocks swap places and the checker recognises the permutation:

# %%
def wrong_gate_order(dh, dc_next, i, f, g, o, c_prev, tanh_c):
    do = dh * tanh_c
    dc = dc_next + dh * o * (1 - tanh_c**2)
    di, dg, df = dc * g, dc * i, dc * c_prev
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o),
                         dg * (1 - g**2)], axis=1)  # BUG: i, f, o, g
    return da, dc * f


result = check("04-lstm-cell", fn=wrong_gate_order)
print(result.message)
assert not result.ok and "order i, f, o, g" in result.message

# %% [markdown]
# And in the loop: overwriting dW_hh at each step instead of accumulating it. With T = 1 it
# is right; with more steps only the last step the loop visited (t = 0) survives:

# %%
def overwrites_dw_hh(dout, dh_n, dc_n, cache, cell_backward):
    x, h, c, gates = cache["x"], cache["h"], cache["c"], cache["gates"]
    w_ih, w_hh = cache["weight_ih"], cache["weight_hh"]
    dx, dw_ih = np.zeros_like(x), np.zeros_like(w_ih)
    dbias = np.zeros(w_ih.shape[0])
    dh_next, dc_next = dh_n, dc_n
    for t in reversed(range(len(x))):
        i, f, g, o = np.split(gates[t], 4, axis=1)
        da, dc_next = cell_backward(dout[t] + dh_next, dc_next, i, f, g, o, c[t],
                                    np.tanh(c[t + 1]))
        dx[t] = da @ w_ih
        dw_ih += da.T @ x[t]
        dw_hh = da.T @ h[t]  # BUG: = instead of +=
        dbias += da.sum(axis=0)
        dh_next = da @ w_hh
    return dx, dh_next, dc_next, dw_ih, dw_hh, dbias


result = check("04-lstm-bptt", fn=overwrites_dw_hh)
print(result.message)
assert not result.ok and "ONE step's contribution" in result.message

# %% [markdown]
# ## 6. The embedding backward, and repeated tokens
#
# `Embedding(V, E)` looks rows up: `out[n, t] = weight[indices[n, t]]`. Each output row is a
# copy of one weight row, so the gradient of weight row v is the *sum* of `dout[n, t]` over
# every position that looked v up (`kernels/reference/embedding.py`). The trap: in NumPy,
# `dweight[indices] += dout` is buffered, and a token that appears twice keeps only one
# contribution; `np.add.at` adds every occurrence.

# %%
indices = np.array([[1, 4, 1]])  # token 1 appears twice
dout = np.ones((1, 3, 2))
buffered = np.zeros((5, 2))
buffered[indices.reshape(-1)] += dout.reshape(-1, 2)
accumulated = np.zeros((5, 2))
np.add.at(accumulated, indices.reshape(-1), dout.reshape(-1, 2))
print("row 1, buffered +=:", buffered[1], "  np.add.at:", accumulated[1])
layer = nn.Embedding(5, 2, dtype=np.float64)
layer(indices).backward(dout)
assert np.allclose(layer.weight.grad.array, accumulated)

# %% [markdown]
# **04-embedding-backward**: write `embedding_backward(indices, dout, num_embeddings)` in
# `tutorials/exercises/04-embedding-backward.py`. The checker's cases include a batch without
# repeated indices, where the buffered version is right, so it names the case that fails:

# %%
def buffered_backward(indices, dout, num_embeddings):
    dweight = np.zeros((num_embeddings, dout.shape[-1]))
    dweight[indices.reshape(-1)] += dout.reshape(-1, dout.shape[-1])  # BUG: buffered
    return dweight


result = check("04-embedding-backward", fn=buffered_backward)
print(result.message)
assert not result.ok and "np.add.at" in result.message

# %% [markdown]
# Your cell backward is the heart of `lstm_backward`: the time loop around it only adds
# `dout[t]` into `dh`, carries `dh_prev = da W_hh` and `dc_prev` one step back, and sums the
# weight gradients. The numba backend (`tinymm/kernels/numba_cpu/lstm.py`) runs the same
# equations as one fused pass per step, and hoists every matrix product that does not depend
# on the previous step out of the loop into one large GEMM.
#
# Next: `05_attention_fusion.py`.

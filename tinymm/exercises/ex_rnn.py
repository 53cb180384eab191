"""Exercises 04-lstm-cell, 04-lstm-bptt and 04-embedding-backward: cases, the mistakes the
checker recognises, hints, and a library of wrong answers written the way students write them.

Dimension letters: T time steps, N batch, D input features, H hidden units, V vocabulary,
E embedding size. Gate order i, f, g, o (PyTorch's), stacked in blocks of H.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinymm.exercises._core import Case, Exercise, Mistake, relative_error, wrong_answer
from tinymm.gradcheck import STRICT_RTOL

GATES = ("i (input gate)", "f (forget gate)", "g (candidate, tanh)", "o (output gate)")


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def reference_cell_backward(dh, dc_next, i, f, g, o, c_prev, tanh_c, *, order=(0, 1, 2, 3),
                            h_path=True, df_uses_c=False, dc_prev_has_f=True, tanh_bug=False,
                            sigmoid_bug=False):
    """The LSTM cell backward (tutorial 04, section 2); the keywords switch on known bugs."""
    do = dh * tanh_c
    tanh_prime = (1 - tanh_c) if tanh_bug else (1 - tanh_c**2)
    dc = dc_next + (dh * o * tanh_prime if h_path else 0)
    c = f * c_prev + i * g
    di, dg, df = dc * g, dc * i, dc * (c if df_uses_c else c_prev)

    def sp(s):  # sigmoid' from the saved output
        return s if sigmoid_bug else s * (1 - s)

    blocks = [di * sp(i), df * sp(f), dg * (1 - g**2), do * sp(o)]
    da = np.concatenate([blocks[k] for k in order], axis=1)  # (N, 4H)
    return da, dc * f if dc_prev_has_f else dc


# ------------------------------------------------------------------------ 04-lstm-cell
def _cell_cases() -> list[Case]:
    cases = []
    for name, (N, H), seed in (("N=3, H=4", (3, 4), 0), ("N=2, H=5, larger pre-activations",
                                                         (2, 5), 1)):
        r = np.random.default_rng(seed)
        a = r.standard_normal((N, 4 * H)) * (1 if seed == 0 else 2)
        c_prev, dh, dc_next = (r.standard_normal((N, H)) for _ in range(3))
        i, f = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H])
        g, o = np.tanh(a[:, 2 * H:3 * H]), _sigmoid(a[:, 3 * H:])
        tanh_c = np.tanh(f * c_prev + i * g)
        args = (dh, dc_next, i, f, g, o, c_prev, tanh_c)
        da, dc_prev = reference_cell_backward(*args)
        cases.append(Case(name, args, {"da": da, "dc_prev": dc_prev}))
    return cases


def _gate_report(yours: np.ndarray, expected: np.ndarray) -> str | None:
    """Which gate blocks of da are wrong, by name (the rest are listed as right)."""
    if yours.shape != expected.shape:
        return None
    H = expected.shape[1] // 4
    wrong, right = [], []
    for k, name in enumerate(GATES):
        block, want = yours[:, k * H:(k + 1) * H], expected[:, k * H:(k + 1) * H]
        bad = relative_error(block, want) > STRICT_RTOL
        if bad.any():
            n, j = (int(v) for v in np.argwhere(bad)[0])
            wrong.append(f"gate {name}: wrong in {int(bad.sum())} of {bad.size} elements, e.g. "
                         f"[n={n}, j={j}] yours {block[n, j]:.5f}, expected {want[n, j]:.5f}")
        else:
            right.append(name.split(" ")[0])
    if not wrong:
        return None
    return "\n".join(wrong) + (f"\nright blocks of da: {', '.join(right)}" if right else "")


def _cell_variant(**bug):
    return lambda c: dict(zip(("da", "dc_prev"), reference_cell_backward(*c.args, **bug)))


def _wrong_cell_gate_order(dh, dc_next, i, f, g, o, c_prev, tanh_c):
    do = dh * tanh_c
    dc = dc_next + dh * o * (1 - tanh_c**2)
    di, dg, df = dc * g, dc * i, dc * c_prev
    return np.concatenate([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o),
                           dg * (1 - g**2)], axis=1), dc * f  # i, f, o, g: Keras-like order


def _wrong_cell_df_uses_c(dh, dc_next, i, f, g, o, c_prev, tanh_c):
    do = dh * tanh_c
    dc = dc_next + dh * o * (1 - tanh_c**2)
    c = f * c_prev + i * g
    di, dg, df = dc * g, dc * i, dc * c  # the new cell state instead of c_prev
    return np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2),
                           do * o * (1 - o)], axis=1), dc * f


def _wrong_cell_no_h_path(dh, dc_next, i, f, g, o, c_prev, tanh_c):
    do = dh * tanh_c
    dc = dc_next  # the path through h = o * tanh(c) is missing
    di, dg, df = dc * g, dc * i, dc * c_prev
    return np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2),
                           do * o * (1 - o)], axis=1), dc * f


def _wrong_cell_tanh_prime(dh, dc_next, i, f, g, o, c_prev, tanh_c):
    do = dh * tanh_c
    dc = dc_next + dh * o * (1 - tanh_c)  # tanh' written as 1 - tanh instead of 1 - tanh^2
    di, dg, df = dc * g, dc * i, dc * c_prev
    return np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2),
                           do * o * (1 - o)], axis=1), dc * f


def _wrong_cell_sigmoid_prime(dh, dc_next, i, f, g, o, c_prev, tanh_c):
    do = dh * tanh_c
    dc = dc_next + dh * o * (1 - tanh_c**2)
    di, dg, df = dc * g, dc * i, dc * c_prev
    return np.concatenate([di * i, df * f, dg * (1 - g**2), do * o], axis=1), dc * f  # s' = s?


def _wrong_cell_dc_prev(dh, dc_next, i, f, g, o, c_prev, tanh_c):
    do = dh * tanh_c
    dc = dc_next + dh * o * (1 - tanh_c**2)
    di, dg, df = dc * g, dc * i, dc * c_prev
    return np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2),
                           do * o * (1 - o)], axis=1), dc  # the forget gate's factor is missing


LSTM_CELL = Exercise(
    id="04-lstm-cell", title="the backward of one LSTM cell, gate by gate",
    tutorial="04_rnn_lstm.py", entry="lstm_cell_backward", outputs=("da", "dc_prev"),
    axes={}, make_cases=_cell_cases, explain={"da": _gate_report},
    mistakes=[
        Mistake("gate order", _cell_variant(order=(0, 1, 3, 2)),
                "your blocks of da are in the order i, f, o, g; PyTorch (and tinymm) stack the "
                "gates i, f, g, o"),
        Mistake("df uses c", _cell_variant(df_uses_c=True),
                "df uses the new cell state c; the forget gate multiplies c_prev, so "
                "df = dc * c_prev"),
        Mistake("no h path", _cell_variant(h_path=False),
                "dc misses the path through h = o * tanh(c): dc = dc_next + dh * o * "
                "(1 - tanh(c)^2); the blocks that feed c (i, f, g) and dc_prev are all off"),
        Mistake("tanh'", _cell_variant(tanh_bug=True),
                "tanh'(c) is written as 1 - tanh(c); it is 1 - tanh(c)^2 (the path from h to c)"),
        Mistake("sigmoid'", _cell_variant(sigmoid_bug=True),
                "the sigmoid gates' derivative is s (1 - s), from the saved output s; you "
                "multiplied by s only"),
        Mistake("dc_prev without f", _cell_variant(dc_prev_has_f=False),
                "dc_prev = dc * f: c = f * c_prev + ..., so the gradient reaching c_prev is "
                "scaled by the forget gate"),
    ],
    hints=["Take the forward lines in reverse: h = o * tanh(c), then c = f * c_prev + i * g, "
           "then the four nonlinearities.",
           "dc = dc_next + dh * o * (1 - tanh_c**2); then di = dc * g, df = dc * c_prev, "
           "dg = dc * i, do = dh * tanh_c. Each goes through its own nonlinearity's derivative.",
           "da = concat([di*i*(1-i), df*f*(1-f), dg*(1-g**2), do*o*(1-o)], axis=1) and "
           "dc_prev = dc * f."],
)
LSTM_CELL.wrong_answers = {
    "gate order i, f, o, g": (_wrong_cell_gate_order, "order i, f, o, g"),
    "df uses c": (_wrong_cell_df_uses_c, "df uses the new cell state"),
    "path through h missing": (_wrong_cell_no_h_path, "misses the path through h"),
    "tanh' = 1 - tanh": (_wrong_cell_tanh_prime, "1 - tanh(c)^2"),
    "sigmoid' = s": (_wrong_cell_sigmoid_prime, "s (1 - s)"),
    "dc_prev without f": (_wrong_cell_dc_prev, "scaled by the forget gate"),
}


# ------------------------------------------------------------------------ 04-lstm-bptt
_CELL: list[Callable | None] = [None]  # the student's passing cell, or None: the reference


def use_cell(cell: Callable | None) -> None:
    """Plug the student's own (passing) cell backward into 04-lstm-bptt's checker."""
    _CELL[0] = cell


def lstm_forward(x, h0, c0, w_ih, w_hh, b, lengths=None):
    """LSTM over x (T, N, D): the cache the BPTT exercise starts from. A row n is padding
    from step lengths[n] on: its state is copied (h[t+1] = h[t], c[t+1] = c[t])."""
    T, N, _ = x.shape
    H = h0.shape[1]
    lengths = np.full(N, T) if lengths is None else np.asarray(lengths)
    h, c = np.zeros((T + 1, N, H)), np.zeros((T + 1, N, H))
    h[0], c[0] = h0, c0
    gates = np.zeros((T, N, 4 * H))
    for t in range(T):
        a = x[t] @ w_ih.T + h[t] @ w_hh.T + b  # (N, 4H)
        gates[t] = np.concatenate([_sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]),
                                   np.tanh(a[:, 2 * H:3 * H]), _sigmoid(a[:, 3 * H:])], axis=1)
        i, f, g, o = np.split(gates[t], 4, axis=1)
        real = (t < lengths)[:, None]  # (N, 1)
        c[t + 1] = np.where(real, f * c[t] + i * g, c[t])
        h[t + 1] = np.where(real, o * np.tanh(c[t + 1]), h[t])
    return {"x": x, "h": h, "c": c, "gates": gates, "weight_ih": w_ih, "weight_hh": w_hh,
            "lengths": lengths}


def reference_bptt(dout, dh_n, dc_n, cache, cell_backward, *, overwrite_dw=False,
                   carry_dh=True, carry_dc=True, h_index_offset=0, forward_order=False,
                   ignore_lengths=False):
    """Backpropagation through time; the keywords switch on the classic bugs."""
    x, h, c, gates = cache["x"], cache["h"], cache["c"], cache["gates"]
    w_ih, w_hh = cache["weight_ih"], cache["weight_hh"]
    T = x.shape[0]
    lengths = np.full(x.shape[1], T) if ignore_lengths else cache["lengths"]
    dx, dw_ih, dw_hh = np.zeros_like(x), np.zeros_like(w_ih), np.zeros_like(w_hh)
    db = np.zeros(w_ih.shape[0])
    dh_next, dc_next = dh_n.copy(), dc_n.copy()
    for t in (range(T) if forward_order else reversed(range(T))):
        real = (t < lengths)[:, None]  # (N, 1): padded rows copied their state, output 0
        i, f, g, o = np.split(gates[t], 4, axis=1)
        dh = dout[t] * real + (dh_next if carry_dh else 0)
        da, dc_prev = cell_backward(dh, dc_next, i, f, g, o, c[t], np.tanh(c[t + 1]))
        da = da * real
        dx[t] = da @ w_ih
        dw_ih += da.T @ x[t]
        step = da.T @ h[t + h_index_offset]  # h[t] is h_{t-1}, the state step t read
        dw_hh = step if overwrite_dw else dw_hh + step
        db += da.sum(axis=0)
        dc_prev = np.where(real, dc_prev, dc_next)  # a copied state copies its gradient
        dh_next = da @ w_hh + dh * ~real
        dc_next = dc_prev if carry_dc else np.zeros_like(dc_prev)
    return dx, dh_next, dc_next, dw_ih, dw_hh, db


BPTT_OUTPUTS = ("dx", "dh0", "dc0", "dweight_ih", "dweight_hh", "dbias")


def _bptt_cases() -> list[Case]:
    cases = []
    for name, (T, N, D, H), seed in (("T=4 steps, N=3, D=2, H=3", (4, 3, 2, 3), 10),
                                     ("T=1 step, N=2, D=3, H=2", (1, 2, 3, 2), 11),
                                     ("T=6 steps, N=1, D=2, H=4", (6, 1, 2, 4), 12),
                                     ("T=5 steps, N=3, lengths [5, 2, 3]", (5, 3, 2, 3), 13)):
        r = np.random.default_rng(seed)
        lengths = [5, 2, 3] if "lengths" in name else None
        cache = lstm_forward(r.standard_normal((T, N, D)), r.standard_normal((N, H)),
                             r.standard_normal((N, H)), r.standard_normal((4 * H, D)) * 0.7,
                             r.standard_normal((4 * H, H)) * 0.7, r.standard_normal(4 * H),
                             lengths)
        dout, dh_n, dc_n = (r.standard_normal(s) for s in ((T, N, H), (N, H), (N, H)))
        expected = reference_bptt(dout, dh_n, dc_n, cache, reference_cell_backward)
        cases.append(Case(name, (dout, dh_n, dc_n, cache), dict(zip(BPTT_OUTPUTS, expected)),
                          sizes={"T, the number of steps": T}))
    return cases


def _call_bptt(fn: Callable, case: Case):
    dout, dh_n, dc_n, cache = case.args
    cell = _CELL[0] or reference_cell_backward
    return fn(dout.copy(), dh_n.copy(), dc_n.copy(), {k: v.copy() for k, v in cache.items()},
              cell)


def _bptt_variant(**bug):
    return lambda c: dict(zip(BPTT_OUTPUTS, reference_bptt(*c.args, reference_cell_backward,
                                                           **bug)))


def _bptt_loop(dout, dh_n, dc_n, cache, cell_backward, bug):
    """A student's BPTT loop with one bug in it (used by the wrong answers below)."""
    x, h, c, gates = cache["x"], cache["h"], cache["c"], cache["gates"]
    w_ih, w_hh = cache["weight_ih"], cache["weight_hh"]
    dx, dw_ih, dw_hh = np.zeros_like(x), np.zeros_like(w_ih), np.zeros_like(w_hh)
    db = np.zeros(w_ih.shape[0])
    dh_next, dc_next = dh_n, dc_n
    steps = range(len(x)) if bug == "forward order" else range(len(x) - 1, -1, -1)
    for t in steps:
        i, f, g, o = np.split(gates[t], 4, axis=1)
        dh = dout[t] if bug == "no dh_next" else dout[t] + dh_next
        da, dc_prev = cell_backward(dh, dc_next, i, f, g, o, c[t], np.tanh(c[t + 1]))
        dx[t] = da @ w_ih
        dw_ih += da.T @ x[t]
        if bug == "overwrite":
            dw_hh = da.T @ h[t]
        else:
            dw_hh += da.T @ (h[t + 1] if bug == "h_t" else h[t])
        db += da.sum(axis=0)
        dh_next = da @ w_hh
        dc_next = np.zeros_like(dc_prev) if bug == "no dc carry" else dc_prev
    if bug == "mean over T":
        dw_hh = dw_hh / len(x)
    return dx, dh_next, dc_next, dw_ih, dw_hh, db


def _bptt_wrong(bug):
    return wrong_answer(_bptt_loop, bug, "bptt")


LSTM_BPTT = Exercise(
    id="04-lstm-bptt", title="backpropagation through time around your LSTM cell",
    tutorial="04_rnn_lstm.py", entry="lstm_bptt", outputs=BPTT_OUTPUTS,
    axes={"dweight_hh": ("row", "col")}, make_cases=_bptt_cases, call=_call_bptt,
    mistakes=[
        Mistake("overwrite dW_hh", _bptt_variant(overwrite_dw=True),
                "your dweight_hh holds ONE step's contribution (t = 0, the last step your loop "
                "visited): the same W_hh is used at every step, so accumulate, dW_hh += "
                "da_t^T h_{t-1}, over all T steps"),
        Mistake("no dh_next", _bptt_variant(carry_dh=False),
                "dh at step t must add the gradient coming back from step t+1: "
                "dh = dout[t] + dh_next"),
        Mistake("no dc carry", _bptt_variant(carry_dc=False),
                "dc_next is not carried from one step to the previous: pass the cell's dc_prev "
                "on as the next (earlier) step's dc_next"),
        Mistake("h_t", _bptt_variant(h_index_offset=1),
                "dW_hh uses h_t; step t multiplied W_hh by h_{t-1}, the state it READ: "
                "cache['h'][t], not cache['h'][t + 1]"),
        Mistake("lengths ignored", _bptt_variant(ignore_lengths=True),
                "your loop ignores cache['lengths']: from step lengths[n] on row n is padding "
                "(its state was copied and its output is 0), so there da = 0 and the "
                "gradients pass straight through: dh_next = dh, dc_next unchanged"),
        Mistake("forward order", _bptt_variant(forward_order=True),
                "your loop runs forward in time; BPTT walks backwards, from t = T-1 to 0, "
                "because step t needs the gradient from step t+1"),
    ],
    hints=["The loop runs t = T-1 down to 0. At each step two gradients come from the future: "
           "dh_next and dc_next.",
           "dh = dout[t] + dh_next; da, dc_prev = cell_backward(dh, dc_next, i, f, g, o, "
           "cache['c'][t], tanh(cache['c'][t + 1])); then dh_next = da @ W_hh.",
           "Shared weights accumulate: dW_ih += da.T @ x[t], dW_hh += da.T @ cache['h'][t] "
           "(h_{t-1}), dbias += da.sum(0), dx[t] = da @ W_ih. Padded rows (t >= lengths[n]): "
           "mask dout[t] and da with real = (t < lengths)[:, None], and pass dh and dc_next "
           "through. Return dh_next and dc_next as dh0 and dc0."],
    factor_questions={"(T, the number of steps)": "did you average over time? The loss sums "
                      "the steps' contributions, so dW_hh sums over T"},
)
LSTM_BPTT.wrong_answers = {
    "dW_hh overwritten each step": (_bptt_wrong("overwrite"), "ONE step's contribution"),
    "dh_next not added": (_bptt_wrong("no dh_next"), "dh = dout[t] + dh_next"),
    "dc not carried": (_bptt_wrong("no dc carry"), "dc_next is not carried"),
    "h_t instead of h_{t-1}": (_bptt_wrong("h_t"), "the state it READ"),
    "loop forward in time": (_bptt_wrong("forward order"), "walks backwards"),
    "dW_hh averaged over T": (_bptt_wrong("mean over T"), "did you average over time?"),
    "lengths ignored": (_bptt_wrong("ignores lengths"), "Wrong in case 'T=5 steps, N=3, "
                        "lengths [5, 2, 3]' (right in: T=4"),
}


# --------------------------------------------------------------- 04-embedding-backward
def _embedding_cases() -> list[Case]:
    r = np.random.default_rng(40)
    cases = []
    for name, indices, V in (("no repeated index", np.array([[0, 3, 5], [2, 6, 1]]), 7),
                             ("repeated indices", np.array([[1, 4, 1, 0], [4, 4, 2, 1]]), 5),
                             ("one token 5 times", np.array([[3, 3, 3], [3, 3, 0]]), 4)):
        dout = r.standard_normal(indices.shape + (3,))
        dweight = np.zeros((V, 3))
        np.add.at(dweight, indices.reshape(-1), dout.reshape(-1, 3))
        cases.append(Case(name, (indices, dout, V), {"dweight": dweight}))
    return cases


def _embedding_buffered(case: Case):
    indices, dout, V = case.args
    dweight = np.zeros((V, dout.shape[-1]))
    dweight[indices.reshape(-1)] += dout.reshape(-1, dout.shape[-1])  # last write wins
    return {"dweight": dweight}


def _embedding_mean(case: Case):
    indices, dout, V = case.args
    counts = np.bincount(indices.reshape(-1), minlength=V)[:, None]
    return {"dweight": case.expected["dweight"] / np.maximum(counts, 1)}


def _wrong_emb_buffered(indices, dout, num_embeddings):
    dweight = np.zeros((num_embeddings, dout.shape[-1]))
    dweight[indices.reshape(-1)] += dout.reshape(-1, dout.shape[-1])  # buffered fancy +=
    return dweight


def _wrong_emb_assign(indices, dout, num_embeddings):
    dweight = np.zeros((num_embeddings, dout.shape[-1]))
    for n, t in np.ndindex(indices.shape):
        dweight[indices[n, t]] = dout[n, t]  # assignment: the last occurrence wins
    return dweight


def _wrong_emb_mean(indices, dout, num_embeddings):
    dweight = np.zeros((num_embeddings, dout.shape[-1]))
    np.add.at(dweight, indices.reshape(-1), dout.reshape(-1, dout.shape[-1]))
    counts = np.bincount(indices.reshape(-1), minlength=num_embeddings)
    return dweight / np.maximum(counts, 1)[:, None]  # averaged over a token's occurrences


def _wrong_emb_transposed(indices, dout, num_embeddings):
    dweight = np.zeros((num_embeddings, dout.shape[-1]))
    np.add.at(dweight, indices.reshape(-1), dout.reshape(-1, dout.shape[-1]))
    return dweight.T  # (E, V)


def _wrong_emb_shifted(indices, dout, num_embeddings):
    dweight = np.zeros((num_embeddings, dout.shape[-1]))
    np.add.at(dweight, (indices.reshape(-1) + 1) % num_embeddings,
              dout.reshape(-1, dout.shape[-1]))  # 1-based token ids
    return dweight


def _wrong_emb_onehot_transposed(indices, dout, num_embeddings):
    onehot = np.eye(num_embeddings)[indices.reshape(-1)]  # (N*T, V)
    return (onehot.T @ dout.reshape(-1, dout.shape[-1])) * 0.5  # a stray factor 1/2


EMBEDDING = Exercise(
    id="04-embedding-backward", title="the backward of an embedding lookup (repeated indices)",
    tutorial="04_rnn_lstm.py", entry="embedding_backward", outputs=("dweight",),
    axes={"dweight": ("v", "e")}, make_cases=_embedding_cases,
    mistakes=[
        Mistake("buffered", _embedding_buffered,
                "a repeated index kept only ONE of its contributions: dweight[indices] += dout "
                "(or =) is buffered in NumPy; use np.add.at(dweight, indices.ravel(), "
                "dout.reshape(-1, E)) so every occurrence adds"),
        Mistake("mean", _embedding_mean,
                "you averaged the occurrences of a repeated token; each occurrence contributes "
                "its own gradient, and they add"),
        Mistake("shifted", lambda c: {"dweight": np.roll(c.expected["dweight"], 1, axis=0)},
                "your rows are shifted by one: token ids start at 0 (row v of weight is token v)"),
    ],
    hints=["out[n, t] = weight[indices[n, t]]: each output row is a copy of one weight row.",
           "So dweight[v] is the SUM of dout[n, t] over every position with indices[n, t] == v. "
           "What happens when v appears twice?",
           "dweight = np.zeros((V, E)); np.add.at(dweight, indices.reshape(-1), "
           "dout.reshape(-1, E))."],
    factor_questions={"divided by 2": "a stray factor"},
)
EMBEDDING.wrong_answers = {
    "buffered fancy +=": (_wrong_emb_buffered, "np.add.at"),
    "assignment in a loop": (_wrong_emb_assign, "ONE of its contributions"),
    "mean over occurrences": (_wrong_emb_mean, "averaged the occurrences"),
    "transposed": (_wrong_emb_transposed, "transposed"),
    "1-based ids": (_wrong_emb_shifted, "shifted by one"),
    "factor 1/2": (_wrong_emb_onehot_transposed, "divided by 2"),
}

EXERCISES = [LSTM_CELL, LSTM_BPTT, EMBEDDING]

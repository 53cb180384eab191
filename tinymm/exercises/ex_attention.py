"""Exercises 05-attention-softmax and 05-attention-dqdkdv: cases (masked keys, a fully masked
row, square and non-square score matrices), the mistakes the checker recognises, hints, and a
library of wrong answers written the way students write them.

Dimension letters: N batch, h heads, Lq queries, Lk keys, d query/key features, e value
features. Scores S = q k^T / sqrt(d), P = softmax(S) over the keys (the last axis).
"""

from __future__ import annotations

import numpy as np

from tinymm.exercises._core import Case, Exercise, Mistake, wrong_answer


def _softmax(S):
    m = S.max(axis=-1, keepdims=True)
    m = np.where(np.isneginf(m), 0.0, m)  # a fully masked row: exp(-inf) = 0 everywhere
    E = np.exp(S - m)
    Z = E.sum(axis=-1, keepdims=True)
    return E / np.where(Z == 0, 1.0, Z)


def softmax_jvp(P, dP):
    """dS = P * (dP - rowsum(dP * P)) (tutorial 05, section 2)."""
    return P * (dP - (dP * P).sum(axis=-1, keepdims=True))


# --------------------------------------------------------------- 05-attention-softmax
def _softmax_cases() -> list[Case]:
    r = np.random.default_rng(0)
    S = r.standard_normal((2, 3, 4, 5))  # (N, h, Lq, Lk)
    S[0, 0, 1, 3:] = -np.inf  # two masked keys
    S[1, 2, 2, :] = -np.inf  # a fully masked row
    plain = r.standard_normal((1, 2, 3, 3)) * 2  # square (Lq = Lk): axis mix-ups keep shapes
    cases = []
    for name, scores in (("masked keys and a fully masked row, (2, 3, 4, 5)", S),
                         ("no mask, square scores (1, 2, 3, 3)", plain)):
        P, dP = _softmax(scores), r.standard_normal(scores.shape)
        cases.append(Case(name, (P, dP), {"dS": softmax_jvp(P, dP)}))
    return cases


def _wrong_sm_diagonal(P, dP):
    return P * dP  # the diagonal of the Jacobian only


def _wrong_sm_axis(P, dP):
    return P * (dP - (dP * P).sum(axis=-2, keepdims=True))  # row sum over the queries


def _wrong_sm_unweighted(P, dP):
    return P * (dP - dP.sum(axis=-1, keepdims=True))  # rowsum(dP) instead of rowsum(dP * P)


def _wrong_sm_sigmoid_like(P, dP):
    return P * (1 - P) * dP  # the elementwise derivative, as if softmax were a sigmoid


def _wrong_sm_sign(P, dP):
    return P * ((dP * P).sum(axis=-1, keepdims=True) - dP)


def _wrong_sm_no_keepdims(P, dP):
    return P * (dP - (dP * P).sum(axis=-1))  # (N, h, Lq) cannot broadcast against (.., Lk)


SOFTMAX = Exercise(
    id="05-attention-softmax", title="the softmax backward inside attention",
    tutorial="05_attention_fusion.py", entry="softmax_backward", outputs=("dS",),
    axes={"dS": ("n", "head", "query", "key")}, make_cases=_softmax_cases,
    mistakes=[
        Mistake("diagonal only", lambda c: {"dS": c.args[0] * c.args[1]},
                "you returned P * dP, the diagonal of the Jacobian only. Every p_l also lowers "
                "every other p_j (they sum to 1): subtract rowsum(dP * P), i.e. "
                "(dP * P).sum(axis=-1, keepdims=True)"),
        Mistake("axis", lambda c: {"dS": _wrong_sm_axis(*c.args)},
                "your row sum runs over the queries (axis -2); each row of P is a distribution "
                "over the KEYS, so the rowsum runs over the last axis"),
        Mistake("unweighted", lambda c: {"dS": _wrong_sm_unweighted(*c.args)},
                "you subtracted rowsum(dP); the sum must be weighted by P: rowsum(dP * P) = "
                "<dP, p>, the expected upstream gradient under the row's distribution"),
        Mistake("sigmoid-like", lambda c: {"dS": _wrong_sm_sigmoid_like(*c.args)},
                "P * (1 - P) * dP keeps the Jacobian's diagonal only (p_l (1 - p_l)); the "
                "off-diagonal terms -p_j p_l couple the keys of a row"),
    ],
    hints=["Write one row: p = softmax(s). Compute dp_j / ds_l for j == l and j != l.",
           "J = diag(p) - p p^T. ds = J^T dp; expand it for one element ds_l.",
           "ds_l = p_l (dp_l - sum_j dp_j p_j): dS = P * (dP - (dP * P).sum(axis=-1, "
           "keepdims=True))."],
)
SOFTMAX.wrong_answers = {
    "diagonal only": (_wrong_sm_diagonal, "rowsum"),
    "row sum over queries": (_wrong_sm_axis, "over the queries"),
    "unweighted row sum": (_wrong_sm_unweighted, "weighted by P"),
    "sigmoid-like": (_wrong_sm_sigmoid_like, "off-diagonal"),
    "sign flipped": (_wrong_sm_sign, "sign flipped"),
    "no keepdims": (_wrong_sm_no_keepdims, "raised ValueError"),
}


# ---------------------------------------------------------------- 05-attention-dqdkdv
def _attention_grads(q, k, v, P, dout, *, scale=None, dv_transposed=False, dk_transposed=False,
                     rowsum=True):
    d = q.shape[-1]
    s = 1 / np.sqrt(d) if scale is None else scale
    dv = (P @ dout) if dv_transposed else P.swapaxes(-1, -2) @ dout  # (N, Lk, e)
    dP = dout @ v.swapaxes(-1, -2)  # (N, Lq, Lk)
    dS = softmax_jvp(P, dP) if rowsum else P * dP
    dq = dS @ k * s  # (N, Lq, d)
    dk = (dS @ q if dk_transposed else dS.swapaxes(-1, -2) @ q) * s  # (N, Lk, d)
    return {"dq": dq, "dk": dk, "dv": dv}


def _dqdkdv_cases() -> list[Case]:
    r = np.random.default_rng(5)
    cases = []
    for name, (N, Lq, Lk, d, e) in (("square scores: N=1, Lq=Lk=4, d=9, e=4", (1, 4, 4, 9, 4)),
                                    ("N=2, Lq=3, Lk=4, d=5, e=2", (2, 3, 4, 5, 2))):
        q, k = r.standard_normal((N, Lq, d)), r.standard_normal((N, Lk, d))
        v, dout = r.standard_normal((N, Lk, e)), r.standard_normal((N, Lq, e))
        P = _softmax(q @ k.swapaxes(-1, -2) / np.sqrt(d))
        cases.append(Case(name, (q, k, v, P, dout), _attention_grads(q, k, v, P, dout),
                          sizes={"sqrt(d)": np.sqrt(d)}))
    return cases


def _variant(**bug):
    return lambda c: _attention_grads(*c.args, **bug)


def _student_attention(q, k, v, P, dout, bug=""):
    d = q.shape[-1]
    scale = {"no scale": 1.0, "1/d": 1.0 / d}.get(bug, 1.0 / np.sqrt(d))
    dv = P @ dout if bug == "dv" else np.transpose(P, (0, 2, 1)) @ dout
    dP = dout @ np.transpose(v, (0, 2, 1))
    dS = P * dP if bug == "no rowsum" else P * (dP - np.sum(dP * P, axis=-1, keepdims=True))
    dq = dS @ k * scale
    dk = (dS @ q if bug == "dk" else np.transpose(dS, (0, 2, 1)) @ q) * scale
    if bug == "sign":
        dk = -dk
    return dq, dk, dv


def _attention_wrong(bug):
    return wrong_answer(_student_attention, bug, "attention")


DQDKDV = Exercise(
    id="05-attention-dqdkdv", title="the gradients of attention for q, k and v, with the scale",
    tutorial="05_attention_fusion.py", entry="attention_backward", outputs=("dq", "dk", "dv"),
    axes={"dq": ("n", "query", "feature"), "dk": ("n", "key", "feature"),
          "dv": ("n", "key", "feature")}, make_cases=_dqdkdv_cases,
    mistakes=[
        Mistake("no rowsum", _variant(rowsum=False),
                "the softmax backward inside is P * dP: the rowsum(dP * P) term is missing, so "
                "dq and dk are wrong while dv is right"),
        Mistake("dv = P dout", _variant(dv_transposed=True),
                "dv = P @ dout; value j was used with weight P[i, j] by every query i, so "
                "dv = P^T @ dout"),
        Mistake("dk = dS q", _variant(dk_transposed=True),
                "dk = dS @ q; S[i, j] = q_i . k_j / sqrt(d) puts the keys on the columns, so "
                "dk = dS^T @ q / sqrt(d)"),
    ],
    hints=["Work backwards: out = P v, P = softmax(S), S = q k^T / sqrt(d). dv and dP first.",
           "dv = P^T dout, dP = dout v^T, dS from the softmax backward (exercise "
           "05-attention-softmax); the scale 1/sqrt(d) multiplies S, so it multiplies dq and dk.",
           "dq = dS @ k / sqrt(d), dk = dS^T @ q / sqrt(d). Why sqrt(d)? For unit-variance q and "
           "k, q . k has variance d; dividing by sqrt(d) keeps the scores' variance 1 so the "
           "softmax does not saturate as d grows."],
    factor_questions={
        "multiplied by": "did you leave out the 1/sqrt(d) scale? S = q k^T / sqrt(d), so dq "
                         "and dk carry the same factor",
        "divided by": "did you scale by 1/d? The scale is 1/sqrt(d), applied once"},
)
DQDKDV.wrong_answers = {
    "scale missing": (_attention_wrong("no scale"), "leave out the 1/sqrt(d) scale"),
    "scale 1/d": (_attention_wrong("1/d"), "did you scale by 1/d?"),
    "dv = P dout": (_attention_wrong("dv"), "dv = P^T @ dout"),
    "dk = dS q": (_attention_wrong("dk"), "dk = dS^T @ q"),
    "softmax rowsum missing": (_attention_wrong("no rowsum"), "rowsum(dP * P) term is missing"),
    "dk sign flipped": (_attention_wrong("sign"), "sign flipped"),
}

EXERCISES = [SOFTMAX, DQDKDV]

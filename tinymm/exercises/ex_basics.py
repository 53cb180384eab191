"""Exercises 01-softplus, 02-dense-backward, 02-softmax-ce and 06-adam-step: their cases
(expected values from tinymm's reference kernels and optimizer), the mistakes the checker
recognises, the hints, and a library of wrong answers written the way students write them.

Dimension letters: N rows (batch), D_in / D_out features, C classes.
"""

from __future__ import annotations

import numpy as np

from tinymm.exercises._core import Case, Exercise, Mistake
from tinymm.kernels.reference import cross_entropy as ref_ce
from tinymm.kernels.reference import linear as ref_linear

BATCH = "N, the batch size"
BATCH_QUESTION = ("did you average over the batch? The loss sums the rows' contributions, "
                  "so the parameter gradients sum over the batch too")


def _sigmoid(x):
    return np.exp(-np.logaddexp(0, -x))  # 1 / (1 + exp(-x)), stable for any x


# ------------------------------------------------------------------------- 01-softplus
def _softplus_cases() -> list[Case]:
    r = np.random.default_rng(1)
    cases = []
    for name, x in (("x ~ 2 N(0, 1), shape (3, 4)", r.standard_normal((3, 4)) * 2),
                    ("large |x| (-800 to 800)", np.array([-800.0, -40.0, -3.0, 3.0, 40.0, 800.0]))):
        grad = r.standard_normal(x.shape)
        cases.append(Case(name, (x, grad), {"dx": grad * _sigmoid(x)}))
    return cases


def _wrong_softplus_no_chain(x, grad):
    return 1 / (1 + np.exp(-x))  # d softplus / dx, but the upstream gradient is dropped


def _wrong_softplus_sign(x, grad):
    return grad / (1 + np.exp(x))  # sigmoid(-x): the sign in the exponent flipped


def _wrong_softplus_forward(x, grad):
    return grad * np.log1p(np.exp(x))  # the function itself, not its derivative


def _wrong_softplus_exp_only(x, grad):
    return grad * np.exp(x)  # differentiated the inner exp, forgot d log(u) = u' / u


def _wrong_softplus_stray_term(x, grad):
    s = 1 / (1 + np.exp(-x))
    return grad * (s + 1e-3 * s * (1 - s))  # a stray term: max relative error under 1e-3


def _wrong_softplus_overflow(x, grad):
    return grad * np.exp(x) / (1 + np.exp(x))  # right formula, but inf / inf for large x


SOFTPLUS = Exercise(
    id="01-softplus", title="the backward of softplus(x) = log(1 + exp(x))",
    tutorial="01_autograd_and_gradcheck.py", entry="softplus_backward", outputs=("dx",),
    axes={}, make_cases=_softplus_cases,
    mistakes=[
        Mistake("no chain rule", lambda c: {"dx": _sigmoid(c.args[0])},
                "you returned d softplus/dx itself: multiply by the upstream gradient grad "
                "(the chain rule: dL/dx = dL/dy * dy/dx)"),
        Mistake("sigmoid(-x)", lambda c: {"dx": c.args[1] * _sigmoid(-c.args[0])},
                "you returned sigmoid(-x) * grad = (1 - sigmoid(x)) * grad: the sign in the "
                "exponent is flipped; d/dx log(1 + e^x) = e^x / (1 + e^x) = 1 / (1 + e^-x)"),
        Mistake("returned the forward",
                lambda c: {"dx": c.args[1] * np.logaddexp(0, c.args[0])},
                "you returned softplus(x) * grad: the function itself, not its derivative"),
        Mistake("exp only", lambda c: {"dx": c.args[1] * np.exp(c.args[0])},
                "you returned exp(x) * grad: the derivative of the inner exp only; the log "
                "contributes d log(u) = du / u, so divide by 1 + exp(x)"),
    ],
    hints=["softplus(x) = log(1 + exp(x)). Differentiate the log first, then its argument.",
           "d/dx log(1 + e^x) = e^x / (1 + e^x). Which function from section 2 is that?",
           "It is sigmoid(x) = 1 / (1 + exp(-x)); return grad * sigmoid(x), written so that "
           "exp never overflows (1 / (1 + np.exp(-x)) is fine: exp(800) = inf gives 0)."],
    nonfinite_hint="exp(x) overflowed to inf for large x (inf / inf = NaN): write the "
                   "derivative as 1 / (1 + exp(-x)), which only ever divides by a large number",
)
SOFTPLUS.wrong_answers = {
    "no chain rule": (_wrong_softplus_no_chain, "multiply by the upstream gradient"),
    "sign flipped": (_wrong_softplus_sign, "sign in the exponent is flipped"),
    "forward instead of derivative": (_wrong_softplus_forward, "the function itself"),
    "exp only": (_wrong_softplus_exp_only, "derivative of the inner exp only"),
    "stray term": (_wrong_softplus_stray_term, "small but real error"),
    "overflow": (_wrong_softplus_overflow, "overflowed"),
}


# -------------------------------------------------------------------- 02-dense-backward
def _dense_cases() -> list[Case]:
    r = np.random.default_rng(2)
    cases = []
    for name, (N, D_in, D_out) in (("square weight: N=3, D_in=D_out=6", (3, 6, 6)),
                                   ("N=4, D_in=3, D_out=5", (4, 3, 5))):
        x, w = r.standard_normal((N, D_in)), r.standard_normal((D_out, D_in))
        dout = r.standard_normal((N, D_out))
        _, cache = ref_linear.linear_forward(x, w, np.zeros(D_out))
        dx, dw, db = ref_linear.linear_backward(dout, cache)
        cases.append(Case(name, (dout, x, w), {"dx": dx, "dweight": dw, "dbias": db},
                          sizes={BATCH: N}))
    return cases


def _dense_right(dout, x, w):
    return dout @ w, dout.T @ x, dout.sum(axis=0)


def _wrong_dense_transposed_dw(dout, x, w):
    return dout @ w, x.T @ dout, dout.sum(axis=0)  # (D_in, D_out): the layout of W^T


def _wrong_dense_mean(dout, x, w):
    return dout @ w, dout.T @ x / len(x), dout.mean(axis=0)  # averaged over the batch


def _wrong_dense_db_axis(dout, x, w):
    return dout @ w, dout.T @ x, dout.sum(axis=1)  # summed over the features, not the batch


def _wrong_dense_dx_transpose(dout, x, w):
    return dout @ w.T, dout.T @ x, dout.sum(axis=0)  # dout @ W^T: runs only for square W


def _wrong_dense_sign(dout, x, w):
    return dout @ w, -(dout.T @ x), dout.sum(axis=0)  # a descent step's sign in the gradient


def _wrong_dense_no_bias_sum(dout, x, w):
    return dout @ w, dout.T @ x, dout  # dbias left per row


DENSE = Exercise(
    id="02-dense-backward", title="the backward of a dense layer y = x W^T + b",
    tutorial="02_dense_mlp_softmax.py", entry="dense_backward",
    outputs=("dx", "dweight", "dbias"), axes={"dx": ("n", "i"), "dweight": ("o", "i")},
    make_cases=_dense_cases,
    mistakes=[
        Mistake("x^T dout", lambda c: {"dweight": c.args[1].T @ c.args[0]},
                "you computed x^T @ dout, shaped (D_in, D_out); PyTorch's weight is (D_out, D_in),"
                " so dweight = dout^T @ x"),
        Mistake("db over features", lambda c: {"dbias": c.args[0].sum(axis=1)},
                "dbias summed over the features (axis 1); the bias is added to every row, so "
                "sum over the batch: dout.sum(axis=0)"),
        Mistake("db per row", lambda c: {"dbias": c.args[0]},
                "dbias must be summed over the batch (the same bias was added to every row)"),
        Mistake("dx = dout W^T", lambda c: {"dx": c.args[0] @ c.args[2].T},
                "dx = dout @ W^T uses the transpose; out = x @ W^T, so dx = dout @ W"),
    ],
    hints=["Write out[n, o] = sum_i x[n, i] W[o, i] + b[o] and differentiate one element.",
           "dL/dW[o, i] = sum_n dout[n, o] x[n, i]: a sum over the batch. Which matrix product "
           "is that? Check the shapes: dweight must be (D_out, D_in) like W.",
           "dx = dout @ W, dweight = dout.T @ x, dbias = dout.sum(axis=0)."],
    factor_questions={f"({BATCH})": BATCH_QUESTION},
)
DENSE.wrong_answers = {
    "dW transposed": (_wrong_dense_transposed_dw, "(D_in, D_out)"),
    "averaged over the batch": (_wrong_dense_mean, "did you average over the batch?"),
    "dbias over the wrong axis": (_wrong_dense_db_axis, "summed over the features"),
    "dx with W^T": (_wrong_dense_dx_transpose, "dx = dout @ W^T"),
    "sign flipped": (_wrong_dense_sign, "sign flipped"),
    "dbias not summed": (_wrong_dense_no_bias_sum, "summed over the batch"),
}


# ------------------------------------------------------------------------- 02-softmax-ce
def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _ce_cases() -> list[Case]:
    r = np.random.default_rng(3)
    cases = []
    for name, (N, C, scale) in (("N=4 rows, C=5 classes", (4, 5, 1.0)),
                                ("large logits (|z| ~ 1000), N=6, C=3", (6, 3, 1000.0))):
        logits = r.standard_normal((N, C)) * scale
        targets = r.integers(0, C, N)
        _, cache = ref_ce.cross_entropy_forward(logits, targets)
        dlogits, _ = ref_ce.cross_entropy_backward(np.asarray(1.0), cache)
        onehot = np.eye(C)[targets]
        cases.append(Case(name, (logits, targets), {"dlogits": dlogits},
                          sizes={"N, the number of rows": N}, extra={"onehot": onehot}))
    return cases


def _wrong_ce_sum(logits, targets):
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(p)), targets] -= 1
    return p  # the gradient of the summed loss: the mean's 1/N is missing


def _wrong_ce_sign(logits, targets):
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return (np.eye(logits.shape[1])[targets] - p) / len(p)  # onehot - p


def _wrong_ce_axis0(logits, targets):
    p = np.exp(logits - logits.max(0, keepdims=True))
    p /= p.sum(0, keepdims=True)  # softmax over the rows
    return (p - np.eye(logits.shape[1])[targets]) / len(p)


def _wrong_ce_no_onehot(logits, targets):
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True) / len(p)  # forgot to subtract the target


def _wrong_ce_log_only(logits, targets):
    return -np.eye(logits.shape[1])[targets] / len(logits)  # through the gather only


def _wrong_ce_unstable(logits, targets):
    p = np.exp(logits)  # no max subtracted: exp(1000) = inf
    p /= p.sum(1, keepdims=True)
    return (p - np.eye(logits.shape[1])[targets]) / len(p)


CE = Exercise(
    id="02-softmax-ce", title="the fused softmax + cross-entropy gradient (mean over rows)",
    tutorial="02_dense_mlp_softmax.py", entry="softmax_cross_entropy_backward",
    outputs=("dlogits",), axes={"dlogits": ("n", "c")}, make_cases=_ce_cases,
    mistakes=[
        Mistake("onehot - p", lambda c: {"dlogits": (c.extra["onehot"] - _softmax(c.args[0]))
                                         / len(c.args[0])},
                "you computed (onehot - p) / N: the sign is flipped; the loss falls as the "
                "target's logit rises, so dlogits = (p - onehot) / N"),
        Mistake("softmax over rows", lambda c: {"dlogits": (_softmax(c.args[0], 0)
                                                            - c.extra["onehot"]) / len(c.args[0])},
                "your softmax runs over the rows (axis 0); each row is a distribution over "
                "classes: normalise along axis 1"),
        Mistake("no onehot", lambda c: {"dlogits": _softmax(c.args[0]) / len(c.args[0])},
                "you returned p / N: the target's -1 is missing (the loss is -log p[target], "
                "so the target class gets p - 1)"),
        Mistake("gather only", lambda c: {"dlogits": -c.extra["onehot"] / len(c.args[0])},
                "you differentiated -z[target] only: log-sum-exp of the logits contributes "
                "+p to every class"),
    ],
    hints=["loss_n = -log softmax(z_n)[t_n] = -z_n[t_n] + log sum_j exp(z_n[j]). Differentiate "
           "both terms with respect to z_n[c].",
           "The log-sum-exp gives p[c], the first term -[c == t]. The loss is a mean over N rows.",
           "dlogits = (softmax(z) - onehot(t)) / N, with the softmax computed after subtracting "
           "each row's max."],
    factor_questions={"(N, the number of rows)": "the loss is the MEAN over rows: divide by N"},
    nonfinite_hint="exp overflowed (exp(1000) = inf): subtract each row's max before exp",
)
CE.wrong_answers = {
    "sum instead of mean": (_wrong_ce_sum, "multiplied by 4 (N, the number of rows)"),
    "sign flipped": (_wrong_ce_sign, "sign is flipped"),
    "softmax over rows": (_wrong_ce_axis0, "axis 0"),
    "target not subtracted": (_wrong_ce_no_onehot, "target's -1 is missing"),
    "gather only": (_wrong_ce_log_only, "log-sum-exp"),
    "overflow": (_wrong_ce_unstable, "subtract each row's max"),
}


# -------------------------------------------------------------------------- 06-adam-step
def _adam_reference(param, grad, m, v, t, lr, betas, eps):
    """One step of tinymm.optim.Adam (PyTorch's update), from state (m, v) after t - 1 steps."""
    from tinymm import optim
    from tinymm.nn import Parameter
    from tinymm.tensor import Tensor

    p = Parameter(param.copy())
    p.grad = Tensor._make(grad.copy())
    opt = optim.Adam([p], lr=lr, betas=betas, eps=eps)
    opt.state[p] = {"step": t - 1, "exp_avg": m.copy(), "exp_avg_sq": v.copy()}
    opt.step()
    state = opt.state[p]
    return p.array.copy(), state["exp_avg"].copy(), state["exp_avg_sq"].copy()


def _adam_cases() -> list[Case]:
    r = np.random.default_rng(6)
    cases = []
    for name, (t, lr, fresh) in (("first step, t=1, m = v = 0", (1, 1e-3, True)),
                                 ("step t=5 with m, v from earlier steps", (5, 1e-3, False)),
                                 ("t=3, lr=0.1, betas (0.8, 0.99), eps=0.01", (3, 0.1, False))):
        betas = (0.9, 0.999) if lr < 0.1 else (0.8, 0.99)
        param, grad = r.standard_normal((3, 4)), r.standard_normal((3, 4))
        m = np.zeros((3, 4)) if fresh else r.standard_normal((3, 4)) * 0.1
        v = np.zeros((3, 4)) if fresh else r.random((3, 4)) * 0.1
        eps = 1e-8 if lr < 0.1 else 1e-2
        p1, m1, v1 = _adam_reference(param, grad, m, v, t, lr, betas, eps)
        cases.append(Case(name, (param, grad, m, v, t, lr, betas, eps),
                          {"param": p1, "m": m1, "v": v1}))
    return cases


def _adam_variant(case, bias_correction=True, eps_inside=False, t_offset=0, ascent=False,
                  swapped=False, abs_grad=False):
    param, grad, m, v, t, lr, (b1, b2), eps = case.args
    m1 = (1 - b1) * m + b1 * grad if swapped else b1 * m + (1 - b1) * grad
    v1 = b2 * v + (1 - b2) * (np.abs(grad) if abs_grad else grad * grad)
    tc = t + t_offset
    mh = m1 / (1 - b1**tc) if bias_correction else m1
    vh = v1 / (1 - b2**tc) if bias_correction else v1
    denom = np.sqrt(vh + eps) if eps_inside else np.sqrt(vh) + eps
    return {"param": param + (1 if ascent else -1) * lr * mh / denom, "m": m1, "v": v1}


def _wrong_adam_no_correction(param, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    b1, b2 = betas
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad**2
    return param - lr * m / (np.sqrt(v) + eps), m, v  # no bias correction


def _wrong_adam_t_from_zero(param, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    b1, b2 = betas
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad**2
    t = t - 1  # counts steps from 0
    m_hat = m / (1 - b1 ** t) if t else m
    v_hat = v / (1 - b2 ** t) if t else v
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def _wrong_adam_grad_not_squared(param, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    b1, b2 = betas
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * np.abs(grad)  # |g| instead of g^2
    m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def _wrong_adam_swapped_betas(param, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    b1, b2 = betas
    m = (1 - b1) * m + b1 * grad  # the weights of the old average and the new gradient swapped
    v = b2 * v + (1 - b2) * grad**2
    m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def _wrong_adam_ascent(param, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    b1, b2 = betas
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad**2
    m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
    return param + lr * m_hat / (np.sqrt(v_hat) + eps), m, v  # climbs the loss


def _wrong_adam_eps_inside(param, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    b1, b2 = betas
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad**2
    m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
    return param - lr * m_hat / np.sqrt(v_hat + eps), m, v  # eps inside the sqrt


ADAM = Exercise(
    id="06-adam-step", title="one step of Adam, as torch.optim.Adam takes it",
    tutorial="02_dense_mlp_softmax.py", entry="adam_step", outputs=("param", "m", "v"),
    axes={}, make_cases=_adam_cases,
    mistakes=[
        Mistake("no bias correction", lambda c: _adam_variant(c, bias_correction=False),
                "the update has no bias correction: m and v start at 0, so divide them by "
                "1 - beta1^t and 1 - beta2^t"),
        Mistake("t from 0", lambda c: _adam_variant(c, t_offset=-1),
                "your bias correction uses t - 1: Adam counts steps from t = 1"),
        Mistake("ascent", lambda c: _adam_variant(c, ascent=True),
                "your step ADDS lr * m_hat / (sqrt(v_hat) + eps): that climbs the loss; a "
                "descent step subtracts it"),
        Mistake("betas swapped", lambda c: _adam_variant(c, swapped=True),
                "m = (1 - b1) m + b1 g swaps the weights: the moving average keeps b1 of the old "
                "m and takes (1 - b1) of the new gradient, m = b1 m + (1 - b1) g"),
        Mistake("|g|", lambda c: _adam_variant(c, abs_grad=True),
                "v averages the SQUARED gradient, g * g, not |g|"),
        Mistake("eps inside sqrt", lambda c: _adam_variant(c, eps_inside=True),
                "eps is inside the square root; PyTorch adds it after: sqrt(v_hat) + eps"),
    ],
    hints=["m is an exponential moving average of g, v one of g^2; both start at 0.",
           "Because they start at 0 they are biased toward 0: divide by 1 - beta^t, t from 1.",
           "m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; param -= lr * (m / (1 - b1^t)) / "
           "(sqrt(v / (1 - b2^t)) + eps); return (param, m, v)."],
)
ADAM.wrong_answers = {
    "no bias correction": (_wrong_adam_no_correction, "no bias correction"),
    "t counted from 0": (_wrong_adam_t_from_zero, "param"),
    "|g| instead of g^2": (_wrong_adam_grad_not_squared, "SQUARED gradient"),
    "betas swapped": (_wrong_adam_swapped_betas, "swaps the weights"),
    "ascent": (_wrong_adam_ascent, "climbs the loss"),
    "eps inside the sqrt": (_wrong_adam_eps_inside, "eps is inside the square root"),
}

EXERCISES = [SOFTPLUS, DENSE, CE, ADAM]

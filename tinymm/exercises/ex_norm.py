"""Exercise 10-batchnorm-backward: batch normalization's training-mode backward on (N, D),
checked against tinymm's reference kernel (``kernels/reference/batch_norm.py``), with the
mistakes the checker recognises, hints, and a library of wrong answers.

Dimension letters: N batch, D features (channels). Statistics run over the batch axis.
"""

from __future__ import annotations

import numpy as np

from tinymm.exercises._core import Case, Exercise, Mistake, wrong_answer
from tinymm.kernels.reference import batch_norm as ref_bn

BATCH = "N, the batch size"


def _bn_cases() -> list[Case]:
    r = np.random.default_rng(50)
    cases = []
    for name, (N, D, shift) in (("N=5, D=3", (5, 3, 0.0)), ("N=8, D=2, inputs far from 0",
                                                           (8, 2, 4.0))):
        x = r.standard_normal((N, D)) * 1.5 + shift
        gamma, beta = r.standard_normal(D), r.standard_normal(D)
        _, cache = ref_bn.batch_norm_forward(x, gamma, beta, None, None, training=True, eps=1e-5)
        dout = r.standard_normal((N, D))
        dx, dgamma, dbeta = ref_bn.batch_norm_backward(dout, cache)[:3]
        cases.append(Case(name, (dout, x, gamma, 1e-5),
                          {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}, sizes={BATCH: N}))
    return cases


def _bn_student(dout, x, gamma, eps, bug=""):
    N = x.shape[0]
    mean = x.mean(axis=0)
    var = x.var(axis=0, ddof=1 if bug == "unbiased" else 0)
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    dbeta = dout.mean(axis=0) if bug == "dbeta mean" else dout.sum(axis=0)
    dgamma = dout.sum(axis=0) if bug == "dgamma no x_hat" else (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    if bug == "constants":
        dx = dx_hat * inv_std  # mean and var treated as constants (evaluation mode)
    elif bug == "no mean path":
        dx = inv_std / N * (N * dx_hat - x_hat * (dx_hat * x_hat).sum(axis=0))
    else:
        dx = inv_std / N * (N * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(0))
    if bug == "features axis":
        dbeta = dout.sum(axis=1)
    return dx, dgamma, dbeta


def _bn_variant(bug):
    return lambda c: dict(zip(("dx", "dgamma", "dbeta"), _bn_student(*c.args, bug=bug)))


def _bn_wrong(bug):
    return wrong_answer(_bn_student, bug, "batchnorm")


BATCHNORM = Exercise(
    id="10-batchnorm-backward", title="batch normalization's backward in training mode",
    tutorial="10_normalization.py", entry="batchnorm_backward",
    outputs=("dx", "dgamma", "dbeta"), axes={"dx": ("n", "d")}, make_cases=_bn_cases,
    mistakes=[
        Mistake("constants", _bn_variant("constants"),
                "you treated the batch mean and variance as constants (that is evaluation "
                "mode's dx); in training mode they depend on every x of the batch: dx = "
                "inv_std / N * (N dx_hat - sum dx_hat - x_hat * sum(dx_hat * x_hat))"),
        Mistake("no mean path", _bn_variant("no mean path"),
                "the path through the mean is missing: subtract sum_n dx_hat as well"),
        Mistake("unbiased", _bn_variant("unbiased"),
                "you normalised with the UNBIASED variance (divides by N - 1); the forward "
                "normalises with the biased one (divides by N), PyTorch keeps N - 1 for the "
                "running estimate only"),
        Mistake("dgamma no x_hat", _bn_variant("dgamma no x_hat"),
                "dgamma = sum_n dout * x_hat: gamma multiplies x_hat"),
        Mistake("features axis", _bn_variant("features axis"),
                "dbeta summed over the features (axis 1); statistics and parameters are per "
                "feature, so sum over the batch (axis 0)"),
    ],
    hints=["out = gamma * x_hat + beta with x_hat = (x - mean) / sqrt(var + eps), mean and var "
           "over the batch. dbeta and dgamma come first and are one line each.",
           "dx_hat = dout * gamma. Then x reaches x_hat three ways: directly, through the mean "
           "and through the variance. Follow all three.",
           "They collapse to dx = inv_std / N * (N * dx_hat - dx_hat.sum(0) - x_hat * "
           "(dx_hat * x_hat).sum(0)); kernels/reference/batch_norm.py derives it."],
    factor_questions={f"({BATCH})": "did you average over the batch? dbeta and dgamma sum "
                      "over it"},
)
BATCHNORM.wrong_answers = {
    "mean and var as constants": (_bn_wrong("constants"), "treated the batch mean and variance"),
    "mean path missing": (_bn_wrong("no mean path"), "path through the mean"),
    "unbiased variance": (_bn_wrong("unbiased"), "UNBIASED"),
    "dgamma without x_hat": (_bn_wrong("dgamma no x_hat"), "gamma multiplies x_hat"),
    "dbeta averaged": (_bn_wrong("dbeta mean"), "did you average over the batch?"),
    "dbeta over the features": (_bn_wrong("features axis"), "summed over the features"),
}

EXERCISES = [BATCHNORM]

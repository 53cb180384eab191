"""Symmetric InfoNCE op with a learnable temperature (derivation:
kernels/reference/info_nce.py).

Dimension letters: N pairs, D embedding features.
"""

from __future__ import annotations

import numpy as np

from tinymm.autograd import ArrayFunction
from tinymm.ops._checks import check_float, check_ndim, check_same_dtype


class InfoNCE(ArrayFunction):
    @staticmethod
    def forward(ctx, a, b, logit_scale):
        for name, x in (("image embeddings", a), ("text embeddings", b),
                        ("logit_scale", logit_scale)):
            check_float("info_nce", name, x)
        check_same_dtype("info_nce", image_embeddings=a, text_embeddings=b,
                         logit_scale=logit_scale)
        check_ndim("info_nce", "image embeddings", a, 2, "(N, D)")
        check_ndim("info_nce", "text embeddings", b, 2, "(N, D)")
        if a.shape != b.shape:
            raise ValueError(f"info_nce: image and text embeddings must have the same shape "
                             f"(N pairs, D features), got {a.shape} and {b.shape}")
        if a.shape[0] < 1:
            raise ValueError("info_nce: the batch needs at least one pair, got 0")
        if logit_scale.size != 1:
            raise ValueError(f"info_nce: logit_scale must be a scalar (log of 1/temperature), "
                             f"got shape {logit_scale.shape}")
        out, cache = ctx.backend.info_nce_forward(a, b, logit_scale.reshape(()))  # ()
        ctx.save_for_backward(cache, logit_scale.shape)
        return out

    @staticmethod
    def backward(ctx, grad):
        cache, scale_shape = ctx.saved
        da, db, dt = ctx.backend.info_nce_backward(grad, cache)
        return da, db, dt.reshape(scale_shape)


def info_nce(image_embeddings, text_embeddings, logit_scale):
    """CLIP's symmetric contrastive loss: the mean of the image->text and text->image
    cross-entropies over the (N, N) logits ``exp(logit_scale) * a @ b.T``, matching pairs on
    the diagonal. Pass L2-normalised embeddings (N, D) and a scalar ``logit_scale``."""
    from tinymm.tensor import Tensor

    args = [x if isinstance(x, Tensor) else np.asarray(x)
            for x in (image_embeddings, text_embeddings, logit_scale)]
    return InfoNCE.apply(*args)

"""F.scaled_dot_product_attention's dropout_p (torch's positional order: attn_mask, dropout_p,
is_causal, scale): p = 0 is the plain op; p > 0 drops attention weights and rescales them,
so the average over many draws approaches the undropped output; bad p is refused."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tinymm import F


def test_dropout_p_zero_matches_torch_positionally_and_p_is_unbiased():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, 2, 3, 4)) for _ in range(3))
    ours = F.scaled_dot_product_attention(*map(tinymm.tensor, (q, k, v)), None, 0.0, True)
    theirs = torch.nn.functional.scaled_dot_product_attention(
        *map(torch.tensor, (q, k, v)), None, 0.0, True)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    tinymm.manual_seed(0)
    draws = [F.scaled_dot_product_attention(*map(tinymm.tensor, (q, k, v)), dropout_p=0.3,
                                            is_causal=True).numpy() for _ in range(400)]
    assert not np.allclose(draws[0], ours.numpy())  # weights were dropped
    np.testing.assert_allclose(np.mean(draws, axis=0), ours.numpy(), atol=0.15)
    x = tinymm.tensor(q, requires_grad=True)
    F.scaled_dot_product_attention(x, x, x, dropout_p=0.5).sum().backward()
    assert x.grad is not None and np.isfinite(x.grad.numpy()).all()
    with pytest.raises(ValueError, match="scaled_dot_product_attention: dropout_p"):
        F.scaled_dot_product_attention(x, x, x, dropout_p=1.5)

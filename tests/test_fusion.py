"""Fusion ops and layers: gradients, semantics, PyTorch formulas, errors.

Dimension letters: N batch, D widths, Lq question tokens, Lk image regions, E embed_dim,
C channels, H/W height/width.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm
import tinymm.functional as F
import tinymm.nn as nn
from tests.conftest import examples
from tests.test_attention import module_gradcheck
from tinymm import gradcheck, tensor

BACKENDS = [name for name, why in tinymm.backends().items() if why is None and name != "cuda"]
# As in test_attention.py: hypothesis-drawn gradchecks on the reference backend, fixed-shape
# gradchecks on every backend, and numba-vs-reference parity on hypothesis draws.


# ---------------------------------------------------------------------- fused cores
def _core_gradcheck(backend, N, D, seed):
    rng = np.random.default_rng(seed)
    g, a, b = (rng.standard_normal((N, D)) * 2 for _ in range(3))
    x = rng.standard_normal((N, D, 2, 3))
    gamma, beta = rng.standard_normal((N, D)), rng.standard_normal((N, D))
    with tinymm.use_backend(backend):
        gradcheck(F.gated_fusion, [g, a, b])
        gradcheck(F.bilinear_pool, [a, b])
        gradcheck(F.film, [x, gamma, beta])


@settings(max_examples=examples(10))
@given(N=st.integers(1, 3), D=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_core_ops_gradcheck(N, D, seed):
    _core_gradcheck("reference", N, D, seed)


@pytest.mark.parametrize("backend", BACKENDS)
def test_core_ops_gradcheck_fixed_shape(backend):
    _core_gradcheck(backend, 2, 3, seed=1)


@settings(max_examples=examples(10))
@given(N=st.integers(1, 3), D=st.integers(1, 6), H=st.integers(1, 3), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_core_kernels_numba_match_reference_on_random_shapes(N, D, H, seed, dtype):
    if "numba" not in BACKENDS:
        pytest.skip("numba backend unavailable")
    rng = np.random.default_rng(seed)
    ref, nb = tinymm.get_backend("reference"), tinymm.get_backend("numba")
    tol = 1e-5 if dtype == np.float32 else 1e-12
    cases = [("gated_fusion", [(N, D)] * 3), ("bilinear_pool", [(N, D)] * 2),
             ("film", [(N, D, H, 2), (N, D), (N, D)])]
    for name, shapes in cases:
        args = [(rng.standard_normal(s) * 3).astype(dtype) for s in shapes]
        out1, c1 = getattr(ref, name + "_forward")(*args)
        out2, c2 = getattr(nb, name + "_forward")(*args)
        np.testing.assert_allclose(out2, out1, atol=tol * max(1.0, np.abs(out1).max()))
        dout = rng.standard_normal(out1.shape).astype(dtype)
        for g1, g2 in zip(getattr(ref, name + "_backward")(dout, c1),
                          getattr(nb, name + "_backward")(dout, c2)):
            np.testing.assert_allclose(g2, g1, atol=tol * max(1.0, np.abs(g1).max()))


def test_core_ops_match_their_formulas():
    rng = np.random.default_rng(0)
    g, a, b = (rng.standard_normal((4, 6)) * 3 for _ in range(3))
    s = 1 / (1 + np.exp(-g))
    for backend in BACKENDS:
        with tinymm.use_backend(backend):
            np.testing.assert_allclose(F.gated_fusion(g, a, b).array,
                                       s * np.tanh(a) + (1 - s) * np.tanh(b), atol=1e-14)
            np.testing.assert_allclose(F.bilinear_pool(a, b).array, np.tanh(a) * np.tanh(b),
                                       atol=1e-14)


# ---------------------------------------------------------------------- layers
def _pairwise_gradcheck(backend, N, da, db, dout, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((N, da)), rng.standard_normal((N, db))
    with tinymm.use_backend(backend):
        gated = nn.GatedFusion(da, db, dout, dtype=np.float64)
        module_gradcheck(gated, [a, b], gated)
        for activation in ("tanh", None):  # MLB's tanh core and the linear default
            bilinear = nn.BilinearFusion(da, db, dout, rank=3, dtype=np.float64,
                                         activation=activation)
            module_gradcheck(bilinear, [a, b], bilinear)
        gradcheck(lambda a, b: nn.Concatenate()(a, b), [a, b])
        gradcheck(lambda a, b: nn.Multiply()(a, b), [a, a[:, ::-1] + 0.5])
        film = nn.FiLM(db, da, dtype=np.float64)
        x = rng.standard_normal((N, da, 2, 2))
        module_gradcheck(film, [x, b], film)


@settings(max_examples=examples(8))
@given(N=st.integers(1, 2), da=st.integers(1, 4), db=st.integers(1, 4), dout=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_pairwise_layers_gradcheck(N, da, db, dout, seed):
    _pairwise_gradcheck("reference", N, da, db, dout, seed)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pairwise_layers_gradcheck_fixed_shape(backend):
    _pairwise_gradcheck(backend, 2, 3, 2, 2, seed=2)


def _cross_gradcheck(backend, N, Lq, Lk, heads, with_mask, seed):
    rng = np.random.default_rng(seed)
    layer = nn.CrossAttentionFusion(3, 2, embed_dim=2 * heads, num_heads=heads,
                                    dtype=np.float64)
    query, context = rng.standard_normal((N, Lq, 3)), rng.standard_normal((N, Lk, 2))
    mask = None
    if with_mask:
        mask = rng.random((N, Lq)) > 0.4
        mask[:, 0] = True
    with tinymm.use_backend(backend):
        module_gradcheck(layer, [query, context],
                         lambda q, c: layer(q, c, query_mask=mask))


@settings(max_examples=examples(8))
@given(N=st.integers(1, 2), Lq=st.integers(1, 3), Lk=st.integers(1, 5), heads=st.integers(1, 2),
       with_mask=st.booleans(), seed=st.integers(0, 2**16))
def test_cross_attention_fusion_gradcheck(N, Lq, Lk, heads, with_mask, seed):
    _cross_gradcheck("reference", N, Lq, Lk, heads, with_mask, seed)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cross_attention_fusion_gradcheck_fixed_shape(backend):
    _cross_gradcheck(backend, 2, 3, 4, 2, with_mask=True, seed=3)


def test_cross_attention_fusion_outputs_and_padding():
    rng = np.random.default_rng(1)
    layer = nn.CrossAttentionFusion(5, 4, embed_dim=8, num_heads=2)
    query = rng.standard_normal((3, 6, 5)).astype(np.float32)
    context = rng.standard_normal((3, 4, 2, 5)).astype(np.float32)  # (N, C, H, W) feature map
    mask = np.ones((3, 6), dtype=bool)
    mask[:, 4:] = False  # the last two tokens are padding
    fused, attention = layer(query, context, query_mask=mask)
    assert fused.shape == (3, 8) and attention.shape == (3, 10)
    np.testing.assert_allclose(attention.array.sum(-1), 1.0, rtol=1e-5)
    changed = query.copy()
    changed[:, 4:] = 100.0  # padding content must not matter
    fused2, attention2 = layer(changed, context, query_mask=mask)
    np.testing.assert_allclose(fused2.array, fused.array, rtol=1e-5)
    np.testing.assert_allclose(attention2.array, attention.array, rtol=1e-5)
    vector_fused, vector_attention = layer(query[:, 0], context)  # (N, query_dim): one token
    assert vector_fused.shape == (3, 8) and vector_attention.shape == (3, 10)


def test_cross_attention_can_pick_a_region():
    """With a key that matches the query much better, the attention map puts its mass there."""
    layer = nn.CrossAttentionFusion(2, 2, embed_dim=2, num_heads=1, dtype=np.float64)
    layer.query_proj.weight.array[...] = np.eye(2)
    layer.query_proj.bias.array[...] = 0
    W = layer.attention.in_proj_weight.array  # (3E, E): W_q, W_k, W_v stacked
    W[:4] = np.vstack([np.eye(2) * 10, np.eye(2) * 10])
    context = np.array([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]])  # three regions
    _, attention = layer(np.array([[0.0, 1.0]]), context)
    assert np.argmax(attention.array[0]) == 1 and attention.array[0, 1] > 0.99


def test_gated_fusion_matches_its_definition():
    rng = np.random.default_rng(2)
    layer = nn.GatedFusion(3, 4, 5, dtype=np.float64)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    out = layer(a, b).array

    def lin(m, x):
        return x @ m.weight.array.T + m.bias.array

    z = 1 / (1 + np.exp(-lin(layer.gate, np.concatenate([a, b], axis=1))))
    expected = z * np.tanh(lin(layer.proj_a, a)) + (1 - z) * np.tanh(lin(layer.proj_b, b))
    np.testing.assert_allclose(out, expected, atol=1e-14)


def test_film_matches_torch_formula():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    layer = nn.FiLM(4, 3, dtype=np.float64)
    x, cond = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((2, 4))
    out = layer(x, cond).array
    proj = torch.tensor(cond) @ torch.tensor(layer.proj.weight.array).T + torch.tensor(
        layer.proj.bias.array)
    gamma, beta = proj[:, :3], proj[:, 3:]
    expected = gamma[:, :, None, None] * torch.tensor(x) + beta[:, :, None, None]
    np.testing.assert_allclose(out, expected.numpy(), atol=1e-13)


# ---------------------------------------------------------------------- bad input
def test_multiply_width_mismatch_names_both_widths_and_suggests_a_projection():
    image = tensor(np.zeros((2, 65536), dtype=np.float32))  # a flattened conv feature map
    question = tensor(np.zeros((2, 128), dtype=np.float32))  # an LSTM state
    with pytest.raises(ValueError, match=r"width 65536.*width 128.*Dense\(128\).*"
                                         r"nn\.Linear\(65536, 128\)"):
        nn.Multiply()(image, question)


def test_fusion_bad_inputs():
    a, b = np.zeros((2, 3), dtype=np.float32), np.zeros((2, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"Concatenate\(dim=-1\): input 1 has shape \(3, 4\)"):
        nn.Concatenate()(a, np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"GatedFusion\(3, 4, 5\): b must be \(N, 4\), got "
                                         r"shape \(2, 3\)"):
        nn.GatedFusion(3, 4, 5)(a, a)
    with pytest.raises(ValueError, match=r"BilinearFusion\(3, 4, 5\): a and b must have the "
                                         r"same batch size"):
        nn.BilinearFusion(3, 4, 5)(a, b[:1])
    layer = nn.CrossAttentionFusion(3, 4, embed_dim=8, num_heads=2)
    with pytest.raises(ValueError, match=r"context must be \(N, Lk, 4\)"):
        layer(np.zeros((2, 5, 3), np.float32), np.zeros((2, 6, 5), np.float32))
    with pytest.raises(ValueError, match=r"query_mask row 1 has no real token"):
        layer(np.zeros((2, 5, 3), np.float32), np.zeros((2, 6, 4), np.float32),
              query_mask=np.array([[True] * 5, [False] * 5]))
    with pytest.raises(ValueError, match=r"embed_dim must be divisible by num_heads"):
        nn.CrossAttentionFusion(3, 4, embed_dim=10, num_heads=4)
    with pytest.raises(ValueError, match=r"gated_fusion: inputs must have the same shape"):
        F.gated_fusion(a, a, b)
    with pytest.raises(ValueError, match=r"FiLM\(cond_dim=4, num_channels=3\): x must be "
                                         r"\(N, 3, H, W\)"):
        nn.FiLM(4, 3)(np.zeros((2, 5, 2, 2), np.float32), b)

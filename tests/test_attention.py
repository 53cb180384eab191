"""Scaled dot-product attention and nn.MultiheadAttention: gradients, backends, PyTorch, errors.

Dimension letters: N batch, h heads, Lq queries, Lk keys, d query/key features, e value
features, E embed_dim.
"""


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm
import tinymm.functional as F
import tinymm.nn as nn
from tests.conftest import examples
from tinymm import gradcheck, tensor
from tinymm.ops.attention import attention_with_weights

BACKENDS = [name for name, why in tinymm.backends().items() if why is None and name != "cuda"]
# Hypothesis-drawn gradchecks run on the reference backend: gradcheck calls the op thousands of
# times on tiny arrays, where the numba backend's parallel-region start-up dominates. The numba
# kernels get fixed-shape gradchecks below and reference parity on hypothesis draws.
MASK_KINDS = ["none", "bool", "bool-dead-row", "causal", "float"]


def _sdpa_inputs(rng, N, h, Lq, Lk, d, e, mask_kind):
    q = rng.standard_normal((N, h, Lq, d))
    k = rng.standard_normal((N, h, Lk, d))
    v = rng.standard_normal((N, h, Lk, e))
    mask, causal = None, False
    if mask_kind in ("bool", "bool-dead-row"):
        mask = rng.random((N, 1, Lq, Lk)) > 0.3  # True = attend, broadcast over heads
        mask[..., 0] = True
        if mask_kind == "bool-dead-row":
            mask[0, 0, Lq - 1, :] = False  # one query row with nothing to attend to
    elif mask_kind == "causal":
        causal = True
    elif mask_kind == "float":
        mask = rng.standard_normal((Lq, Lk))  # additive, differentiable
    return q, k, v, mask, causal


def _sdpa_gradcheck(backend, N, h, Lq, Lk, d, e, mask_kind, seed):
    rng = np.random.default_rng(seed)
    q, k, v, mask, causal = _sdpa_inputs(rng, N, h, Lq, Lk, d, e, mask_kind)
    with tinymm.use_backend(backend):
        if mask_kind == "float":  # the additive mask gets a gradient too
            gradcheck(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, m),
                      [q, k, v, mask])
        else:
            gradcheck(lambda q, k, v: F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, is_causal=causal), [q, k, v])


@settings(max_examples=examples(15))
@given(N=st.integers(1, 2), h=st.integers(1, 3), Lq=st.integers(1, 5), Lk=st.integers(1, 5),
       d=st.integers(1, 4), e=st.integers(1, 4), mask_kind=st.sampled_from(MASK_KINDS),
       seed=st.integers(0, 2**16))
def test_sdpa_gradcheck(N, h, Lq, Lk, d, e, mask_kind, seed):
    _sdpa_gradcheck("reference", N, h, Lq, Lk, d, e, mask_kind, seed)


@pytest.mark.parametrize("mask_kind", MASK_KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_sdpa_gradcheck_fixed_shape(backend, mask_kind):
    _sdpa_gradcheck(backend, 2, 2, 3, 4, 3, 2, mask_kind, seed=4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sdpa_weights_output_gradcheck(backend):
    """Gradients through both outputs (out and the attention weights) at once."""
    rng = np.random.default_rng(3)
    q, k, v, mask, _ = _sdpa_inputs(rng, 2, 2, 3, 4, 3, 2, "bool-dead-row")
    with tinymm.use_backend(backend):
        gradcheck(lambda q, k, v: attention_with_weights(q, k, v, mask), [q, k, v])


@settings(max_examples=examples(10))
@given(N=st.integers(1, 2), h=st.integers(1, 3), Lq=st.integers(1, 5), Lk=st.integers(1, 5),
       d=st.integers(1, 4), mask_kind=st.sampled_from(MASK_KINDS), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_sdpa_numba_matches_reference_on_random_shapes(N, h, Lq, Lk, d, mask_kind, seed, dtype):
    if "numba" not in BACKENDS:
        pytest.skip("numba backend unavailable")
    rng = np.random.default_rng(seed)
    q, k, v, mask, causal = _sdpa_inputs(rng, N, h, Lq, Lk, d, d, mask_kind)
    q, k, v = (a.astype(dtype) for a in (q, k, v))
    if mask is not None and mask.dtype != np.bool_:
        mask = mask.astype(dtype)
    ref, nb = tinymm.get_backend("reference"), tinymm.get_backend("numba")
    (o1, p1), c1 = ref.scaled_dot_product_attention_forward(q, k, v, mask, is_causal=causal)
    (o2, p2), c2 = nb.scaled_dot_product_attention_forward(q, k, v, mask, is_causal=causal)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(o2, o1, atol=tol * max(1.0, np.abs(o1).max()))
    np.testing.assert_allclose(p2, p1, atol=tol)
    grads = (rng.standard_normal(o1.shape).astype(dtype),
             rng.standard_normal(p1.shape).astype(dtype))
    for g1, g2 in zip(ref.scaled_dot_product_attention_backward(grads, c1),
                      nb.scaled_dot_product_attention_backward(grads, c2)):
        if g1 is None:
            assert g2 is None
            continue
        np.testing.assert_allclose(g2, g1, atol=tol * max(1.0, np.abs(g1).max()))


def test_sdpa_numba_on_head_transposed_views_matches_reference_and_keeps_their_layout():
    """q, k, v as the (N, h, L, d) transposes of (N, L, h, d) projections (k and v two halves
    of one K/V projection, as MultiheadAttention makes them): the numba kernel matches the
    reference; its output transposes back to a C-contiguous (N, L, h, d) array, so the layer
    merges the heads without a copy; dq, dk, dv have exactly the strides of q, k, v, and dk,
    dv are the two halves of one new buffer shaped like the K/V projection, so the split's
    backward joins them without a copy."""
    if "numba" not in BACKENDS:
        pytest.skip("numba backend unavailable")
    rng = np.random.default_rng(5)
    N, Lq, Lk, h, d = 2, 3, 5, 2, 4
    q = rng.standard_normal((N, Lq, h, d)).transpose(0, 2, 1, 3)  # (N, h, Lq, d)
    kv = rng.standard_normal((N, Lk, 2, h, d))
    k, v = kv[:, :, 0].transpose(0, 2, 1, 3), kv[:, :, 1].transpose(0, 2, 1, 3)
    ref, nb = tinymm.get_backend("reference"), tinymm.get_backend("numba")
    (o1, _), c1 = ref.scaled_dot_product_attention_forward(q, k, v)
    (o2, _), c2 = nb.scaled_dot_product_attention_forward(q, k, v)
    np.testing.assert_allclose(o2, o1, atol=1e-12)
    assert o2.transpose(0, 2, 1, 3).flags.c_contiguous
    dout = rng.standard_normal(o1.shape)
    grads = nb.scaled_dot_product_attention_backward(dout, c2)[:3]
    for g1, g2, x in zip(ref.scaled_dot_product_attention_backward(dout, c1)[:3], grads,
                         (q, k, v)):
        np.testing.assert_allclose(g2, g1, atol=1e-12)
        assert g2.strides == x.strides
    dq, dk, dv = grads
    assert dk.base is dv.base and dk.base.shape == kv.shape and dq.base is not dk.base
    dkv = dk.base.reshape(kv.shape)  # (N, Lk, 2, h, d), as the projection
    np.testing.assert_array_equal(dkv[:, :, 0].transpose(0, 2, 1, 3), dk)
    np.testing.assert_array_equal(dkv[:, :, 1].transpose(0, 2, 1, 3), dv)


@pytest.mark.parametrize("mask_kind", ["none", "per-item", "shared-float"])
def test_sdpa_numba_split_over_the_workers_matches_its_serial_run_and_the_reference(
        monkeypatch, mask_kind):
    """With the split threshold lowered, the core runs as batch ranges on the worker pool:
    the same bits as the one-range run, and the reference's values, forward and backward."""
    if "numba" not in BACKENDS:
        pytest.skip("numba backend unavailable")
    from tinymm.kernels.numba_cpu import attention as numba_attention

    rng = np.random.default_rng(7)
    N, h, Lq, Lk, d = 5, 2, 3, 6, 4
    q, k, v = (rng.standard_normal((N, h, L, d)) for L in (Lq, Lk, Lk))
    mask = {"none": None, "per-item": rng.random((N, 1, 1, Lk)) > 0.3,
            "shared-float": rng.standard_normal((Lq, Lk))}[mask_kind]
    grads = (rng.standard_normal((N, h, Lq, d)), rng.standard_normal((N, h, Lq, Lk)))
    ref, nb = tinymm.get_backend("reference"), tinymm.get_backend("numba")
    (o1, p1), c1 = ref.scaled_dot_product_attention_forward(q, k, v, mask, is_causal=True)
    runs = []
    for threshold in (1 << 62, 1):  # one range, then the split
        monkeypatch.setattr(numba_attention, "SPLIT_MACS", threshold)
        (o2, p2), c2 = nb.scaled_dot_product_attention_forward(q, k, v, mask, is_causal=True)
        runs.append((o2, p2, *nb.scaled_dot_product_attention_backward(grads, c2)))
    for serial, split in zip(*runs):
        if serial is None:
            assert split is None
            continue
        np.testing.assert_array_equal(split, serial)
    np.testing.assert_allclose(runs[1][0], o1, atol=1e-12)
    np.testing.assert_allclose(runs[1][1], p1, atol=1e-12)
    for g1, g2 in zip(ref.scaled_dot_product_attention_backward(grads, c1), runs[1][2:]):
        if g1 is None:
            assert g2 is None
            continue
        np.testing.assert_allclose(g2, g1, atol=1e-12)


def test_sdpa_numba_gives_separate_gradients_to_inputs_that_overlap_or_repeat():
    """Inputs viewing one base but overlapping (the same array as q, k and v) or covering only
    part of it get their own gradient arrays, equal to the reference's."""
    if "numba" not in BACKENDS:
        pytest.skip("numba backend unavailable")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 2, 4)).transpose(0, 2, 1, 3)  # (N, h, L, d) view
    wide = rng.standard_normal((2, 4, 3, 2, 4))  # three views of one base, one unused
    k, v = wide[:, :, 0].transpose(0, 2, 1, 3), wide[:, :, 1].transpose(0, 2, 1, 3)
    ref, nb = tinymm.get_backend("reference"), tinymm.get_backend("numba")
    for args in ((x, x, x), (x, k, v)):
        _, c1 = ref.scaled_dot_product_attention_forward(*args)
        (o2, _), c2 = nb.scaled_dot_product_attention_forward(*args)
        dout = rng.standard_normal(o2.shape)
        grads = nb.scaled_dot_product_attention_backward(dout, c2)[:3]
        for g1, g2 in zip(ref.scaled_dot_product_attention_backward(dout, c1)[:3], grads):
            np.testing.assert_allclose(g2, g1, atol=1e-12)
        assert not any(np.shares_memory(a, b) for a, b in
                       ((grads[0], grads[1]), (grads[0], grads[2]), (grads[1], grads[2])))


@pytest.mark.parametrize("backend", BACKENDS)
def test_fully_masked_row_gives_zeros_not_nan(backend):
    rng = np.random.default_rng(0)
    q = tensor(rng.standard_normal((1, 2, 3, 4)), requires_grad=True)
    k = tensor(rng.standard_normal((1, 2, 5, 4)), requires_grad=True)
    v = tensor(rng.standard_normal((1, 2, 5, 4)), requires_grad=True)
    mask = np.ones((3, 5), dtype=bool)
    mask[1] = False  # query 1 may attend nothing
    with tinymm.use_backend(backend):
        out, weights = attention_with_weights(q, k, v, mask)
        (out.sum() + weights.sum()).backward()
    assert np.all(out.array[:, :, 1] == 0) and np.all(weights.array[:, :, 1] == 0)
    assert np.all(np.isfinite(out.array)) and np.all(np.isfinite(q.grad))
    assert np.all(q.grad.array[:, :, 1] == 0)
    np.testing.assert_allclose(weights.array[:, :, [0, 2]].sum(-1), 1.0)


def test_sdpa_softmax_is_stable_for_huge_scores():
    q = np.full((1, 1, 2, 2), 1e4)
    k = np.array([[[[1e4, 0.0], [0.0, 1e4], [1e4, 1e4]]]])
    v = np.eye(3).reshape(1, 1, 3, 3)
    for backend in BACKENDS:
        with tinymm.use_backend(backend):
            out = F.scaled_dot_product_attention(q, k, v).array
        np.testing.assert_allclose(out[0, 0], [[0, 0, 1], [0, 0, 1]], atol=1e-12)


def test_sdpa_accepts_3d_inputs():
    rng = np.random.default_rng(1)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal(
        (2, 5, 6))
    out = F.scaled_dot_product_attention(q, k, v)
    expected = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None]).array[:, 0]
    assert out.shape == (2, 3, 6)
    np.testing.assert_allclose(out.array, expected)


# ---------------------------------------------------------------------- MultiheadAttention
def _mha_inputs(rng, N, Lq, Lk, E, batch_first, dead_row):
    def shape(L):
        return (N, L, E) if batch_first else (L, N, E)

    query, key = rng.standard_normal(shape(Lq)), rng.standard_normal(shape(Lk))
    padding = rng.random((N, Lk)) > 0.7  # True = ignore this key
    padding[:, 0] = False
    if dead_row:
        padding[0, :] = True  # batch item 0 may attend nothing: zeros, not NaN
    return query, key, padding


def _load_params(module, arrays):
    """Swap the module's parameters for the given Tensors (gradcheck's float64 leaves)."""
    for (owner, name), t in zip(_param_slots(module), arrays):
        owner._parameters[name] = t
        object.__setattr__(owner, name, t)


def _param_slots(module):
    return [(m, name) for _, m in module.named_modules() for name, p in m._parameters.items()
            if p is not None]


def module_gradcheck(module, inputs, call):
    """gradcheck over the inputs and every parameter of ``module``."""
    params = [getattr(m, name).array.astype(np.float64) for m, name in _param_slots(module)]
    count = len(inputs)

    def fn(*arrays):
        _load_params(module, arrays[count:])
        return call(*arrays[:count])

    return gradcheck(fn, list(inputs) + params)


def _mha_gradcheck(backend, N, heads, d, Lq, Lk, batch_first, dead_row, seed):
    rng = np.random.default_rng(seed)
    E = heads * d
    mha = nn.MultiheadAttention(E, heads, batch_first=batch_first, dtype=np.float64)
    query, key, padding = _mha_inputs(rng, N, Lq, Lk, E, batch_first, dead_row)
    with tinymm.use_backend(backend):
        module_gradcheck(mha, [query, key], lambda q, kv: mha(q, kv, kv,
                                                              key_padding_mask=padding))


@settings(max_examples=examples(10))
@given(N=st.integers(1, 2), heads=st.integers(1, 3), d=st.integers(1, 2), Lq=st.integers(1, 4),
       Lk=st.integers(1, 4), batch_first=st.booleans(), dead_row=st.booleans(),
       seed=st.integers(0, 2**16))
def test_mha_gradcheck(N, heads, d, Lq, Lk, batch_first, dead_row, seed):
    _mha_gradcheck("reference", N, heads, d, Lq, Lk, batch_first, dead_row, seed)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mha_gradcheck_fixed_shape(backend):
    _mha_gradcheck(backend, 2, 2, 2, 3, 4, batch_first=False, dead_row=True, seed=6)


def test_mha_gradcheck_kdim_vdim_and_attn_mask():
    rng = np.random.default_rng(5)
    mha = nn.MultiheadAttention(4, 2, batch_first=True, kdim=3, vdim=5, dtype=np.float64)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 3)), rng.standard_normal(
        (2, 4, 5))
    blocked = np.zeros((3, 4), dtype=bool)
    blocked[0, 1:] = True  # query 0 may only see key 0
    module_gradcheck(mha, [q, k, v], lambda q, k, v: mha(q, k, v, attn_mask=blocked))


def test_mha_weights_are_averaged_over_heads_and_rows_sum_to_one():
    rng = np.random.default_rng(2)
    mha = nn.MultiheadAttention(8, 4, batch_first=True)
    x = tensor(rng.standard_normal((2, 5, 8)).astype(np.float32))
    out, w = mha(x, x, x)
    assert out.shape == (2, 5, 8) and w.shape == (2, 5, 5)
    np.testing.assert_allclose(w.array.sum(-1), 1.0, rtol=1e-5)
    _, w_all = mha(x, x, x, average_attn_weights=False)
    assert w_all.shape == (2, 4, 5, 5)
    np.testing.assert_allclose(w_all.array.mean(axis=1), w.array, rtol=1e-5)
    out2, none = mha(x, x, x, need_weights=False)
    assert none is None
    np.testing.assert_allclose(out2.array, out.array, rtol=1e-5)


def test_mha_parameter_layout_matches_pytorch():
    mha = nn.MultiheadAttention(6, 3)
    shapes = {name: p.shape for name, p in mha.named_parameters()}
    assert shapes == {"in_proj_weight": (18, 6), "in_proj_bias": (18,),
                      "out_proj.weight": (6, 6), "out_proj.bias": (6,)}
    assert np.all(mha.in_proj_bias.array == 0) and np.all(mha.out_proj.bias.array == 0)
    bound = np.sqrt(6.0 / (6 + 18))  # xavier-uniform on (3E, E)
    assert np.abs(mha.in_proj_weight.array).max() <= bound


# ---------------------------------------------------------------------- PyTorch comparison
def _torch_sdpa_case(torch, rng, mask_kind):
    q, k, v, mask, causal = _sdpa_inputs(rng, 2, 3, 4, 6, 5, 3, mask_kind)
    return q, k, v, mask, causal


@pytest.mark.parametrize("mask_kind", MASK_KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_sdpa_matches_torch(backend, mask_kind):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    q, k, v, mask, causal = _torch_sdpa_case(torch, rng, mask_kind)
    scale = 0.6 if mask_kind == "float" else None
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    tmask = None if mask is None else torch.tensor(mask)
    t_out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=tmask,
                                                             is_causal=causal, scale=scale)
    g = rng.standard_normal(t_out.shape)
    t_out.backward(torch.tensor(g))
    Q, K, V = (tensor(a, requires_grad=True) for a in (q, k, v))
    with tinymm.use_backend(backend):
        out = F.scaled_dot_product_attention(Q, K, V, attn_mask=mask, is_causal=causal,
                                             scale=scale)
        out.backward(g)
    np.testing.assert_allclose(out.array, t_out.detach().numpy(), atol=1e-12)
    for ours, theirs in ((Q, tq), (K, tk), (V, tv)):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("config", ["batch_first", "seq_first", "self", "kdim_vdim", "unbatched",
                                    "per_head_float_mask"])
def test_mha_matches_torch(backend, config):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    E, heads, N, Lq, Lk = 8, 2, 3, 4, 5
    batch_first = config != "seq_first"
    kdim = vdim = None
    if config == "kdim_vdim":
        kdim, vdim = 3, 6
    t_mha = torch.nn.MultiheadAttention(E, heads, batch_first=batch_first, kdim=kdim,
                                        vdim=vdim).double()
    mha = nn.MultiheadAttention(E, heads, batch_first=batch_first, kdim=kdim, vdim=vdim,
                                dtype=np.float64)
    mha.load_state_dict({name: t.detach().numpy() for name, t in t_mha.state_dict().items()})

    def shape(L, width):
        if config == "unbatched":
            return (L, width)
        return (N, L, width) if batch_first else (L, N, width)

    query = rng.standard_normal(shape(Lq, E))
    key = query if config == "self" else rng.standard_normal(shape(Lk, kdim or E))
    value = key if config in ("self", "batch_first", "seq_first") else rng.standard_normal(
        shape(Lk, vdim or E))
    L_keys = Lq if config == "self" else Lk
    padding = rng.random((N, L_keys)) > 0.6
    padding[:, 0] = False
    attn_mask = rng.random((Lq, L_keys)) > 0.7
    attn_mask[:, 0] = False  # key 0 is open to every query: PyTorch gives NaN otherwise
    if config == "unbatched":
        padding = padding[0]
    if config == "per_head_float_mask":
        attn_mask = rng.standard_normal((N * heads, Lq, L_keys))
        padding = None

    def run_torch():
        tensors = {}
        for name, a in (("q", query), ("k", key), ("v", value)):
            same = [n for n, b in (("q", query), ("k", key)) if b is a and n in tensors]
            tensors[name] = tensors[same[0]] if same else torch.tensor(a, requires_grad=True)
        out, w = t_mha(tensors["q"], tensors["k"], tensors["v"],
                       key_padding_mask=None if padding is None else torch.tensor(padding),
                       attn_mask=torch.tensor(attn_mask), need_weights=True)
        return tensors, out, w

    tensors, t_out, t_w = run_torch()
    g, gw = rng.standard_normal(t_out.shape), rng.standard_normal(t_w.shape)
    ((t_out * torch.tensor(g)).sum() + (t_w * torch.tensor(gw)).sum()).backward()

    ours = {}
    for name, a in (("q", query), ("k", key), ("v", value)):
        same = [n for n, b in (("q", query), ("k", key)) if b is a and n in ours]
        ours[name] = ours[same[0]] if same else tensor(a, requires_grad=True)
    with tinymm.use_backend(backend):
        out, w = mha(ours["q"], ours["k"], ours["v"], key_padding_mask=padding,
                     attn_mask=attn_mask)
        ((out * tensor(g)).sum() + (w * tensor(gw)).sum()).backward()
    np.testing.assert_allclose(out.array, t_out.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(w.array, t_w.detach().numpy(), atol=1e-12)
    for name in ours:
        np.testing.assert_allclose(ours[name].grad, tensors[name].grad.numpy(), atol=1e-12)
    t_params = dict(t_mha.named_parameters())
    for name, p in mha.named_parameters():
        np.testing.assert_allclose(p.grad, t_params[name].grad.numpy(), atol=1e-12,
                                   err_msg=name)


# ---------------------------------------------------------------------- bad input
def test_bad_inputs_raise_clear_errors():
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((1, 2, 3, 4)), rng.standard_normal((1, 2, 5, 4)), \
        rng.standard_normal((1, 2, 5, 4))
    with pytest.raises(ValueError, match=r"query and key must have the same feature size d.*"
                                         r"\(1, 2, 3, 4\).*\(1, 2, 5, 3\)"):
        F.scaled_dot_product_attention(q, k[..., :3], v)
    with pytest.raises(ValueError, match=r"attn_mask of shape \(4, 5\) does not broadcast.*"
                                         r"\(1, 2, 3, 5\)"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((4, 5), dtype=bool))
    with pytest.raises(ValueError, match=r"key and value must share \(N, heads, Lk\)"):
        F.scaled_dot_product_attention(q, k, v[:, :, :4])
    with pytest.raises(TypeError, match=r"query must be float32 or float64"):
        F.scaled_dot_product_attention(q.astype(np.int64), k, v)
    with pytest.raises(TypeError, match=r"float attn_mask must have the query's dtype"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.zeros((3, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"MultiheadAttention\(embed_dim=10, num_heads=4\): "
                                         r"embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(10, 4)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    x = np.zeros((2, 3, 8), dtype=np.float32)
    with pytest.raises(ValueError, match=r"query must have 8 features.*\(2, 3, 6\)"):
        mha(x[..., :6], x, x)
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(N, Lk\) = "
                                         r"\(2, 3\), got \(3, 2\)"):
        mha(x, x, x, key_padding_mask=np.zeros((3, 2), dtype=bool))
    with pytest.raises(ValueError, match=r"attn_mask must have shape \(Lq, Lk\) = \(3, 3\)"):
        mha(x, x, x, attn_mask=np.zeros((3, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"same batch size"):
        mha(x, x[:1], x[:1])

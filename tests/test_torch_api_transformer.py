"""nn.Transformer and its encoder/decoder layers and stacks, held to PyTorch's from one
state_dict: outputs, input gradients and parameter gradients, masks included."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinymm
from tinymm import nn

D, H, F = 8, 2, 12


def _load_into_ours(ours, theirs):
    state = {k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()}
    assert list(state) == list(ours.state_dict())
    ours.load_state_dict(state)


def _run(module, lib, inputs, kwargs):
    """Forward with the inputs as leaves; returns the output, the input grads and the
    parameter grads by name, after backward of a fixed weighted sum."""
    leaves = [lib.tensor(x, requires_grad=True) for x in inputs]
    masks = {k: (lib.tensor(v) if v is not None else None) for k, v in kwargs.items()
             if not isinstance(v, bool)}
    masks.update({k: v for k, v in kwargs.items() if isinstance(v, bool)})
    out = module(*leaves, **masks)
    weights = lib.tensor(np.linspace(-1.0, 1.0, out.numel()).reshape(tuple(out.shape)))
    (out * weights).sum().backward()
    grads = {n: p.grad.detach().numpy() for n, p in module.named_parameters()}
    return out.detach().numpy(), [x.grad.detach().numpy() for x in leaves], grads


def _agree(ours, theirs, inputs, kwargs, tol=1e-9):
    torch = pytest.importorskip("torch")
    got = _run(ours, tinymm, inputs, kwargs)
    want = _run(theirs, torch, inputs, kwargs)
    np.testing.assert_allclose(got[0], want[0], rtol=tol, atol=tol)
    for g, w in zip(got[1], want[1]):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    assert set(got[2]) == set(want[2])
    for name in want[2]:
        np.testing.assert_allclose(got[2][name], want[2][name], rtol=tol, atol=tol,
                                   err_msg=name)


def _pair(torch, build):
    torch.manual_seed(0)
    theirs = build(torch).double()
    ours = build(tinymm).double()
    _load_into_ours(ours, theirs)
    return ours, theirs


@pytest.mark.filterwarnings("ignore:Support for mismatched src_key_padding_mask")
@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.parametrize("norm_first,activation,batch_first,train",
                         [(False, "relu", False, False), (True, "gelu", True, True)])
def test_encoder_stack_matches_torch_with_masks(norm_first, activation, batch_first, train):
    torch = pytest.importorskip("torch")
    N, S = 2, 4

    def build(lib):
        layer = lib.nn.TransformerEncoderLayer(D, H, F, dropout=0.0, activation=activation,
                                               batch_first=batch_first, norm_first=norm_first)
        kwargs = {} if lib is tinymm else {"enable_nested_tensor": False}
        return lib.nn.TransformerEncoder(layer, 2, norm=lib.nn.LayerNorm(D), **kwargs)

    ours, theirs = _pair(torch, build)
    for m in (ours, theirs):
        m.train(train)
    rng = np.random.default_rng(1)
    src = rng.standard_normal((N, S, D) if batch_first else (S, N, D))
    padding = np.array([[False, False, False, True], [False, False, False, False]])
    causal = tinymm.nn.Transformer.generate_square_subsequent_mask(S).numpy().astype(np.float64)
    np.testing.assert_array_equal(
        causal, torch.nn.Transformer.generate_square_subsequent_mask(S).double().numpy())
    _agree(ours, theirs, [src], {"mask": causal, "src_key_padding_mask": padding})


def test_decoder_layer_matches_torch_with_all_masks():
    torch = pytest.importorskip("torch")
    T, S, N = 3, 4, 2

    def build(lib):
        return lib.nn.TransformerDecoderLayer(D, H, F, dropout=0.0, norm_first=True)

    ours, theirs = _pair(torch, build)
    rng = np.random.default_rng(2)
    tgt, memory = rng.standard_normal((T, N, D)), rng.standard_normal((S, N, D))
    memory_mask = np.zeros((T, S), bool)
    memory_mask[0, 1] = True
    _agree(ours, theirs, [tgt, memory], {
        "tgt_mask": np.triu(np.ones((T, T), bool), 1), "memory_mask": memory_mask,
        "tgt_key_padding_mask": np.array([[False, False, True], [False, False, False]]),
        "memory_key_padding_mask": np.array([[False] * 4, [False, True, False, False]])})


@pytest.mark.filterwarnings("ignore:Support for mismatched src_key_padding_mask")
@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
def test_transformer_matches_torch_and_is_causal_builds_the_mask():
    torch = pytest.importorskip("torch")
    S, T, N = 4, 3, 2

    def build(lib):
        lib.manual_seed(0)
        return lib.nn.Transformer(D, H, 1, 2, F, dropout=0.0, activation="gelu",
                                  batch_first=True, bias=False)

    ours, theirs = _pair(torch, build)
    names = [n for n, _ in theirs.named_parameters()]
    assert names == [n for n, _ in ours.named_parameters()] and "decoder.norm.weight" in names
    rng = np.random.default_rng(3)
    src, tgt = rng.standard_normal((N, S, D)), rng.standard_normal((N, T, D))
    causal = np.triu(np.full((T, T), -np.inf), 1)
    _agree(ours, theirs, [src, tgt], {"tgt_mask": causal, "src_key_padding_mask":
                                      np.array([[False, False, True, True], [False] * 4])})
    x, m = tinymm.tensor(tgt), tinymm.tensor(src)
    hinted = ours.decoder(x, m, tgt_is_causal=True).detach().numpy()
    explicit = ours.decoder(x, m, tgt_mask=tinymm.tensor(causal)).detach().numpy()
    np.testing.assert_array_equal(hinted, explicit)


def test_transformer_bad_input_and_init():
    model = nn.Transformer(D, H, 1, 1, F)
    big = [p for p in model.parameters() if p.ndim > 1]
    assert all(abs(p.detach().numpy()).max() <= np.sqrt(6.0 / sum(p.shape[:2])) + 1e-6 for p in big)
    with pytest.raises(ValueError, match=r"Transformer\(d_model=8, nhead=2\): src must be"):
        model(tinymm.zeros(3, 2, 5), tinymm.zeros(3, 2, D))
    with pytest.raises(ValueError, match="same batch size"):
        model(tinymm.zeros(3, 2, D), tinymm.zeros(3, 1, D))
    with pytest.raises(ValueError, match="activation must be 'relu', 'gelu' or a callable"):
        nn.TransformerEncoderLayer(D, H, activation="tanh")
    with pytest.raises(ValueError, match="num_layers must be a positive int"):
        nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H), 0)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        nn.TransformerDecoderLayer(D, 3)


def test_gelu_exact_matches_torch_and_gradcheck():
    torch = pytest.importorskip("torch")
    x = np.linspace(-3, 3, 7)
    ours = tinymm.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    out = tinymm.F.gelu(ours, approximate="none")
    ref = torch.nn.functional.gelu(theirs)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10)
    assert tinymm.gradcheck(lambda t: tinymm.F.gelu(t, approximate="none"),
                            (tinymm.tensor(x[:3] + 0.1, requires_grad=True),))


def test_gelu_defaults_are_pytorchs_and_keras():
    """F.gelu and nn.GELU default to the exact form (PyTorch's approximate="none"); Keras's
    activations.gelu too, and keras.ops.gelu to the tanh form (Keras 3's defaults)."""
    from tinymm import keras

    x = np.linspace(-3, 3, 7)
    exact = 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    tanh = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    t = tinymm.tensor(x)
    np.testing.assert_allclose(tinymm.F.gelu(t).numpy(), exact, rtol=1e-12)
    np.testing.assert_allclose(nn.GELU()(t).numpy(), exact, rtol=1e-12)
    np.testing.assert_allclose(nn.GELU("tanh")(t).numpy(), tanh, rtol=1e-12)
    np.testing.assert_allclose(keras.activations.gelu(t).numpy(), exact, rtol=1e-12)
    np.testing.assert_allclose(keras.ops.gelu(t).numpy(), tanh, rtol=1e-12)
    np.testing.assert_allclose(keras.ops.gelu(t, approximate=False).numpy(), exact, rtol=1e-12)


def test_attention_dropout_drops_weights_in_training_only():
    tinymm.manual_seed(0)
    mha = nn.MultiheadAttention(D, H, dropout=0.5, batch_first=True, dtype=np.float64)
    x = tinymm.tensor(np.random.default_rng(4).standard_normal((2, 5, D)))
    mha.eval()
    kept = mha(x, x, x, average_attn_weights=False)[1].detach().numpy()
    mha.train()
    out, dropped = mha(x, x, x, average_attn_weights=False)
    dropped = dropped.detach().numpy()
    zero = dropped == 0
    assert 0 < zero.mean() < 1
    np.testing.assert_allclose(dropped[~zero], kept[~zero] * 2.0, rtol=1e-12)
    out.sum().backward()
    assert np.isfinite(mha.in_proj_weight.grad.numpy()).all()
    with pytest.raises(ValueError, match="dropout"):
        nn.MultiheadAttention(D, H, dropout=1.5)


def test_unbatched_encoder_layer_with_a_callable_activation_matches_torch():
    torch = pytest.importorskip("torch")

    def build(lib):
        return lib.nn.TransformerEncoderLayer(D, H, F, dropout=0.0, bias=False,
                                              activation=lib.nn.GELU(approximate="tanh"))

    ours, theirs = _pair(torch, build)
    _agree(ours, theirs, [np.random.default_rng(5).standard_normal((3, D))],
           {"is_causal": True, "src_mask": np.triu(np.ones((3, 3), bool), 1)})

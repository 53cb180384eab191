"""GRU: gradcheck over drawn shapes, backend parity on the same draws, PyTorch comparison
(pack_padded_sequence for lengths), dropout between layers, bad input, and the numba path
without SciPy's BLAS."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings

import tinymm
from tests.test_lstm import functional_form, layer_inputs, lstm_configs, make_layer
from tinymm import functional as F
from tinymm import nn, tensor
from tinymm.kernels.numba_cpu import _recurrent as numba_recurrent
from tinymm.kernels.numba_cpu import gru as numba_gru


def gru_outputs(result):
    output, h_n = result
    return output, h_n


@given(cfg=lstm_configs())
@settings(max_examples=8)
def test_gru_gradcheck_and_parity(cfg):
    layer = make_layer(nn.GRU, cfg)
    names = [n for n, _ in layer.named_parameters()]
    params = [p.array.copy() for p in layer.parameters()]
    x, init = layer_inputs(layer, cfg, states=1)
    fn = functional_form(layer, names, len(init), cfg["lengths"], gru_outputs)
    results = {}
    for backend in ("reference", "numba"):
        with tinymm.use_backend(backend):
            if backend == "reference":  # the numba backend is held to the reference below
                assert tinymm.gradcheck(fn, [x, *init, *params])
            leaves = [tensor(a.copy(), requires_grad=True) for a in [x, *init, *params]]
            outs = fn(*leaves)
            upstream = np.random.default_rng(3)
            total = sum((o * tensor(upstream.standard_normal(o.shape))).sum() for o in outs)
            total.backward()
            results[backend] = [o.array for o in outs] + [t.grad.array for t in leaves]
    for ref, got in zip(results["reference"], results["numba"]):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


@given(cfg=lstm_configs())
@settings(max_examples=6)
def test_padded_steps_change_nothing(cfg):
    """Padded positions: output 0, no gradient to x there, h_n = state at the last real step."""
    if cfg["lengths"] is None:
        cfg = dict(cfg, lengths=[max(1, cfg["T"] - n) for n in range(cfg["N"])])
    layer = make_layer(nn.GRU, cfg)
    x, _ = layer_inputs(layer, cfg, states=1)
    xt = tensor(x, requires_grad=True)
    output, h_n = layer(xt, lengths=cfg["lengths"])
    (output.sum() + h_n.sum()).backward()
    for n, length in enumerate(cfg["lengths"]):
        pad = (n, slice(length, None)) if cfg["batch_first"] else (slice(length, None), n)
        assert np.all(output.array[pad] == 0)
        assert np.all(xt.grad.array[pad] == 0)
        real = (slice(n, n + 1), slice(0, length)) if cfg["batch_first"] else \
            (slice(0, length), slice(n, n + 1))
        _, h_alone = layer(tensor(x[real]))
        np.testing.assert_allclose(h_n.array[:, n], h_alone.array[:, 0], rtol=1e-10, atol=1e-12)


def test_numba_without_scipy_blas_matches(monkeypatch):
    """The fallback (Python time loop, NumPy matmul) computes the same numbers."""
    rng = np.random.default_rng(0)
    args = (rng.standard_normal((5, 3, 4)), rng.standard_normal((3, 6)),
            rng.standard_normal((18, 4)), rng.standard_normal((18, 6)), rng.standard_normal(18),
            rng.standard_normal(18))
    grads = (rng.standard_normal((5, 3, 6)), rng.standard_normal((3, 6)))
    for reverse in (False, True):
        kw = dict(lengths=np.array([5, 2, 4]), reverse=reverse)
        outs, cache = numba_gru.gru_forward(*args, **kw)
        dins = numba_gru.gru_backward(grads, cache)
        monkeypatch.setattr(numba_recurrent, "BLAS_IN_NUMBA", False)
        outs2, cache2 = numba_gru.gru_forward(*args, **kw)
        dins2 = numba_gru.gru_backward(grads, cache2)
        monkeypatch.undo()
        for a, b in zip(outs + dins, outs2 + dins2):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_functional_gru_single_layer_matches_module():
    nn.init.seed(4)
    layer = nn.GRU(3, 5, dtype=np.float64)
    x = tinymm.randn(4, 2, 3, dtype=np.float64)
    h0 = tinymm.randn(1, 2, 5, dtype=np.float64)
    out, h_n = layer(x, h0, lengths=[4, 2])
    out2, h2 = F.gru(x, layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0,
                     layer.bias_hh_l0, hx=h0[0], lengths=[4, 2])
    np.testing.assert_allclose(out.array, out2.array)
    np.testing.assert_allclose(h_n.array[0], h2.array)


def test_parameters_follow_pytorch():
    layer = nn.GRU(3, 4, num_layers=2, bidirectional=True)
    shapes = {n: p.shape for n, p in layer.named_parameters()}
    assert list(shapes)[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert shapes["weight_ih_l0"] == (12, 3)
    assert shapes["weight_ih_l1_reverse"] == (12, 8)
    assert shapes["weight_hh_l1"] == (12, 4)
    assert all(np.abs(p.array).max() <= 0.5 for p in layer.parameters())  # U(-1/sqrt(H), ..)
    assert len(shapes) == 16
    assert len(list(nn.GRU(3, 4, bias=False).parameters())) == 2


# ------------------------------------------------------------------ PyTorch comparison
def _torch_compare(torch, cfg):
    T, N, D, H = cfg["T"], cfg["N"], cfg["D"], cfg["H"]
    torch.manual_seed(cfg["seed"])
    ref = torch.nn.GRU(D, H, num_layers=cfg["num_layers"], batch_first=cfg["batch_first"],
                       bidirectional=cfg["bidirectional"], bias=cfg.get("bias", True)).double()
    layer = make_layer(nn.GRU, cfg, bias=cfg.get("bias", True))
    layer.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal((N, T, D) if cfg["batch_first"] else (T, N, D))
    K = 2 if cfg["bidirectional"] else 1
    h0 = rng.standard_normal((cfg["num_layers"] * K, N, H))
    lengths = cfg["lengths"]

    xt, h0t = (torch.tensor(a, requires_grad=True) for a in (x, h0))
    if lengths is None:
        out_t, hn_t = ref(xt, h0t)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.tensor(lengths), batch_first=cfg["batch_first"], enforce_sorted=False)
        out_p, hn_t = ref(packed, h0t)
        out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(
            out_p, batch_first=cfg["batch_first"], total_length=T)
    up = [rng.standard_normal(tuple(o.shape)) for o in (out_t, hn_t)]
    sum((o * torch.tensor(u)).sum() for o, u in zip((out_t, hn_t), up)).backward()

    xm, h0m = (tensor(a.copy(), requires_grad=True) for a in (x, h0))
    out, h_n = layer(xm, h0m, lengths=lengths)
    sum((o * tensor(u)).sum() for o, u in zip((out, h_n), up)).backward()

    def close(a, b, what):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-9, atol=1e-10, err_msg=what)

    close(out.array, out_t, "output")
    close(h_n.array, hn_t, "h_n")
    close(xm.grad.array, xt.grad, "dx")
    close(h0m.grad.array, h0t.grad, "dh0")
    for name, p in ref.named_parameters():
        close(getattr(layer, name).grad.array, p.grad, f"d{name}")


TORCH_CASES = [
    dict(T=5, N=3, D=4, H=3, num_layers=1, batch_first=False, bidirectional=False, lengths=None),
    dict(T=6, N=3, D=2, H=4, num_layers=2, batch_first=True, bidirectional=False,
         lengths=[6, 2, 4]),
    dict(T=5, N=4, D=3, H=2, num_layers=2, batch_first=False, bidirectional=True,
         lengths=[1, 5, 3, 4]),
    dict(T=4, N=2, D=3, H=3, num_layers=1, batch_first=True, bidirectional=True, lengths=None,
         bias=False),
]


@pytest.mark.parametrize("backend", ["reference", "numba"])
@pytest.mark.parametrize("case", range(len(TORCH_CASES)))
def test_matches_torch_gru(case, backend):
    torch = pytest.importorskip("torch")
    with tinymm.use_backend(backend):
        _torch_compare(torch, dict(TORCH_CASES[case], seed=case))


# ------------------------------------------------------------------ dropout between layers
def test_dropout_acts_between_layers_in_training_only():
    nn.init.seed(1)
    layer = nn.GRU(3, 4, num_layers=2, dropout=1.0, dtype=np.float64)
    plain = nn.GRU(3, 4, num_layers=2, dtype=np.float64)
    plain.load_state_dict(layer.state_dict())
    x = tinymm.randn(5, 2, 3, dtype=np.float64)
    layer.eval()  # evaluation: dropout is off, the two layers agree
    np.testing.assert_array_equal(layer(x)[0].array, plain(x)[0].array)
    layer.train()  # dropout=1 zeroes layer 0's output: layer 1 then sees only zeros
    out, h_n = layer(x)
    alone, h_alone = F.gru(tensor(np.zeros((5, 2, 4))), layer.weight_ih_l1, layer.weight_hh_l1,
                           layer.bias_ih_l1, layer.bias_hh_l1)
    np.testing.assert_allclose(out.array, alone.array, rtol=1e-12)
    np.testing.assert_allclose(h_n.array[1], h_alone.array, rtol=1e-12)
    np.testing.assert_array_equal(h_n.array[0], plain(x)[1].array[0])  # layer 0 is untouched


def test_dropout_arguments():
    with pytest.warns(UserWarning, match=r"GRU: dropout=0.5 acts between layers.*num_layers=1"):
        nn.GRU(3, 4, dropout=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.GRU(3, 4, num_layers=2, dropout=0.5)
    with pytest.raises(ValueError, match=r"GRU: dropout must be a number in \[0, 1\]"):
        nn.GRU(3, 4, num_layers=2, dropout=1.5)
    assert "dropout=0.5" in repr(nn.GRU(3, 4, num_layers=2, dropout=0.5))


# ------------------------------------------------------------------ bad input
@pytest.fixture
def no_kernel(monkeypatch):
    """Make the GRU kernels explode, to prove validation runs before any kernel."""
    for name in ("reference", "numba"):
        def boom(*args, **kwargs):
            raise AssertionError("a kernel ran on bad input")

        monkeypatch.setitem(tinymm.get_backend(name).kernels, "gru_forward", boom)


def test_bad_input(no_kernel):
    layer = nn.GRU(3, 4)
    with pytest.raises(ValueError, match=r"GRU\(input_size=3, hidden_size=4\): .*got 0"):
        layer(tinymm.randn(4, 2, 3), lengths=[0, 2])
    with pytest.raises(ValueError, match=r"GRU.*between 1 and T=4.*got 7"):
        layer(tinymm.randn(4, 2, 3), lengths=np.array([7, 2]))
    with pytest.raises(ValueError, match=r"GRU.*input has 2 features.*input_size=3"):
        layer(tinymm.randn(4, 2, 2))
    with pytest.raises(ValueError, match=r"hx must have shape .* \(1, 2, 4\), got \(2, 2, 4\)"):
        layer(tinymm.randn(4, 2, 3), tinymm.zeros(2, 2, 4))
    with pytest.raises(ValueError, match=r"gru: hx must have shape \(N, H\) = \(2, 4\)"):
        F.gru(tinymm.randn(4, 2, 3), layer.weight_ih_l0, layer.weight_hh_l0,
              hx=tinymm.zeros(1, 4))
    with pytest.raises(ValueError, match=r"gru: weight_hh must be \(3\*H, H\)"):
        F.gru(tinymm.randn(4, 2, 3), tinymm.randn(12, 3), tinymm.randn(16, 4))
    with pytest.raises(TypeError, match=r"gru: inputs must share one dtype"):
        F.gru(tinymm.randn(4, 2, 3, dtype=np.float64), layer.weight_ih_l0, layer.weight_hh_l0)


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_input_without_grad_skips_dx_only(backend):
    """x that needs no gradient: the kernel skips dx; every other gradient is unchanged."""
    nn.init.seed(2)
    layer = nn.GRU(3, 4, batch_first=True, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    grads = []
    with tinymm.use_backend(backend):
        for needs in (True, False):
            layer.zero_grad()
            xt = tensor(x, requires_grad=needs)
            _, h_n = layer(xt, lengths=[5, 3])
            h_n.sum().backward()
            assert (xt.grad is not None) == needs
            grads.append([p.grad.array.copy() for p in layer.parameters()])
    for with_dx, without in zip(*grads):
        np.testing.assert_array_equal(with_dx, without)

"""Elman RNN: gradcheck over drawn shapes, backend parity, PyTorch comparison, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm
from tests.conftest import examples
from tests.test_lstm import lstm_configs
from tinymm import functional as F
from tinymm import nn, tensor
from tinymm.kernels.numba_cpu import _recurrent as numba_recurrent
from tinymm.kernels.numba_cpu import rnn as numba_rnn


@st.composite
def rnn_configs(draw):
    """The LSTM tests' shapes (tests/test_lstm.py) plus a nonlinearity."""
    config = draw(lstm_configs())
    config["nonlinearity"] = draw(st.sampled_from(["tanh", "tanh", "relu"]))
    return config


def make_rnn(cfg):
    nn.init.seed(cfg["seed"])
    return nn.RNN(cfg["D"], cfg["H"], num_layers=cfg["num_layers"],
                  nonlinearity=cfg["nonlinearity"], batch_first=cfg["batch_first"],
                  bidirectional=cfg["bidirectional"], dtype=np.float64)


@given(cfg=rnn_configs())
@settings(max_examples=examples(8))
def test_rnn_gradcheck_and_parity(cfg):
    layer = make_rnn(cfg)
    names = [n for n, _ in layer.named_parameters()]
    params = [p.array.copy() for p in layer.parameters()]
    rng = np.random.default_rng(cfg["seed"])
    T, N, D = cfg["T"], cfg["N"], cfg["D"]
    x = rng.standard_normal((N, T, D) if cfg["batch_first"] else (T, N, D))
    K = 2 if cfg["bidirectional"] else 1
    init = [rng.standard_normal((cfg["num_layers"] * K, N, cfg["H"]))] if cfg["with_state"] else []

    def fn(x, *rest):
        hx, params = (rest[0], rest[1:]) if init else (None, rest)
        for name, p in zip(names, params):
            object.__setattr__(layer, name, p)
        return layer(x, hx, lengths=cfg["lengths"])

    results = {}
    for backend in ("reference", "numba"):
        with tinymm.use_backend(backend):
            # relu has kinks; the numba backend is held to the reference below
            if cfg["nonlinearity"] == "tanh" and backend == "reference":
                assert tinymm.gradcheck(fn, [x, *init, *params])
            leaves = [tensor(a.copy(), requires_grad=True) for a in [x, *init, *params]]
            out, h_n = fn(*leaves)
            up = np.random.default_rng(5)
            total = ((out * tensor(up.standard_normal(out.shape))).sum()
                     + (h_n * tensor(up.standard_normal(h_n.shape))).sum())
            total.backward()
            results[backend] = [out.array, h_n.array] + [t.grad for t in leaves]
    for ref, got in zip(results["reference"], results["numba"]):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward-time", "reverse-time"])
@pytest.mark.parametrize("in_numba", [True, False], ids=["numba-time-loop", "python-time-loop"])
def test_both_time_loop_paths_match_the_reference(monkeypatch, in_numba, reverse, nonlinearity):
    """As for the LSTM: each time-loop path against the reference kernel, the path checked."""
    from tinymm.kernels.reference import rnn as reference_rnn

    if in_numba:
        pytest.importorskip("scipy.linalg.cython_blas",
                            reason="the in-Numba time loop calls BLAS through SciPy")
    else:
        monkeypatch.setattr(numba_recurrent, "BLAS_IN_NUMBA", False)  # the flag both modules read
    calls = []
    for name in ("_rnn_forward_loop", "_rnn_backward_loop"):
        real = getattr(numba_rnn, name)
        monkeypatch.setattr(numba_rnn, name,
                            lambda *a, _real=real, _name=name: (calls.append(_name), _real(*a))[1])
    rng = np.random.default_rng(1)
    args = (rng.standard_normal((5, 3, 4)), rng.standard_normal((3, 6)),
            rng.standard_normal((6, 4)), rng.standard_normal((6, 6)), rng.standard_normal(6),
            rng.standard_normal(6))
    grads = (rng.standard_normal((5, 3, 6)), rng.standard_normal((3, 6)))
    kw = dict(lengths=np.array([5, 1, 3]), reverse=reverse, nonlinearity=nonlinearity)
    outs, cache = numba_rnn.rnn_forward(*args, **kw)
    dins = numba_rnn.rnn_backward(grads, cache)
    ref_outs, ref_cache = reference_rnn.rnn_forward(*args, **kw)
    ref_dins = reference_rnn.rnn_backward(grads, ref_cache)
    assert calls == (["_rnn_forward_loop", "_rnn_backward_loop"] if in_numba else [])
    for a, b in zip(outs + dins, ref_outs + ref_dins):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("lengths", [None, [4, 1, 3]])
def test_matches_torch_rnn(nonlinearity, lengths):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = torch.nn.RNN(3, 5, num_layers=2, nonlinearity=nonlinearity, batch_first=True,
                       bidirectional=True).double()
    layer = nn.RNN(3, 5, num_layers=2, nonlinearity=nonlinearity, batch_first=True,
                   bidirectional=True, dtype=np.float64)
    layer.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(2)
    x, h0 = rng.standard_normal((3, 4, 3)), rng.standard_normal((4, 3, 5))
    xt, h0t = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    if lengths is None:
        out_t, hn_t = ref(xt, h0t)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths),
                                                         batch_first=True, enforce_sorted=False)
        out_p, hn_t = ref(packed, h0t)
        out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_p, batch_first=True,
                                                          total_length=4)
    (out_t.sum() + (hn_t * 2).sum()).backward()
    xm, h0m = tensor(x, requires_grad=True), tensor(h0, requires_grad=True)
    out, h_n = layer(xm, h0m, lengths=lengths)
    (out.sum() + (h_n * 2.0).sum()).backward()
    np.testing.assert_allclose(out.array, out_t.detach().numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(h_n.array, hn_t.detach().numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(xm.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(h0m.grad, h0t.grad.numpy(), rtol=1e-9, atol=1e-10)
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(getattr(layer, name).grad, p.grad.numpy(), rtol=1e-9,
                                   atol=1e-10, err_msg=name)


def test_bad_input_before_any_kernel(monkeypatch):
    for name in ("reference", "numba"):
        def boom(*args, **kwargs):
            raise AssertionError("a kernel ran on bad input")

        monkeypatch.setitem(tinymm.get_backend(name).kernels, "rnn_forward", boom)
    layer = nn.RNN(3, 4)
    with pytest.raises(ValueError, match=r"RNN\(input_size=3, hidden_size=4\): .*got 0"):
        layer(tinymm.randn(4, 2, 3), lengths=[0, 2])
    with pytest.raises(ValueError, match=r"RNN.*between 1 and T=4.*got 7"):
        layer(tinymm.randn(4, 2, 3), lengths=np.array([7, 2]))
    with pytest.raises(ValueError, match=r"RNN.*input has 2 features.*input_size=3"):
        layer(tinymm.randn(4, 2, 2))
    with pytest.raises(ValueError, match=r"rnn: hx must have shape \(N, H\) = \(2, 4\)"):
        F.rnn(tinymm.randn(4, 2, 3), layer.weight_ih_l0, layer.weight_hh_l0,
              hx=tinymm.zeros(1, 4))
    with pytest.raises(ValueError, match=r"nonlinearity must be 'tanh' or 'relu'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")

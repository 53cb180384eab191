"""LSTM: gradcheck over drawn shapes, backend parity on the same draws, PyTorch comparison
(pack_padded_sequence for lengths), bad input, and both numba time-loop paths (in Numba with
SciPy's BLAS, in Python without) against the reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm
from tests.conftest import examples
from tinymm import functional as F
from tinymm import nn, tensor
from tinymm.kernels.numba_cpu import _recurrent as numba_recurrent
from tinymm.kernels.numba_cpu import lstm as numba_lstm


@st.composite
def lstm_configs(draw):
    """T 1-6, N 1-3, D 1-5, H 2-5 (H = 1 hides swapped hidden indices), num_layers 1-2,
    batch_first either way, uneven lengths."""
    T, N = draw(st.integers(1, 6)), draw(st.integers(1, 3))
    lengths = None
    if draw(st.booleans()):
        lengths = draw(st.lists(st.integers(1, T), min_size=N, max_size=N))
    return dict(T=T, N=N, D=draw(st.integers(1, 5)), H=draw(st.integers(2, 5)),
                num_layers=draw(st.integers(1, 2)), batch_first=draw(st.booleans()),
                bidirectional=draw(st.booleans()), with_state=draw(st.booleans()),
                lengths=lengths, seed=draw(st.integers(0, 2**16)))


def make_layer(cls, cfg, **extra):
    nn.init.seed(cfg["seed"])
    return cls(cfg["D"], cfg["H"], num_layers=cfg["num_layers"], batch_first=cfg["batch_first"],
               bidirectional=cfg["bidirectional"], dtype=np.float64, **extra)


def layer_inputs(layer, cfg, states):
    """x and (optionally) the initial states, drawn for this config."""
    rng = np.random.default_rng(cfg["seed"])
    T, N = cfg["T"], cfg["N"]
    x = rng.standard_normal((N, T, cfg["D"]) if cfg["batch_first"] else (T, N, cfg["D"]))
    shape = (layer.num_layers * layer.num_directions, N, cfg["H"])
    init = [rng.standard_normal(shape) * 0.5 for _ in range(states)] if cfg["with_state"] else []
    return x, init


def functional_form(layer, names, states, lengths, pick):
    """fn(x, *initial states, *parameters) running ``layer`` with those tensors as weights.

    ``states``: how many initial-state tensors fn receives (0 when the layer starts at zero).
    """
    def fn(x, *rest):
        init, params = rest[:states], rest[states:]
        for name, p in zip(names, params):
            object.__setattr__(layer, name, p)  # swap the gradcheck's tensors in
        hx = None
        if init:
            hx = init[0] if states == 1 else tuple(init)
        return pick(layer(x, hx, lengths=lengths))

    return fn


def lstm_outputs(result):
    output, (h_n, c_n) = result
    return output, h_n, c_n


@given(cfg=lstm_configs())
@settings(max_examples=examples(8))
def test_lstm_gradcheck_and_parity(cfg):
    layer = make_layer(nn.LSTM, cfg)
    names = [n for n, _ in layer.named_parameters()]
    params = [p.array.copy() for p in layer.parameters()]
    x, init = layer_inputs(layer, cfg, states=2)
    fn = functional_form(layer, names, len(init), cfg["lengths"], lstm_outputs)
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
            results[backend] = [o.array for o in outs] + [t.grad for t in leaves]
    for ref, got in zip(results["reference"], results["numba"]):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


@given(cfg=lstm_configs())
@settings(max_examples=examples(6))
def test_padded_steps_change_nothing(cfg):
    """Padded positions: output 0, no gradient to x there, h_n = state at the last real step."""
    if cfg["lengths"] is None:
        cfg = dict(cfg, lengths=[max(1, cfg["T"] - n) for n in range(cfg["N"])])
    layer = make_layer(nn.LSTM, cfg)
    x, _ = layer_inputs(layer, cfg, states=2)
    xt = tensor(x, requires_grad=True)
    output, (h_n, c_n) = layer(xt, lengths=cfg["lengths"])
    (output.sum() + h_n.sum() + c_n.sum()).backward()
    for n, length in enumerate(cfg["lengths"]):
        pad = (n, slice(length, None)) if cfg["batch_first"] else (slice(length, None), n)
        assert np.all(output.array[pad] == 0)
        assert np.all(xt.grad.array[pad] == 0)
        # running the unpadded sequence alone gives the same final state
        real = (slice(n, n + 1), slice(0, length)) if cfg["batch_first"] else \
            (slice(0, length), slice(n, n + 1))
        _, (h_alone, _) = layer(tensor(x[real]))
        np.testing.assert_allclose(h_n.array[:, n], h_alone.array[:, 0], rtol=1e-10, atol=1e-12)


def _count_calls(monkeypatch, module, name, calls):
    real = getattr(module, name)

    def counted(*args):
        calls.append(name)
        return real(*args)

    monkeypatch.setattr(module, name, counted)


def _use_time_loop(monkeypatch, loop: str) -> None:
    """Send the LSTM's time loop down one path: "scipy-blas" (small batches inside numba,
    per-step np.dot through SciPy), "numpy-blas" (small batches inside numba, the cells making
    their GEMM with NumPy's own OpenBLAS), "numpy-blas-python" (a Python loop over those
    cells, as 16-row chunks run) or "python" (a Python loop, NumPy's matmul between the
    cells); skips where the path's BLAS is missing."""
    if loop == "scipy-blas":
        pytest.importorskip("scipy.linalg.cython_blas",
                            reason="the in-Numba time loop calls BLAS through SciPy")
        monkeypatch.setattr(numba_recurrent, "NUMPY_BLAS_IN_NUMBA", False)
        return
    monkeypatch.setattr(numba_recurrent, "BLAS_IN_NUMBA", False)
    if loop.startswith("numpy-blas"):
        if numba_recurrent.numpy_blas(np.float64) is None:
            pytest.skip("NumPy bundles no OpenBLAS whose cblas the cells can call")
        if loop == "numpy-blas-python":
            monkeypatch.setattr(numba_lstm, "loop_in_numba", lambda *args: False)
    else:
        monkeypatch.setattr(numba_recurrent, "NUMPY_BLAS_IN_NUMBA", False)


TIME_LOOPS = ["scipy-blas", "numpy-blas", "numpy-blas-python", "python"]
IN_NUMBA = ("scipy-blas", "numpy-blas")  # the paths whose time loop runs inside numba


@pytest.mark.parametrize("N", [3, 6], ids=["N3", "N6"])  # NumPy's BLAS: gemv rows, gemm
@pytest.mark.parametrize("reverse", [False, True], ids=["forward-time", "reverse-time"])
@pytest.mark.parametrize("loop", TIME_LOOPS)
def test_every_time_loop_path_matches_the_reference(monkeypatch, loop, reverse, N):
    """Every time-loop path (``_use_time_loop``; NumPy's own OpenBLAS by row (gemv) at N=3 and
    by block (gemm) at N=6) matches the reference kernel, forward and backward, in both time
    directions; the kernels each path calls from Python are counted, so no path is compared
    with itself: SciPy's loop functions once each, with NumPy's BLAS the step kernels once
    each (the time loop inside them), a Python loop the step kernels once per step."""
    from tinymm.kernels.reference import lstm as reference_lstm

    _use_time_loop(monkeypatch, loop)
    assert 3 <= numba_recurrent.GEMV_ROWS < 6  # N3: NumPy's gemv by row; N6: its gemm
    calls = []
    # only names that no compiled function looks up: the SciPy loops call the step kernels
    counted = (("_lstm_forward_loop", "_lstm_backward_loop") if loop == "scipy-blas"
               else ("_lstm_steps_forward", "_lstm_steps_backward"))
    for name in counted:
        _count_calls(monkeypatch, numba_lstm, name, calls)
    rng = np.random.default_rng(0)
    args = (rng.standard_normal((5, N, 4)), rng.standard_normal((N, 6)),
            rng.standard_normal((N, 6)), rng.standard_normal((24, 4)),
            rng.standard_normal((24, 6)), rng.standard_normal(24), rng.standard_normal(24))
    grads = (rng.standard_normal((5, N, 6)), rng.standard_normal((N, 6)),
             rng.standard_normal((N, 6)))
    kw = dict(lengths=np.array([5, 2, 4, 1, 5, 3][:N]), reverse=reverse)
    outs, cache = numba_lstm.lstm_forward(*args, **kw)
    dins = numba_lstm.lstm_backward(grads, cache)
    ref_outs, ref_cache = reference_lstm.lstm_forward(*args, **kw)
    ref_dins = reference_lstm.lstm_backward(grads, ref_cache)
    T = args[0].shape[0]
    assert calls == (list(counted) if loop in IN_NUMBA
                     else [counted[0]] * T + [counted[1]] * T)
    for a, b in zip(outs + dins, ref_outs + ref_dins):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_blas_from_numba_multiplies_as_numpy(dtype):
    """``_recurrent.gemm_into`` (NumPy's OpenBLAS called from numba) gives NumPy's product,
    with and without the transpose, by gemv rows and by gemm, on row blocks of a larger
    array as the chunks pass them."""
    blas = numba_recurrent.numpy_blas(dtype)
    if blas is None:
        pytest.skip("NumPy bundles no OpenBLAS whose cblas this path can call")
    rng = np.random.default_rng(3)
    w = rng.standard_normal((7, 5)).astype(dtype)  # (P, K)
    a = rng.standard_normal((12, 5)).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for rows in (a[:1], a[2:5], a[3:12]):  # 1 and 3 rows: gemv; 9 rows: gemm
        out = np.full((rows.shape[0], 7), np.nan, dtype)
        numba_recurrent.gemm_into(blas, rows, w, True, out)
        np.testing.assert_allclose(out, rows @ w.T, **tol)
        back = np.full((rows.shape[0], 5), np.nan, dtype)
        numba_recurrent.gemm_into(blas, out, w, False, back)
        np.testing.assert_allclose(back, out @ w, **tol)


@pytest.mark.parametrize("loop", TIME_LOOPS)
def test_batch_split_matches_the_reference_and_does_not_depend_on_the_workers(monkeypatch,
                                                                              loop):
    """A batch cut into row chunks (kernels/numba_cpu/_recurrent.py: each chunk's projection,
    time loop and weight-gradient shares on a worker thread) matches the reference forward
    and backward with lengths and reverse time, and gives the same bits when its chunks run
    serially in reverse order (the shares are summed in chunk order)."""
    from tinymm.kernels.numba_cpu import _threads
    from tinymm.kernels.reference import lstm as reference_lstm

    _use_time_loop(monkeypatch, loop)
    monkeypatch.setattr(numba_recurrent, "CHUNK_ROWS", 2)
    assert numba_recurrent.row_chunks(7) == [(0, 2), (2, 4), (4, 7)]
    rng = np.random.default_rng(1)
    T, N, D, H = 4, 7, 3, 5
    args = (rng.standard_normal((N, T, D)), rng.standard_normal((N, H)),
            rng.standard_normal((N, H)), rng.standard_normal((4 * H, D)),
            rng.standard_normal((4 * H, H)), rng.standard_normal(4 * H),
            rng.standard_normal(4 * H))
    grads = (rng.standard_normal((N, T, H)), rng.standard_normal((N, H)),
             rng.standard_normal((N, H)))
    kw = dict(lengths=np.array([4, 2, 3, 1, 4, 4, 2]), reverse=True, batch_first=True)

    def run():
        outs, cache = numba_lstm.lstm_forward(*args, **kw)
        outs = [a.copy() for a in outs]
        return outs + [a.copy() for a in numba_lstm.lstm_backward(grads, cache)]

    pooled = run()
    ref_outs, ref_cache = reference_lstm.lstm_forward(*args, **kw)
    for a, b in zip(pooled, list(ref_outs) + list(reference_lstm.lstm_backward(grads,
                                                                               ref_cache))):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)

    def reversed_serial(task, count, n_workers=None):
        for i in reversed(range(count)):
            task(0, i)
        return 1

    monkeypatch.setattr(_threads, "run_tasks", reversed_serial)
    for a, b in zip(pooled, run()):
        np.testing.assert_array_equal(a, b)


def test_functional_lstm_single_layer_matches_module():
    nn.init.seed(4)
    layer = nn.LSTM(3, 5, dtype=np.float64)
    x = tinymm.randn(4, 2, 3, dtype=np.float64)
    h0, c0 = tinymm.randn(1, 2, 5, dtype=np.float64), tinymm.randn(1, 2, 5, dtype=np.float64)
    out, (h_n, c_n) = layer(x, (h0, c0), lengths=[4, 2])
    out2, (h2, c2) = F.lstm(x, layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0,
                            layer.bias_hh_l0, hx=(h0[0], c0[0]), lengths=[4, 2])
    np.testing.assert_allclose(out.array, out2.array)
    np.testing.assert_allclose(h_n.array[0], h2.array)
    np.testing.assert_allclose(c_n.array[0], c2.array)


def test_parameters_follow_pytorch():
    layer = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    shapes = {n: p.shape for n, p in layer.named_parameters()}
    assert list(shapes)[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert shapes["weight_ih_l0"] == (16, 3)
    assert shapes["weight_ih_l1_reverse"] == (16, 8)
    assert shapes["weight_hh_l1"] == (16, 4)
    assert all(np.abs(p.array).max() <= 0.5 for p in layer.parameters())  # U(-1/sqrt(H), ..)
    assert len(shapes) == 16
    assert len(list(nn.LSTM(3, 4, bias=False).parameters())) == 2


# ------------------------------------------------------------------ PyTorch comparison
def _torch_compare(torch, cfg, dtype=np.float64):
    T, N, D, H = cfg["T"], cfg["N"], cfg["D"], cfg["H"]
    torch.manual_seed(cfg["seed"])
    ref = torch.nn.LSTM(D, H, num_layers=cfg["num_layers"], batch_first=cfg["batch_first"],
                        bidirectional=cfg["bidirectional"]).double()
    layer = make_layer(nn.LSTM, cfg)
    layer.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal((N, T, D) if cfg["batch_first"] else (T, N, D))
    K = 2 if cfg["bidirectional"] else 1
    h0 = rng.standard_normal((cfg["num_layers"] * K, N, H))
    c0 = rng.standard_normal((cfg["num_layers"] * K, N, H))
    lengths = cfg["lengths"]

    xt, h0t, c0t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    if lengths is None:
        out_t, (hn_t, cn_t) = ref(xt, (h0t, c0t))
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.tensor(lengths), batch_first=cfg["batch_first"], enforce_sorted=False)
        out_p, (hn_t, cn_t) = ref(packed, (h0t, c0t))
        out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(
            out_p, batch_first=cfg["batch_first"], total_length=T)
    up = [rng.standard_normal(tuple(o.shape)) for o in (out_t, hn_t, cn_t)]
    sum((o * torch.tensor(u)).sum() for o, u in zip((out_t, hn_t, cn_t), up)).backward()

    xm, h0m, c0m = (tensor(a.copy(), requires_grad=True) for a in (x, h0, c0))
    out, (h_n, c_n) = layer(xm, (h0m, c0m), lengths=lengths)
    sum((o * tensor(u)).sum() for o, u in zip((out, h_n, c_n), up)).backward()

    def close(a, b, what):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-9, atol=1e-10, err_msg=what)

    close(out.array, out_t, "output")
    close(h_n.array, hn_t, "h_n")
    close(c_n.array, cn_t, "c_n")
    close(xm.grad, xt.grad, "dx")
    close(h0m.grad, h0t.grad, "dh0")
    close(c0m.grad, c0t.grad, "dc0")
    for name, p in ref.named_parameters():
        close(getattr(layer, name).grad, p.grad, f"d{name}")


TORCH_CASES = [
    dict(T=5, N=3, D=4, H=3, num_layers=1, batch_first=False, bidirectional=False, lengths=None),
    dict(T=6, N=3, D=2, H=4, num_layers=2, batch_first=True, bidirectional=False,
         lengths=[6, 2, 4]),
    dict(T=5, N=4, D=3, H=2, num_layers=2, batch_first=False, bidirectional=True,
         lengths=[1, 5, 3, 4]),
    dict(T=4, N=2, D=3, H=3, num_layers=1, batch_first=True, bidirectional=True, lengths=None),
]


@pytest.mark.parametrize("backend", ["reference", "numba"])
@pytest.mark.parametrize("case", range(len(TORCH_CASES)))
def test_matches_torch_lstm(case, backend):
    torch = pytest.importorskip("torch")
    with tinymm.use_backend(backend):
        _torch_compare(torch, dict(TORCH_CASES[case], seed=case))


def test_default_init_matches_torch_statistics():
    layer = nn.LSTM(8, 16)
    w = layer.weight_hh_l0.array
    assert w.shape == (64, 16) and w.dtype == np.float32
    assert abs(w.max()) <= 0.25 and w.min() >= -0.25 and w.std() > 0.1


# ------------------------------------------------------------------ bad input
@pytest.fixture
def no_kernel(monkeypatch):
    """Make the LSTM kernels explode, to prove validation runs before any kernel."""
    for name in ("reference", "numba"):
        backend = tinymm.get_backend(name)

        def boom(*args, **kwargs):
            raise AssertionError("a kernel ran on bad input")

        monkeypatch.setitem(backend.kernels, "lstm_forward", boom)


@pytest.mark.parametrize("lengths, match", [
    ([0, 3], r"between 1 and T=4.*got 0"),
    ([5, 3], r"between 1 and T=4.*got 5"),
    ([1.0, 2.0], r"lengths must be integers"),
    ([2, 3, 1], r"lengths must have shape \(2,\)"),
])
def test_bad_lengths(no_kernel, lengths, match):
    layer = nn.LSTM(3, 4)
    with pytest.raises(ValueError, match=r"LSTM\(input_size=3, hidden_size=4\): .*" + match):
        layer(tinymm.randn(4, 2, 3), lengths=lengths)
    with pytest.raises(ValueError, match=r"lstm: .*" + match):
        F.lstm(tinymm.randn(4, 2, 3), layer.weight_ih_l0, layer.weight_hh_l0, lengths=lengths)


def test_bad_feature_size_and_shapes(no_kernel):
    layer = nn.LSTM(3, 4)
    with pytest.raises(ValueError, match=r"LSTM.*input has 5 features.*input_size=3"):
        layer(tinymm.randn(4, 2, 5))
    with pytest.raises(ValueError, match=r"LSTM.*must be 3-d \(T, N, input_size\).*\(4, 2, 3, 1\)"):
        layer(tinymm.randn(4, 2, 3, 1))  # (T, input_size) is PyTorch's unbatched form
    with pytest.raises(ValueError, match=r"h0 must have shape .* \(1, 2, 4\), got \(2, 2, 4\)"):
        layer(tinymm.randn(4, 2, 3), (tinymm.zeros(2, 2, 4), tinymm.zeros(2, 2, 4)))
    with pytest.raises(ValueError, match=r"lstm: h0 must have shape \(N, H\) = \(2, 4\)"):
        F.lstm(tinymm.randn(4, 2, 3), layer.weight_ih_l0, layer.weight_hh_l0,
               hx=(tinymm.zeros(3, 4), tinymm.zeros(2, 4)))
    with pytest.raises(TypeError, match=r"lstm: inputs must share one dtype"):
        F.lstm(tinymm.randn(4, 2, 3, dtype=np.float64), layer.weight_ih_l0, layer.weight_hh_l0)
    with pytest.raises(TypeError, match=r"lstm: input must be float32 or float64"):
        F.lstm(tensor(np.ones((4, 2, 3), np.int64)), layer.weight_ih_l0, layer.weight_hh_l0)


@pytest.mark.parametrize("how", ["inplace", "optimizer", "data", "detached_numpy",
                                 "load_state_dict"])
def test_nan_written_into_a_weight_between_calls_is_still_caught(monkeypatch, how):
    """The numba LSTM assumes finite values (fastmath), so ``finite_kernel_forward`` checks
    the weights on every call and sends a call with a non-finite one to the reference before
    any numba kernel runs. A NaN written into a weight between two calls of the same layer,
    by any route (several of which tinymm's version counter does not see: optimizer steps,
    ``.data`` and NumPy writes, state dicts), is caught that way: the second call runs the
    reference kernel only (never a stale "finite" verdict that lets the fastmath kernel run
    first) and gives the reference's NaN output."""
    from tinymm.backend import get_backend

    nn.init.seed(5)
    layer = nn.LSTM(3, 4)
    x = tensor(np.random.default_rng(5).standard_normal((4, 2, 3)).astype(np.float32))
    ran = []
    for backend in ("numba", "reference"):
        table = get_backend(backend).kernels
        real = table["lstm_forward"]
        monkeypatch.setitem(table, "lstm_forward",
                            lambda *a, _real=real, _name=backend, **k: ran.append(_name)
                            or _real(*a, **k))
    with tinymm.use_backend("numba"):
        first, _ = layer(x)  # the weights' first check: finite
        assert np.isfinite(first.array).all() and ran == ["numba"]
        weight = layer.weight_hh_l0
        if how == "inplace":
            with tinymm.no_grad():
                weight[1, 2] = float("nan")
        elif how == "optimizer":
            weight.grad = tensor(np.full(weight.shape, np.nan, np.float32))
            tinymm.optim.SGD([weight], lr=0.1).step()
        elif how == "data":
            weight.data[1, 2] = float("nan")
        elif how == "detached_numpy":
            weight.detach().numpy()[1, 2] = np.nan
        else:
            state = layer.state_dict()
            state["weight_hh_l0"] = state["weight_hh_l0"].clone()
            state["weight_hh_l0"][1, 2] = float("nan")
            layer.load_state_dict(state)
        assert np.isnan(weight.array[1, 2])
        out, (h_n, c_n) = layer(x)
    assert ran == ["numba", "reference"]
    with tinymm.use_backend("reference"):
        ref, (ref_h, ref_c) = layer(x)
    for got, want in ((out, ref), (h_n, ref_h), (c_n, ref_c)):
        np.testing.assert_array_equal(np.isnan(got.array), np.isnan(want.array))
    assert np.isnan(out.array).any()

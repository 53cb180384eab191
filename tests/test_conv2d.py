"""conv2d and the fused conv2d + ReLU: gradcheck over drawn geometries, reference vs numba
parity on the same draws, PyTorch comparison (skipped without torch), nn.Conv2d, the workspace
cache and bad input (the dW exercise checker is tested in tests/test_exercises.py)."""


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm
from tests.conftest import backend_names, examples
from tests.kernel_cases.conv2d import GEOMETRIES, TOL, WINOGRAD_GEOMETRIES
from tinymm import F, nn, tensor

BACKENDS = backend_names()


@st.composite
def geometries(draw):
    """A conv2d call: shapes and options, with inputs as small as the kernel allows."""
    N = draw(st.integers(1, 3))
    C = draw(st.integers(1, 4))
    O = draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["int", "pair", "same", "valid"]))
    stride = (1, 1) if padding == "same" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if padding == "int":
        padding = draw(st.integers(0, 2))
        pads = (padding, padding)
    elif padding == "pair":
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        pads = padding
    else:
        pads = (0, 0)  # "same" fits any input; "valid" needs the footprint
    foot_h, foot_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    H = max(1, foot_h - 2 * pads[0]) + draw(st.integers(0, 3))  # barely larger than the kernel
    W = max(1, foot_w - 2 * pads[1]) + draw(st.integers(0, 3))
    bias = draw(st.booleans())
    return dict(x=(N, C, H, W), w=(O, C, kh, kw), bias=bias,
                options=dict(stride=stride, padding=padding, dilation=(dh, dw)))


def _arrays(g, dtype=np.float64, seed=0):
    r = np.random.default_rng(seed)
    x = r.standard_normal(g["x"]).astype(dtype)
    w = r.standard_normal(g["w"]).astype(dtype)
    b = r.standard_normal(g["w"][0]).astype(dtype) if g["bias"] else None
    return x, w, b


def _conv_fn(op, options, with_bias):
    if with_bias:
        return lambda x, w, b: op(x, w, b, **options)
    return lambda x, w: op(x, w, None, **options)


@pytest.mark.parametrize("fused", [False, True], ids=["conv2d", "conv2d_relu"])
@settings(max_examples=examples(10))
@given(g=geometries())
def test_gradcheck(g, fused):
    """The reference backend against finite differences; the numba backend is tied to it by
    test_numba_matches_reference on the same draws (and by the fixed cases below)."""
    x, w, b = _arrays(g)
    op = F.conv2d_relu if fused else F.conv2d
    inputs = [x, w] + ([b] if b is not None else [])
    with tinymm.use_backend("reference"):
        assert tinymm.gradcheck(_conv_fn(op, g["options"], b is not None), inputs)


NUMBA_GRADCHECK_CASES = [
    dict(x=(2, 2, 5, 4), w=(3, 2, 3, 3), bias=True, options=dict(padding="same")),
    dict(x=(1, 3, 7, 6), w=(2, 3, 2, 3), bias=False,
         options=dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))),
]


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "reference"])
@pytest.mark.parametrize("fused", [False, True], ids=["conv2d", "conv2d_relu"])
@pytest.mark.parametrize("g", NUMBA_GRADCHECK_CASES, ids=["same", "strided-dilated"])
def test_gradcheck_other_backends(g, fused, backend):
    # each finite-difference evaluation pays a parallel kernel launch: a few fixed cases
    x, w, b = _arrays(g)
    op = F.conv2d_relu if fused else F.conv2d
    inputs = [x, w] + ([b] if b is not None else [])
    with tinymm.use_backend(backend):
        assert tinymm.gradcheck(_conv_fn(op, g["options"], b is not None), inputs)


def test_winograd_matrices_compute_the_correlation():
    """A^T [(G g) * (B^T d)] is the valid correlation of d (6 values) with g (3): y[i] =
    sum_j g[j] d[i + j], for every pair of basis vectors (so for all d and g, by linearity),
    to float64 rounding (G's thirds and fifteenths are not exact)."""
    from tinymm.kernels.numba_cpu import _winograd

    for k in range(6):
        for j in range(3):
            d, g = np.eye(6)[k], np.eye(3)[j]
            y = _winograd.AT @ ((_winograd.G @ g) * (_winograd.BT @ d))
            np.testing.assert_allclose(y, [g @ d[i:i + 3] for i in range(4)], rtol=0,
                                       atol=1e-15)
    np.testing.assert_array_equal(_winograd.GG, np.kron(_winograd.G, _winograd.G))


@pytest.fixture
def winograd_on(monkeypatch):
    """The numba backend's Winograd F(4x4, 3x3) conv path, switched on (the default, which
    TINYMM_WINOGRAD=0 turns off for a whole process)."""
    if "numba" not in BACKENDS:
        pytest.skip("numba backend unavailable")
    from tinymm.kernels.numba_cpu import conv2d as numba_conv

    monkeypatch.setattr(numba_conv, "WINOGRAD", True)
    return numba_conv


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("fused", [False, True], ids=["conv2d", "conv2d_relu"])
@pytest.mark.parametrize("label,make,winograd", WINOGRAD_GEOMETRIES,
                         ids=[g[0] for g in WINOGRAD_GEOMETRIES])
def test_winograd_path_matches_reference(label, make, winograd, fused, dtype, winograd_on):
    from tinymm.kernels.reference import conv2d as ref_conv

    (x, w, b), options = make(np.random.default_rng(3), np.dtype(dtype))
    name = "conv2d_relu" if fused else "conv2d"
    out, cache = getattr(winograd_on, name + "_forward")(x, w, b, **options)
    ref_out, ref_cache = getattr(ref_conv, name + "_forward")(x, w, b, **options)
    assert cache[0] == ("winograd" if winograd else "im2col")
    tol = TOL[dtype]
    np.testing.assert_allclose(out, ref_out, rtol=0, atol=tol * np.abs(ref_out).max())
    dout = np.random.default_rng(4).standard_normal(out.shape).astype(dtype)
    grads = getattr(winograd_on, name + "_backward")(dout, cache)
    ref_grads = getattr(ref_conv, name + "_backward")(dout, ref_cache)
    for g, r in zip(grads, ref_grads):
        assert (g is None) == (r is None)
        if r is not None:
            assert g.dtype == r.dtype and g.shape == r.shape
            np.testing.assert_allclose(g, r, rtol=0, atol=tol * np.abs(r).max())


@pytest.mark.parametrize("fused", [False, True], ids=["conv2d", "conv2d_relu"])
def test_winograd_path_gradcheck(fused, winograd_on):
    g = dict(x=(2, 8, 5, 4), w=(3, 8, 3, 3), bias=True, options=dict(padding=1))
    x, w, b = _arrays(g)
    op = F.conv2d_relu if fused else F.conv2d
    with tinymm.use_backend("numba"):
        assert tinymm.gradcheck(_conv_fn(op, g["options"], True), [x, w, b])


@pytest.mark.parametrize("per_image", [True, False], ids=["images", "whole-batch"])
@pytest.mark.parametrize("fused", [False, True], ids=["conv2d", "conv2d_relu"])
@pytest.mark.parametrize("label,make", GEOMETRIES, ids=[g[0] for g in GEOMETRIES])
def test_numba_paths_match_reference(label, make, fused, per_image, monkeypatch):
    """Both numba im2col paths (one image per worker, and the whole batch at once) against
    the reference; the flat stride-1 geometries take the per-image path when it is on."""
    if "numba" not in BACKENDS:
        pytest.skip("numba backend unavailable")
    from tinymm.kernels.numba_cpu import conv2d as numba_conv
    from tinymm.kernels.reference import conv2d as ref_conv

    monkeypatch.setattr(numba_conv, "WINOGRAD", False)  # im2col for every shape
    monkeypatch.setattr(numba_conv, "PER_IMAGE", per_image)
    (x, w, b), options = make(np.random.default_rng(5), np.dtype(np.float64))
    name = "conv2d_relu" if fused else "conv2d"
    out, cache = getattr(numba_conv, name + "_forward")(x, w, b, **options)
    ref_out, ref_cache = getattr(ref_conv, name + "_forward")(x, w, b, **options)
    flat = options.get("stride", 1) == 1 and out.shape[3] == x.shape[3]
    assert cache[0] == ("images" if per_image and flat else "im2col")
    np.testing.assert_allclose(out, ref_out, rtol=0, atol=1e-12 * np.abs(ref_out).max())
    dout = np.random.default_rng(6).standard_normal(out.shape)
    grads = getattr(numba_conv, name + "_backward")(dout, cache)
    for g, r in zip(grads, getattr(ref_conv, name + "_backward")(dout, ref_cache)):
        assert (g is None) == (r is None)
        if r is not None:
            np.testing.assert_allclose(g, r, rtol=0, atol=1e-12 * np.abs(r).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("fused", [False, True], ids=["conv2d", "conv2d_relu"])
@settings(max_examples=examples(12))
@given(g=geometries())
def test_numba_matches_reference(g, fused, dtype):
    if "numba" not in BACKENDS:
        pytest.skip("numba backend unavailable")
    x, w, b = _arrays(g, dtype)
    name = "conv2d_relu" if fused else "conv2d"
    results = {}
    for backend in ("reference", "numba"):
        kernels = tinymm.get_backend(backend)
        out, cache = getattr(kernels, f"{name}_forward")(x, w, b, **g["options"])
        dout = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
        results[backend] = (out, *getattr(kernels, f"{name}_backward")(dout, cache))
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for ref, got, what in zip(results["reference"], results["numba"], ["out", "dx", "dW", "db"]):
        if ref is None:
            assert got is None, what
            continue
        assert got.shape == ref.shape and got.dtype == ref.dtype, what
        scale = max(np.abs(ref).max(), 1e-30)
        assert np.abs(got - ref).max() / scale <= tol, what


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fused", [False, True], ids=["conv2d", "conv2d_relu"])
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=examples(8))
@given(g=geometries())
def test_matches_torch(g, fused, backend):
    torch = pytest.importorskip("torch")
    x, w, b = _arrays(g)
    with tinymm.use_backend(backend):
        xt, wt = tensor(x, requires_grad=True), tensor(w, requires_grad=True)
        bt = tensor(b, requires_grad=True) if b is not None else None
        op = F.conv2d_relu if fused else F.conv2d
        out = op(xt, wt, bt, **g["options"])
        v = np.random.default_rng(2).standard_normal(out.shape)
        out.backward(v)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True) if b is not None else None
    opts = g["options"]
    tout = torch.nn.functional.conv2d(tx, tw, tb, stride=opts["stride"],
                                      padding=opts["padding"], dilation=opts["dilation"])
    if fused:
        tout = torch.relu(tout)
    tout.backward(torch.tensor(v))
    np.testing.assert_allclose(out.array, tout.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(wt.grad, tw.grad.numpy(), rtol=1e-10, atol=1e-10)
    if b is not None:
        np.testing.assert_allclose(bt.grad, tb.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_stays_float32(backend):
    r = np.random.default_rng(0)
    x = tensor(r.standard_normal((2, 3, 5, 5)).astype(np.float32), requires_grad=True)
    w = tensor(r.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    with tinymm.use_backend(backend):
        out = F.conv2d_relu(x, w, None, padding=1)
        out.sum().backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32 and w.grad.dtype == np.float32


# ------------------------------------------------------------------------- nn.Conv2d
@pytest.mark.parametrize("backend", BACKENDS)
def test_layer_gradcheck_and_fused_equals_unfused(backend):
    nn.init.seed(3)
    fused = nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=1, activation="relu", dtype=np.float64)
    plain = nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=1, dtype=np.float64)
    plain.load_state_dict(fused.state_dict())
    x = np.random.default_rng(4).standard_normal((2, 2, 7, 6))
    with tinymm.use_backend(backend):
        assert tinymm.gradcheck(lambda a, w, b: F.conv2d_relu(a, w, b, (2, 1), 1),
                                [x, fused.weight, fused.bias])
        xa, xb = tensor(x, requires_grad=True), tensor(x, requires_grad=True)
        fused(xa).sum().backward()
        plain(xb).relu().sum().backward()
    np.testing.assert_allclose(fused(tensor(x)).array, plain(tensor(x)).relu().array)
    np.testing.assert_allclose(xa.grad, xb.grad, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fused.weight.grad, plain.weight.grad, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fused.bias.grad, plain.bias.grad, rtol=1e-12, atol=1e-12)


def test_layer_init_and_names_like_torch():
    nn.init.seed(0)
    conv = nn.Conv2d(3, 8, 3, padding="same")
    assert [name for name, _ in conv.named_parameters()] == ["weight", "bias"]
    assert conv.weight.shape == (8, 3, 3, 3) and conv.bias.shape == (8,)
    assert conv.weight.dtype == np.float32
    bound = 1 / np.sqrt(3 * 3 * 3)  # kaiming_uniform(a=sqrt(5)) on fan_in = C*kh*kw
    assert np.abs(conv.weight.array).max() <= bound and np.abs(conv.bias.array).max() <= bound
    assert np.abs(conv.weight.array).max() > 0.8 * bound  # spread over the whole range
    assert nn.Conv2d(3, 8, 3, bias=False).bias is None
    assert "activation='relu'" in repr(nn.Conv2d(3, 8, 3, activation="relu"))


def test_layer_with_torch_weights_matches_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tconv = torch.nn.Conv2d(3, 5, 3, stride=2, padding=1, dilation=1).double()
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1, activation="relu", dtype=np.float64)
    conv.load_state_dict({k: v.detach().numpy() for k, v in tconv.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 8))
    tx = torch.tensor(x, requires_grad=True)
    tout = torch.relu(tconv(tx))
    tout.sum().backward()
    xt = tensor(x, requires_grad=True)
    out = conv(xt)
    out.sum().backward()
    np.testing.assert_allclose(out.array, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv.weight.grad, tconv.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(conv.bias.grad, tconv.bias.grad.numpy(), rtol=1e-10)


def test_default_init_distribution_matches_torch():
    torch = pytest.importorskip("torch")
    tw = torch.nn.Conv2d(16, 32, 3).weight.detach().numpy()
    nn.init.seed(1)
    w = nn.Conv2d(16, 32, 3).weight.array
    assert abs(w.std() - tw.std()) < 0.1 * tw.std()
    assert abs(np.abs(w).max() - np.abs(tw).max()) < 0.02 * np.abs(tw).max()


# ------------------------------------------------------------------- workspace cache
def test_recycled_buffers_never_alias_live_arrays():
    if "numba" not in BACKENDS:
        pytest.skip("numba backend unavailable")
    r = np.random.default_rng(0)
    x1, x2 = (r.standard_normal((4, 8, 16, 16)).astype(np.float32) for _ in range(2))
    w = r.standard_normal((16, 8, 3, 3)).astype(np.float32)
    with tinymm.use_backend("numba"):
        a1, b1 = tensor(x1, requires_grad=True), tensor(x2, requires_grad=True)
        out1 = F.conv2d_relu(a1, tensor(w), None, padding=1)
        out2 = F.conv2d_relu(b1, tensor(w), None, padding=1)  # same shapes: same buffer sizes
        out1.backward(np.ones(out1.shape, np.float32))  # backward after a second forward
        out2.backward(np.ones(out2.shape, np.float32))
        for _ in range(3):  # buffers returned and reused while out1/out2 stay alive
            F.conv2d_relu(tensor(x2), tensor(w, requires_grad=True), None,
                          padding=1).sum().backward()
    with tinymm.use_backend("reference"):
        a2, b2 = tensor(x1, requires_grad=True), tensor(x2, requires_grad=True)
        ref1 = F.conv2d_relu(a2, tensor(w), None, padding=1)
        ref2 = F.conv2d_relu(b2, tensor(w), None, padding=1)
        ref1.backward(np.ones(ref1.shape, np.float32))
        ref2.backward(np.ones(ref2.shape, np.float32))
    # within the Winograd path's rounding (TOL, relative to the largest value): a buffer
    # shared by two live arrays would be off by the values themselves
    for got, want in ((out1.array, ref1.array), (out2.array, ref2.array), (a1.grad, a2.grad),
                      (b1.grad, b2.grad)):
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL[np.float32] * np.abs(want).max())


def test_workspace_recycles_and_can_be_disabled():
    from tinymm.kernels.numba_cpu import _workspace as ws

    first = ws.empty((512, 1024), np.float32)
    address = first.__array_interface__["data"][0]
    view = first[3:]
    del first
    assert ws.empty((512, 1024), np.float32).__array_interface__["data"][0] != address  # view
    del view  # now the buffer is free
    again = ws.empty((512, 1024), np.float32)
    assert again.__array_interface__["data"][0] == address and again.flags.c_contiguous
    del again
    ws.set_enabled(False)
    try:
        assert isinstance(ws.empty((512, 1024), np.float32).base, type(None))
    finally:
        ws.set_enabled(True)


# ------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("x_shape, w_shape, options, message", [
    ((1, 3, 4, 4), (2, 3, 5, 5), {}, r"conv2d: the kernel .*larger than the padded input "
     r"\(4x4\) \(input \(1, 3, 4, 4\), weight \(2, 3, 5, 5\)\)"),
    ((1, 3, 2, 8), (2, 3, 3, 3), {"dilation": 2, "padding": 1},
     r"larger than the padded input \(4x10\)"),
    ((1, 4, 8, 8), (2, 3, 3, 3), {}, r"conv2d: input has 4 channels but the weight expects "
     r"in_channels = 3 \(input \(1, 4, 8, 8\), weight \(2, 3, 3, 3\)\)"),
    ((3, 8, 8), (2, 3, 3, 3), {}, r"conv2d: input must be 4-d \(N, C, H, W\), got input "
     r"\(3, 8, 8\), weight \(2, 3, 3, 3\).*unsqueeze"),
    ((1, 3, 8, 8), (2, 3, 3, 3), {"stride": 2, "padding": "same"},
     r"conv2d: padding='same' needs stride 1 .*input \(1, 3, 8, 8\), weight \(2, 3, 3, 3\)"),
    ((1, 3, 8, 8), (2, 3, 3, 3), {"padding": "full"}, r"conv2d: padding must be"),
    ((1, 3, 8, 8), (2, 3, 3, 3), {"stride": 0}, r"conv2d: stride must be >= 1"),
    ((1, 3, 8, 8), (2, 3, 3, 3), {"padding": -1}, r"conv2d: padding must be >= 0"),
    ((1, 3, 8, 8), (2, 3, 3), {}, r"conv2d: weight must be 4-d"),
])
def test_bad_input_raises_before_any_kernel(x_shape, w_shape, options, message):
    x = tensor(np.zeros(x_shape, np.float32))
    w = tensor(np.zeros(w_shape, np.float32))
    with pytest.raises(ValueError, match=message):
        F.conv2d(x, w, None, **options)


def test_bad_input_names_the_layer():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8, kernel_size=\(3, 3\).*input has 1 "
                                         r"channels.*input \(2, 1, 8, 8\), weight \(8, 3, 3, 3\)"):
        conv(tensor(np.zeros((2, 1, 8, 8), np.float32)))
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8\): padding='same' needs stride 1"):
        nn.Conv2d(3, 8, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"activation must be None or 'relu'"):
        nn.Conv2d(3, 8, 3, activation="tanh")


def test_bad_dtype_and_bias():
    x = tensor(np.zeros((1, 3, 8, 8), np.float32))
    w = tensor(np.zeros((2, 3, 3, 3), np.float64))
    with pytest.raises(TypeError, match=r"conv2d: inputs must share one dtype"):
        F.conv2d(x, w)
    with pytest.raises(ValueError, match=r"conv2d: bias must have shape \(2,\)"):
        F.conv2d(x, tensor(np.zeros((2, 3, 3, 3), np.float32)), tensor(np.zeros(3, np.float32)))


# ------------------------------------------------------------------------- "same" padding, pinned
# Expectations written out by hand for x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], independent of
# the shared geometry code: "same" pads (dilation * (k - 1)) // 2 before and the rest after, as
# PyTorch and TensorFlow do, so an even kernel puts its extra zero row/column at the bottom/right.
_X33 = np.arange(1, 10, dtype=np.float64).reshape(3, 3)


def _picks(row, col, k=3):
    """A k x k kernel that is 1 at (row, col): it copies one neighbour of each pixel."""
    w = np.zeros((k, k))
    w[row, col] = 1.0
    return w


SAME_CASES = [
    # (kernel, dilation, expected output), each element derived by hand from x above
    (_picks(1, 2), 1, [[2, 3, 0], [5, 6, 0], [8, 9, 0]]),  # out[i, j] = x[i, j + 1]
    (_picks(2, 1), 1, [[4, 5, 6], [7, 8, 9], [0, 0, 0]]),  # out[i, j] = x[i + 1, j]
    (_picks(0, 0), 1, [[0, 0, 0], [0, 1, 2], [0, 4, 5]]),  # out[i, j] = x[i - 1, j - 1]
    (np.ones((2, 2)), 1, [[12, 16, 9], [24, 28, 15], [15, 17, 9]]),  # x[i:i+2, j:j+2] summed
    (_picks(1, 0, k=2), 1, [[4, 5, 6], [7, 8, 9], [0, 0, 0]]),  # even k: offsets 0 and +1
    (np.ones((2, 2)), 2, [[5, 10, 5], [10, 20, 10], [5, 10, 5]]),  # dilated: x[i +- 1, j +- 1]
]


@pytest.mark.parametrize("backend", backend_names())
@pytest.mark.parametrize("kernel, dilation, expected", SAME_CASES)
def test_same_padding_matches_hand_computed_values(backend, kernel, dilation, expected):
    x = tensor(_X33[None, None])
    w = tensor(kernel[None, None])
    with tinymm.use_backend(backend):
        out = F.conv2d(x, w, None, padding="same", dilation=dilation)
        layer = nn.Conv2d(1, 1, kernel.shape, padding="same", dilation=dilation, bias=False,
                          dtype=np.float64)
        layer.weight.array[...] = kernel
        out_layer = layer(x)
    np.testing.assert_array_equal(out.array[0, 0], expected)
    np.testing.assert_array_equal(out_layer.array[0, 0], expected)


@pytest.mark.parametrize("kernel, dilation, expected", SAME_CASES[:5])
def test_keras_conv2d_same_padding_matches_hand_computed_values(kernel, dilation, expected):
    from tinymm import keras

    keras.clear_session()
    inp = keras.Input(shape=(3, 3, 1))
    conv = keras.layers.Conv2D(1, kernel.shape, padding="same", use_bias=False)
    model = keras.Model(inp, conv(inp))
    (name,) = [k for k in model.state_dict() if k.endswith("weight")]
    model.load_state_dict({name: kernel[None, None].astype(np.float32)})
    out = model.predict(_X33[None, :, :, None].astype(np.float32))  # channels last
    np.testing.assert_array_equal(out[0, :, :, 0], expected)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("path", ["images", "batch", "winograd"])
def test_input_gradient_is_skipped_when_the_input_needs_none(backend, path, monkeypatch):
    """need_dx=False (the op passes ctx.needs_input_grad): dx is None, dweight and dbias are
    the bits of the full backward, on every kernel path; through the op, an image that needs
    no gradient gets none while the weights get theirs."""
    from tinymm.kernels.numba_cpu import conv2d as numba_conv

    monkeypatch.setattr(numba_conv, "WINOGRAD", path == "winograd")
    r = np.random.default_rng(5)
    x = r.standard_normal((3, 8, 6, 7)).astype(np.float32)  # C = 8: Winograd's minimum
    w = r.standard_normal((5, 8, 3, 3)).astype(np.float32)
    b = r.standard_normal(5).astype(np.float32)
    options = dict(padding=1, stride=2 if path == "batch" else 1)
    kernels = tinymm.get_backend(backend)
    for name in ("conv2d", "conv2d_relu"):
        out, cache = getattr(kernels, f"{name}_forward")(x, w, b, **options)
        if backend == "numba":
            assert cache[0] == {"images": "images", "batch": "im2col"}.get(path, path)
        dout = r.standard_normal(out.shape).astype(np.float32)
        full = getattr(kernels, f"{name}_backward")(dout, cache)
        dx, dw, db = getattr(kernels, f"{name}_backward")(dout, cache, need_dx=False)
        assert dx is None and full[0] is not None
        np.testing.assert_array_equal(dw, full[1])
        np.testing.assert_array_equal(db, full[2])
    with tinymm.use_backend(backend):
        image, weight = tensor(x), tensor(w, requires_grad=True)
        F.conv2d_relu(image, weight, None, **options).sum().backward()
        assert image.grad is None and weight.grad is not None


def test_worker_pool_runs_every_task_once_and_raises_errors():
    """The per-image paths' task runner (kernels/numba_cpu/_threads.py): each index once,
    worker ids in range, a task's exception reaches the caller."""
    pytest.importorskip("numba")
    from tinymm.kernels.numba_cpu import _threads

    _, n_workers = _threads.workers()
    seen = []

    def task(worker, i):
        assert 0 <= worker < n_workers
        seen.append(i)

    _threads.run_tasks(task, 37)
    assert sorted(seen) == list(range(37))

    def failing(worker, i):
        if i == 5:
            raise ValueError("task 5")

    with pytest.raises(ValueError, match="task 5"):
        _threads.run_tasks(failing, 9)


def test_per_image_conv_leaves_numpys_blas_thread_count_as_it_was():
    """The workers run BLAS single-threaded; NumPy's OpenBLAS has one process-wide count,
    so a conv must put it back: GEMMs after it (LSTM, attention, linear) in this thread and
    in others keep the count they had before."""
    pytest.importorskip("numba")
    import threading

    from tinymm.kernels.numba_cpu import _threads
    from tinymm.kernels.numba_cpu import conv2d as numba_conv

    if _threads.workers()[0] is None:
        pytest.skip("no worker pool (one Numba thread, or OpenBLAS's count is not settable)")
    get, set_count = _threads.blas_functions()
    saved = get()
    set_count(2)
    try:
        seen = []
        _threads.run_tasks(lambda worker, i: seen.append(_threads.blas_threads()), 6)
        assert seen == [1] * 6
        r = np.random.default_rng(3)
        x = r.standard_normal((4, 5, 6, 7)).astype(np.float32)
        w = r.standard_normal((3, 5, 3, 3)).astype(np.float32)
        out, cache = numba_conv.conv2d_relu_forward(x, w, np.zeros(3, np.float32), padding=1)
        assert cache[0] == "images"
        numba_conv.conv2d_relu_backward(np.ones_like(out), cache)
        assert _threads.blas_threads() == 2
        other = []
        thread = threading.Thread(target=lambda: other.append(_threads.blas_threads()))
        thread.start()
        thread.join()
        assert other == [2]
    finally:
        set_count(saved)


@pytest.mark.parametrize("winograd", [False, True], ids=["images", "winograd"])
def test_per_image_gradients_do_not_depend_on_which_worker_took_which_image(winograd,
                                                                           monkeypatch):
    """The per-image paths hand images to workers dynamically; their weight gradients must
    be the same bits in any order (tinymm's determinism: the same run twice, same result)."""
    pytest.importorskip("numba")
    from tinymm.kernels.numba_cpu import _threads
    from tinymm.kernels.numba_cpu import conv2d as numba_conv

    monkeypatch.setattr(numba_conv, "WINOGRAD", winograd)
    r = np.random.default_rng(7)
    x = r.standard_normal((5, 8, 6, 7)).astype(np.float32)
    w = r.standard_normal((3, 8, 3, 3)).astype(np.float32)
    b = r.standard_normal(3).astype(np.float32)
    dout = r.standard_normal((5, 3, 6, 7)).astype(np.float32)

    def grads():
        out, cache = numba_conv.conv2d_relu_forward(x, w, b, padding=1)
        assert cache[0] == ("winograd" if winograd else "images")
        return [out.copy()] + [g.copy() for g in numba_conv.conv2d_relu_backward(dout, cache)]

    first = grads()

    def reversed_serial(task, count, n_workers=None):
        for i in reversed(range(count)):
            task(0, i)
        return 1

    monkeypatch.setattr(_threads, "run_tasks", reversed_serial)
    for a, c in zip(first, grads()):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("limit", [1, 600], ids=["one-row-blocks", "multi-row-blocks"])
@pytest.mark.parametrize("label,make", GEOMETRIES + [g[:2] for g in WINOGRAD_GEOMETRIES],
                         ids=[g[0] for g in GEOMETRIES + WINOGRAD_GEOMETRIES])
def test_row_blocks_of_the_per_image_path_match_the_reference(label, make, limit, monkeypatch):
    """The per-image path cuts each image's output rows into blocks whose col is at most
    COL_BLOCK_BYTES (the seed model's shapes are too small for more than one block in the
    other tests): with tiny limits (blocks of one row, and of a few rows), forward and
    backward, with and without ReLU, still match the reference; the blocks cover the rows
    once, in order."""
    pytest.importorskip("numba")
    from tinymm.kernels.numba_cpu import conv2d as numba_conv
    from tinymm.kernels.reference import conv2d as reference

    monkeypatch.setattr(numba_conv, "WINOGRAD", False)  # the im2col path's row blocks
    monkeypatch.setattr(numba_conv, "COL_BLOCK_BYTES", limit)
    for OH in (1, 5, 7):
        blocks = numba_conv._row_blocks(45, OH, 7, 8)
        assert [y for block in blocks for y in range(*block)] == list(range(OH))
    (x, w, b), options = make(np.random.default_rng(11), np.float64)
    tol = TOL[np.float64]
    for name in ("conv2d", "conv2d_relu"):
        out, cache = getattr(numba_conv, f"{name}_forward")(x, w, b, **options)
        want, want_cache = getattr(reference, f"{name}_forward")(x, w, b, **options)
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol)
        dout = np.random.default_rng(12).standard_normal(out.shape)
        got = getattr(numba_conv, f"{name}_backward")(dout, cache)
        for g, expected in zip(got, getattr(reference, f"{name}_backward")(dout, want_cache)):
            if expected is None:
                assert g is None
            else:
                np.testing.assert_allclose(g, expected, rtol=tol, atol=tol)


# --- the fused conv2d + ReLU + 2x2 max-pool (the seed encoder's conv2 -> ReLU -> pool1) ---

POOL_GEOMETRIES = [g for g in WINOGRAD_GEOMETRIES if g[0] != "wino-3x3-1x1-output"]


def _composed(x, w, b, options):
    """The unfused chain the fused op must equal: conv2d_relu, then max_pool2d(2)."""
    return F.max_pool2d(F.conv2d_relu(x, w, b, **options), 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("label,make,winograd", POOL_GEOMETRIES,
                         ids=[g[0] for g in POOL_GEOMETRIES])
def test_winograd_pool_path_matches_reference(label, make, winograd, dtype, winograd_on):
    """The pool made from the Winograd output tiles (odd sizes: the last row or column
    dropped) and its backward, against the reference's conv2d_relu + max_pool2d chain."""
    from tinymm.kernels.reference import conv2d as ref_conv

    (x, w, b), options = make(np.random.default_rng(5), np.dtype(dtype))
    out, cache = winograd_on.conv2d_relu_max_pool2d_forward(x, w, b, **options)
    ref_out, ref_cache = ref_conv.conv2d_relu_max_pool2d_forward(x, w, b, **options)
    assert cache[0] == ("winograd" if winograd else "composed")
    tol = TOL[dtype]
    assert out.shape == ref_out.shape and out.dtype == ref_out.dtype
    np.testing.assert_allclose(out, ref_out, rtol=0, atol=tol * np.abs(ref_out).max())
    dp = np.random.default_rng(6).standard_normal(out.shape).astype(dtype)
    for need_dx in (True, False):
        grads = winograd_on.conv2d_relu_max_pool2d_backward(dp, cache, need_dx=need_dx)
        ref_grads = ref_conv.conv2d_relu_max_pool2d_backward(dp, ref_cache, need_dx=need_dx)
        for g, r in zip(grads, ref_grads):
            assert (g is None) == (r is None)
            if r is not None:
                assert g.dtype == r.dtype and g.shape == r.shape
                np.testing.assert_allclose(g, r, rtol=0, atol=tol * max(np.abs(r).max(), 1e-30))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bias", [2.0, -1.0], ids=["all-tied-positive", "all-clipped"])
def test_conv2d_relu_max_pool2d_ties(backend, bias):
    """Every conv output equal (zero weights): with a positive bias each window's gradient
    goes to its first element (row-major), as max_pool2d's; with a negative one the ReLU
    clips everything to 0 and no gradient passes. C = 8 takes the numba Winograd path."""
    x = np.random.default_rng(7).standard_normal((2, 8, 6, 6))
    w = np.zeros((3, 8, 3, 3))
    b = np.full(3, bias)
    dp = np.random.default_rng(8).standard_normal((2, 3, 3, 3))
    with tinymm.use_backend(backend):
        tx, tw, tb = (tensor(a, requires_grad=True) for a in (x, w, b))
        p = F.conv2d_relu_max_pool2d(tx, tw, tb, padding=1)
        p.backward(dp)
    np.testing.assert_array_equal(p.detach().numpy(), np.full((2, 3, 3, 3), max(bias, 0.0)))
    dr = np.zeros((2, 3, 6, 6))
    if bias > 0:
        dr[:, :, ::2, ::2] = dp  # each window's first element
    with tinymm.use_backend("reference"):  # the same dr through conv2d_relu's backward
        rx, rw, rb = (tensor(a, requires_grad=True) for a in (x, w, b))
        F.conv2d_relu(rx, rw, rb, padding=1).backward(dr)
    for got, want in ((tx, rx), (tw, rw), (tb, rb)):
        np.testing.assert_allclose(got.grad.numpy(), want.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(2, 8, 5, 7), (1, 3, 6, 4)], ids=["winograd-odd", "c3"])
def test_conv2d_relu_max_pool2d_gradcheck_and_composition(backend, shape):
    """Finite differences on every backend, and the same values and gradients as the unfused
    conv2d_relu -> max_pool2d chain (8 input channels: the numba Winograd path; 3: the
    composed one)."""
    x = np.random.default_rng(9).standard_normal(shape)
    w = np.random.default_rng(10).standard_normal((3, shape[1], 3, 3)) * 0.5
    b = np.random.default_rng(11).standard_normal(3) * 0.1
    options = dict(padding=1)
    with tinymm.use_backend(backend):
        assert tinymm.gradcheck(lambda x, w, b: F.conv2d_relu_max_pool2d(x, w, b, **options),
                                [x, w, b])
        fused = [tensor(a, requires_grad=True) for a in (x, w, b)]
        chain = [tensor(a, requires_grad=True) for a in (x, w, b)]
        p = F.conv2d_relu_max_pool2d(*fused, **options)
        q = _composed(*chain, options)
        dp = np.random.default_rng(12).standard_normal(p.shape)
        p.backward(dp)
        q.backward(dp)
    np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-12, atol=1e-12)
    for a, c in zip(fused, chain):
        np.testing.assert_allclose(a.grad.numpy(), c.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_conv2d_relu_max_pool2d_needs_a_2x2_output():
    x, w = tensor(np.zeros((1, 8, 3, 3))), tensor(np.zeros((2, 8, 3, 3)))
    with pytest.raises(ValueError, match=r"conv2d_relu_max_pool2d: the conv output \(1x1\) is "
                                         r"smaller than the 2x2 pool window"):
        F.conv2d_relu_max_pool2d(x, w, None)
    with pytest.raises(ValueError, match="conv2d_relu_max_pool2d: input has 8 channels"):
        F.conv2d_relu_max_pool2d(x, tensor(np.zeros((2, 4, 3, 3))), None, padding=1)


@pytest.mark.parametrize("early_pool", [False, True], ids=["seed", "early-pool"])
def test_image_tower_fused_pool_equals_the_modules(early_pool, monkeypatch):
    """The tower's conv -> pool pairs as one fused node give the modules' values and
    gradients; a hook on a module sends the pair back through the modules."""
    from tinymm.models import MultimodalConfig, MultimodalVQA, towers

    nn.init.seed(0)
    model = MultimodalVQA(MultimodalConfig(vocab_size=12, num_answers=5, image_size=8,
                                           early_pool=early_pool, batch_norm=False))
    image = np.random.default_rng(13).standard_normal((2, 3, 8, 8)).astype(np.float32)
    results = []
    for fuse in (True, False):
        if not fuse:
            monkeypatch.setattr(towers, "FUSE_CONV_POOL", False)
        model.zero_grad()
        fmap = model.encode_image(tensor(image))
        (fmap * fmap).sum().backward()
        results.append([fmap.detach().numpy()] + [p.grad.numpy().copy() for p in
                                                  (model.conv1.weight, model.conv2.weight,
                                                   model.conv2.bias)])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
    assert towers._fusable(model.conv2, model.pool1)
    handle = model.pool1.register_forward_hook(lambda module, args, out: None)
    assert not towers._fusable(model.conv2, model.pool1)
    handle.remove()
    assert towers._fusable(model.conv2, model.pool1)


@pytest.mark.parametrize("pool", [False, True], ids=["conv2d_relu", "conv2d_relu_max_pool2d"])
def test_winograd_paths_never_read_uninitialised_workspace(pool, winograd_on, monkeypatch):
    """Every workspace buffer handed out filled with NaN (floats) or -1 (integers): the
    Winograd kernels must write each scratch value before reading it, so the results still
    match the reference (N = 3: both workers' scratch in use)."""
    from tinymm.kernels.numba_cpu import _workspace

    def poisoned(shape, dtype):
        return np.full(shape, np.nan if np.dtype(dtype).kind == "f" else -1, dtype)

    monkeypatch.setattr(_workspace, "empty", poisoned)
    _winograd_matches_reference(winograd_on, pool, (3, 8, 6, 5), 4, np.float32, 14,
                                TOL[np.float32])


def _winograd_matches_reference(numba_conv, pool, x_shape, O, dtype, seed, tol):
    """conv2d_relu (or with pool, conv2d_relu_max_pool2d) 3x3 padding 1 on the numba Winograd
    path: forward and every gradient within tol * max|reference| of the reference's."""
    from tinymm.kernels.reference import conv2d as ref_conv

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((O, x_shape[1], 3, 3)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype)
    name = "conv2d_relu_max_pool2d" if pool else "conv2d_relu"
    out, cache = getattr(numba_conv, name + "_forward")(x, w, b, padding=1)
    ref_out, ref_cache = getattr(ref_conv, name + "_forward")(x, w, b, padding=1)
    assert cache[0] == "winograd"
    np.testing.assert_allclose(out, ref_out, rtol=0, atol=tol * np.abs(ref_out).max())
    dout = rng.standard_normal(out.shape).astype(dtype)
    for g, r in zip(getattr(numba_conv, name + "_backward")(dout, cache),
                    getattr(ref_conv, name + "_backward")(dout, ref_cache)):
        np.testing.assert_allclose(g, r, rtol=0, atol=tol * np.abs(r).max())


@pytest.mark.parametrize("nt", [False, True], ids=["copy-nn", "nt"])
@pytest.mark.parametrize("pool", [False, True], ids=["conv2d_relu", "conv2d_relu_max_pool2d"])
def test_winograd_weight_gradient_in_both_gemm_forms_matches_reference(nt, pool, winograd_on,
                                                                      monkeypatch):
    """dU = dM @ V^T per image, by BLAS's NT form on V or the NN form on a copy of V^T
    (_winograd.dU_reads_v_transposed picks one per OpenBLAS core): both give the reference's
    gradients."""
    from tinymm.kernels.numba_cpu import _winograd

    monkeypatch.setattr(_winograd, "dU_reads_v_transposed", lambda O, C, T: nt)
    _winograd_matches_reference(winograd_on, pool, (3, 8, 7, 6), 5, np.float64, 15, 1e-12)


@pytest.mark.parametrize("bound,expected", [(None, [False, False]), (0, [True, True]),
                                            (10 ** 6, [False, True])])
def test_winograd_weight_gradient_form_follows_the_small_matrix_kernels(bound, expected,
                                                                       monkeypatch):
    """The NT form where NumPy's OpenBLAS packs the product (no small-matrix kernels, or a
    product above their bound); the copy of V^T where they would read V in place, and where
    the library is unknown. Products: the seed's conv B (64 x 32 x 72 = 147,456) and one
    above 10^6."""
    from tinymm.kernels.numba_cpu import _winograd

    monkeypatch.setattr(_winograd, "numpy_small_gemm_bound", lambda: bound)
    assert [_winograd.dU_reads_v_transposed(64, 32, 72),
            _winograd.dU_reads_v_transposed(128, 64, 144)] == expected

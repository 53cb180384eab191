"""Pooling and flatten: gradcheck over drawn geometries, reference vs numba parity, PyTorch
comparison (ties and NaN included; skipped without torch), nn layers, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm
from tests.conftest import backend_names, examples
from tinymm import F, nn, tensor

BACKENDS = backend_names()
OPS = {"max": F.max_pool2d, "avg": F.avg_pool2d}


@st.composite
def geometries(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    H = max(1, kh - 2 * padding[0]) + draw(st.integers(0, 3))
    W = max(1, kw - 2 * padding[1]) + draw(st.integers(0, 3))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), H, W)
    return shape, dict(kernel_size=(kh, kw), stride=stride, padding=padding)


def _distinct(shape, seed=0):
    """Values at least 0.1 apart: finite differences never cross a tie (max has kinks)."""
    r = np.random.default_rng(seed)
    return r.permutation(int(np.prod(shape))).reshape(shape) / 10.0 - 1.0


@pytest.mark.parametrize("kind", ["max", "avg"])
@settings(max_examples=examples(12))
@given(g=geometries())
def test_gradcheck(g, kind):
    """The reference against finite differences; numba is tied to it by the parity test on
    the same draws and by the fixed cases below."""
    shape, options = g
    with tinymm.use_backend("reference"):
        assert tinymm.gradcheck(lambda x: OPS[kind](x, **options), [_distinct(shape)])


@settings(max_examples=examples(8))
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 6),
                       st.integers(1, 6)),
       out=st.tuples(st.integers(1, 3), st.integers(1, 3)))
def test_adaptive_gradcheck(shape, out):
    out = (min(out[0], shape[2]), min(out[1], shape[3]))
    with tinymm.use_backend("reference"):
        assert tinymm.gradcheck(lambda x: F.adaptive_avg_pool2d(x, out),
                                [np.random.default_rng(0).standard_normal(shape)])


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "reference"])
@pytest.mark.parametrize("call", [
    lambda x: F.max_pool2d(x, 2), lambda x: F.max_pool2d(x, 3, stride=(2, 1), padding=1),
    lambda x: F.avg_pool2d(x, (2, 3), padding=(1, 1)), lambda x: F.adaptive_avg_pool2d(x, 2)],
    ids=["max2x2", "max3-overlap-pad", "avg-pad", "adaptive"])
def test_gradcheck_other_backends(call, backend):
    with tinymm.use_backend(backend):
        assert tinymm.gradcheck(call, [_distinct((2, 2, 5, 6))])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("kind", ["max", "avg"])
@settings(max_examples=examples(12))
@given(g=geometries(), ties=st.booleans())
def test_numba_matches_reference(g, kind, dtype, ties):
    if "numba" not in BACKENDS:
        pytest.skip("numba backend unavailable")
    shape, options = g
    r = np.random.default_rng(0)
    x = (r.integers(0, 3, shape) if ties else r.standard_normal(shape)).astype(dtype)
    results = {}
    for backend in ("reference", "numba"):
        kernels = tinymm.get_backend(backend)
        out, cache = getattr(kernels, f"{kind}_pool2d_forward")(x, **options)
        dout = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
        (dx,) = getattr(kernels, f"{kind}_pool2d_backward")(dout, cache)
        results[backend] = (out, dx)
    for ref, got in zip(results["reference"], results["numba"]):
        assert got.shape == ref.shape and got.dtype == ref.dtype
        np.testing.assert_allclose(got, ref, rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("options", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)],
                         ids=["2x2", "3x3-s2-pad"])
@pytest.mark.parametrize("pieces", [2, 4, 7])
def test_numba_max_pool_split_over_workers_matches_reference(options, pieces, monkeypatch):
    """The max-pool kernels share the planes between the thread pool's workers from
    PLANES_SPLIT_BYTES on (the seed model's maps, too large for a test): forced on for a small
    map, every split (planes not divisible by the pieces included) gives the reference's bits
    and routes every gradient, ties to the first maximum."""
    if "numba" not in BACKENDS:
        pytest.skip("numba backend unavailable")
    from tinymm.kernels.numba_cpu import _threads
    from tinymm.kernels.numba_cpu import pool2d as numba_pool

    if not _threads.pooled(2):
        pytest.skip("no thread pool here (one Numba thread, or no settable BLAS)")
    monkeypatch.setattr(numba_pool, "PLANES_SPLIT_BYTES", 0)
    monkeypatch.setattr(numba_pool, "PIECES_PER_WORKER", pieces)
    r = np.random.default_rng(2)
    x = r.integers(0, 4, (3, 5, 8, 10)).astype(np.float32)  # 15 planes, many ties
    dout = None
    results = {}
    for backend in ("reference", "numba"):
        kernels = tinymm.get_backend(backend)
        out, cache = kernels.max_pool2d_forward(x, **options)
        if dout is None:
            dout = r.standard_normal(out.shape).astype(np.float32)
        (dx,) = kernels.max_pool2d_backward(dout, cache)
        results[backend] = (out.copy(), dx.copy())
    for ref, got in zip(results["reference"], results["numba"]):
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["max", "avg"])
@settings(max_examples=examples(8))
@given(g=geometries(), ties=st.booleans())
def test_matches_torch(g, kind, backend, ties):
    torch = pytest.importorskip("torch")
    shape, options = g
    r = np.random.default_rng(0)
    x = r.integers(0, 3, shape).astype(np.float64) if ties else r.standard_normal(shape)
    with tinymm.use_backend(backend):
        xt = tensor(x, requires_grad=True)
        out = OPS[kind](xt, **options)
        v = np.random.default_rng(1).standard_normal(out.shape)
        out.backward(v)
    tx = torch.tensor(x, requires_grad=True)
    top = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
    tout = top(tx, **options)
    tout.backward(torch.tensor(v))
    np.testing.assert_allclose(out.array, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool_nan_propagates_like_torch(backend):
    torch = pytest.importorskip("torch")
    x = np.arange(2 * 1 * 4 * 4, dtype=np.float32).reshape(2, 1, 4, 4)
    x[0, 0, 1, 0] = np.nan
    with tinymm.use_backend(backend):
        xt = tensor(x, requires_grad=True)
        out = F.max_pool2d(xt, 2)
        out.backward(np.ones(out.shape, np.float32))
    tx = torch.tensor(x, requires_grad=True)
    tout = torch.nn.functional.max_pool2d(tx, 2)
    tout.backward(torch.ones_like(tout))
    np.testing.assert_array_equal(out.array, tout.detach().numpy())  # NaN == NaN here
    np.testing.assert_array_equal(xt.grad, tx.grad.numpy())


@pytest.mark.parametrize("backend", BACKENDS)
def test_tie_sends_the_gradient_to_the_first_maximum(backend):
    x = tensor(np.array([[[[2.0, 2.0], [2.0, 1.0]]]]), requires_grad=True)
    with tinymm.use_backend(backend):
        F.max_pool2d(x, 2).backward(np.array([[[[5.0]]]]))
    np.testing.assert_array_equal(x.grad, [[[[5.0, 0.0], [0.0, 0.0]]]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_adaptive_matches_torch_and_global_mean(backend):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 5))
    for size in (1, (1, 1), (3, 2), (7, 5)):
        with tinymm.use_backend(backend):
            xt = tensor(x, requires_grad=True)
            out = F.adaptive_avg_pool2d(xt, size)
            out.backward(np.ones(out.shape))
        tx = torch.tensor(x, requires_grad=True)
        tout = torch.nn.functional.adaptive_avg_pool2d(tx, size)
        tout.backward(torch.ones_like(tout))
        np.testing.assert_allclose(out.array, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(tensor(x), 1).array[..., 0, 0],
                               x.mean(axis=(2, 3)))


def test_float32_stays_float32():
    x = tensor(np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32),
               requires_grad=True)
    for layer in (nn.MaxPool2d(2), nn.AvgPool2d(3, 2, 1), nn.AdaptiveAvgPool2d(1)):
        out = layer(x)
        out.sum().backward()
        assert out.dtype == np.float32 and x.grad.dtype == np.float32


# ---------------------------------------------------------------- layers and flatten
def test_layers_and_flatten():
    x = tensor(_distinct((2, 3, 8, 6)), requires_grad=True)
    model = nn.Sequential(nn.MaxPool2d(2), nn.AvgPool2d(2, stride=1), nn.Flatten())
    out = model(x)
    assert out.shape == (2, 3 * 3 * 2)
    assert tinymm.gradcheck(lambda a: model(a), [_distinct((1, 2, 6, 4))])
    assert nn.MaxPool2d(2).stride == 2 and "kernel_size=3" in repr(nn.AvgPool2d(3))
    assert F.flatten(tensor(np.zeros((2, 3, 4, 5))), 1, 2).shape == (2, 12, 5)
    assert nn.Flatten(0)(tensor(np.zeros((2, 3)))).shape == (6,)
    assert not list(nn.MaxPool2d(2).parameters())


def test_encoder_shapes():
    """The multimodal model's image encoder, end to end."""
    encoder = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding="same", activation="relu"),
        nn.Conv2d(32, 64, 3, padding="same", activation="relu"),
        nn.MaxPool2d(2), nn.MaxPool2d(2), nn.Flatten())
    x = tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32))
    out = encoder(x)
    assert out.shape == (2, 64 * 8 * 8) and out.dtype == np.float32
    out.sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in encoder.parameters())


# ------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, message", [
    (lambda x: F.max_pool2d(x[0], 2), r"max_pool2d: input must be 4-d \(N, C, H, W\), got "
     r"shape \(3, 5, 5\).*unsqueeze"),
    (lambda x: F.max_pool2d(x, 7), r"max_pool2d: the window \(7, 7\) is larger than the "
     r"padded input \(5, 5\) \(input \(1, 3, 5, 5\)\)"),
    (lambda x: F.avg_pool2d(x, 2, padding=2), r"avg_pool2d: padding \(2, 2\) must be at most "
     r"half the window \(2, 2\)"),
    (lambda x: F.max_pool2d(x, 0), r"max_pool2d: kernel_size must be >= 1"),
    (lambda x: F.max_pool2d(x, 2, stride=(1, 0)), r"max_pool2d: stride must be >= 1"),
    (lambda x: F.adaptive_avg_pool2d(x, 0), r"adaptive_avg_pool2d: output_size must be >= 1"),
    (lambda x: nn.MaxPool2d(9)(x), r"MaxPool2d\(kernel_size=9, stride=9, padding=0\): the "
     r"window \(9, 9\) is larger"),
    (lambda x: F.flatten(x, 2, 1), r"flatten: start_dim=2 comes after end_dim=1"),
    (lambda x: F.flatten(x, 4), r"flatten: start_dim: Dimension out of range"),
])
def test_bad_input(call, message):
    x = tensor(np.zeros((1, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match=message):
        call(x)


def test_integer_input_is_rejected():
    with pytest.raises(TypeError, match=r"max_pool2d: input must be float32 or float64"):
        F.max_pool2d(tensor(np.zeros((1, 1, 4, 4), np.int64)), 2)

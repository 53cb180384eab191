"""Batch normalization: gradcheck over drawn shapes and modes with the numba backend held to
the reference on the same draws (outputs, gradients, running statistics), PyTorch comparison
of the layers over several training steps and in eval, buffers, and bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm
from tinymm import functional as F
from tinymm import nn, tensor
from tinymm.tensor import Tensor


@st.composite
def bn_configs(draw):
    """(N, C, *spatial) with 0-2 spatial axes of 1-4, N*spatial >= 2, train or eval."""
    ndim = draw(st.integers(2, 4))
    shape = [draw(st.integers(1, 4)), draw(st.integers(1, 4))]
    shape += [draw(st.integers(1, 4)) for _ in range(ndim - 2)]
    if int(np.prod(shape)) // shape[1] < 2:
        shape[0] = 2  # training needs more than one value per channel
    return dict(shape=tuple(shape), affine=draw(st.booleans()), stats=draw(st.booleans()),
                training=draw(st.booleans()), momentum=draw(st.sampled_from([0.1, 0.5, 1.0])),
                offset=draw(st.sampled_from([0.0, 5.0])),
                seed=draw(st.integers(1, 2**16)))  # seed 0 would repeat gradcheck's upstream


def _inputs(cfg):
    rng = np.random.default_rng(cfg["seed"])
    C = cfg["shape"][1]
    x = rng.standard_normal(cfg["shape"]) * 2 + cfg["offset"]
    weight, bias = (rng.standard_normal(C), rng.standard_normal(C))
    running = (rng.standard_normal(C), rng.random(C) + 0.5)
    if not cfg["stats"] and not cfg["training"]:
        cfg = dict(cfg, stats=True)  # evaluation needs running statistics
    return x, weight, bias, running, cfg


def _function(cfg, running):
    """fn(x[, weight, bias]) -> F.batch_norm; each call normalises fresh copies of the stats."""
    def fn(x, *affine):
        weight, bias = affine if affine else (None, None)
        rm, rv = (a.copy() for a in running) if cfg["stats"] else (None, None)
        return F.batch_norm(x, rm, rv, weight, bias, training=cfg["training"],
                            momentum=cfg["momentum"], eps=1e-5)

    return fn


@given(cfg=bn_configs())
@settings(max_examples=12)
def test_batch_norm_gradcheck_and_parity(cfg):
    x, weight, bias, running, cfg = _inputs(cfg)
    inputs = [x, weight, bias] if cfg["affine"] else [x]
    fn = _function(cfg, running)
    results = {}
    for backend in ("reference", "numba"):
        with tinymm.use_backend(backend):
            if backend == "reference":  # the numba backend is held to the reference below
                assert tinymm.gradcheck(fn, inputs)
            leaves = [tensor(a.copy(), requires_grad=True) for a in inputs]
            rm, rv = (a.copy() for a in running)
            out = F.batch_norm(leaves[0], rm if cfg["stats"] else None,
                               rv if cfg["stats"] else None, *leaves[1:] if cfg["affine"]
                               else (None, None), training=cfg["training"],
                               momentum=cfg["momentum"])
            upstream = np.random.default_rng(3).standard_normal(out.shape)
            (out * tensor(upstream)).sum().backward()
            results[backend] = [out.array, rm, rv] + [t.grad.array for t in leaves]
    for ref, got in zip(results["reference"], results["numba"]):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def test_running_statistics_follow_the_momentum_rule():
    """An independent expectation: NumPy's mean and unbiased var over all axes but C."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 4, 5)) * 3 + 1
    expected_mean = 0.7 * 0.5 + 0.3 * x.mean(axis=(0, 2, 3))
    expected_var = 0.7 * 2.0 + 0.3 * x.var(axis=(0, 2, 3), ddof=1)
    for backend in ("reference", "numba"):
        rm, rv = np.full(2, 0.5), np.full(2, 2.0)
        with tinymm.use_backend(backend):
            out = F.batch_norm(tensor(x), rm, rv, training=True, momentum=0.3)
        np.testing.assert_allclose(rm, expected_mean, rtol=1e-12)
        np.testing.assert_allclose(rv, expected_var, rtol=1e-12)
        normalised = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(
            x.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
        np.testing.assert_allclose(out.array, normalised, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ PyTorch comparison
LAYER_CASES = [
    ("BatchNorm1d", (6, 4), dict()),
    ("BatchNorm1d", (3, 4, 5), dict(momentum=None)),
    ("BatchNorm2d", (2, 3, 4, 5), dict(eps=1e-3, momentum=0.2)),
    ("BatchNorm2d", (2, 3, 2, 2), dict(affine=False)),
    ("BatchNorm1d", (5, 3), dict(track_running_stats=False)),
]


@pytest.mark.parametrize("backend", ["reference", "numba"])
@pytest.mark.parametrize("case", range(len(LAYER_CASES)))
def test_layer_matches_torch_over_steps_and_eval(case, backend):
    torch = pytest.importorskip("torch")
    kind, shape, kwargs = LAYER_CASES[case]
    C = shape[1]
    ref = getattr(torch.nn, kind)(C, **kwargs).double()
    layer = getattr(nn, kind)(C, dtype=np.float64, **kwargs)
    rng = np.random.default_rng(case)
    if ref.affine:  # non-trivial affine parameters, copied into the layer
        with torch.no_grad():
            ref.weight.copy_(torch.tensor(rng.standard_normal(C)))
            ref.bias.copy_(torch.tensor(rng.standard_normal(C)))
    layer.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    with tinymm.use_backend(backend):
        for step, mode in enumerate(["train", "train", "train", "eval", "train", "eval"]):
            ref.train(mode == "train")
            layer.train(mode == "train")
            x = rng.standard_normal(shape) * (1 + step) + step
            up = rng.standard_normal(shape)
            xt = torch.tensor(x, requires_grad=True)
            out_t = ref(xt)
            (out_t * torch.tensor(up)).sum().backward()
            xm = tensor(x, requires_grad=True)
            layer.zero_grad()
            out = layer(xm)
            (out * tensor(up)).sum().backward()
            what = f"step {step} ({mode})"
            np.testing.assert_allclose(out.array, out_t.detach().numpy(), rtol=1e-9,
                                       atol=1e-10, err_msg=what)
            np.testing.assert_allclose(xm.grad.array, xt.grad.numpy(), rtol=1e-9, atol=1e-10,
                                       err_msg=what)
            for name, p in ref.named_parameters():
                np.testing.assert_allclose(getattr(layer, name).grad.array, p.grad.numpy(),
                                           rtol=1e-9, atol=1e-10, err_msg=f"{what} d{name}")
                p.grad = None
            for key, value in ref.state_dict().items():
                np.testing.assert_allclose(layer.state_dict()[key], value.numpy(), rtol=1e-12,
                                           atol=1e-14, err_msg=f"{what} {key}")


@pytest.mark.parametrize("training", [True, False])
def test_functional_matches_torch(training):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((4, 3, 5)), rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    rm_t, rv_t = torch.tensor(rm), torch.tensor(rv)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ot = torch.nn.functional.batch_norm(xt, rm_t, rv_t, wt, bt, training, 0.25, 1e-4)
    up = rng.standard_normal(x.shape)
    (ot * torch.tensor(up)).sum().backward()
    rm_m, rv_m = tensor(rm), tensor(rv)
    xm, wm, bm = (tensor(a, requires_grad=True) for a in (x, w, b))
    om = F.batch_norm(xm, rm_m, rv_m, wm, bm, training, 0.25, 1e-4)
    (om * tensor(up)).sum().backward()
    for got, want in [(om, ot), (rm_m, rm_t), (rv_m, rv_t), (xm.grad, xt.grad),
                      (wm.grad, wt.grad), (bm.grad, bt.grad)]:
        np.testing.assert_allclose(got.array, want.detach().numpy(), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ buffers and modes
def test_buffers_are_tensors_kept_in_place():
    layer = nn.BatchNorm1d(3)
    running_mean = layer.running_mean
    assert isinstance(running_mean, Tensor) and not running_mean.requires_grad
    assert [n for n, _ in layer.named_buffers()] == ["running_mean", "running_var",
                                                     "num_batches_tracked"]
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    layer(tinymm.randn(4, 3) * 2 + 1)
    assert layer.running_mean is running_mean and int(layer.num_batches_tracked.array) == 1
    assert np.any(running_mean.array != 0)
    state = layer.state_dict()
    state["running_mean"] = np.array([1.0, 2.0, 3.0])
    layer.load_state_dict(state)
    assert layer.running_mean is running_mean  # loaded in place
    np.testing.assert_array_equal(running_mean.array, np.float32([1, 2, 3]))
    layer.double()
    assert layer.running_mean is running_mean and running_mean.dtype == np.float64
    assert layer.num_batches_tracked.dtype == np.int64
    layer.running_var = tensor(np.full(3, 4.0))  # assignment keeps it a buffer
    assert "running_var" in dict(layer.named_buffers())
    assert set(nn.BatchNorm2d(2, track_running_stats=False).state_dict()) == {"weight", "bias"}


def test_eval_uses_running_statistics_and_train_updates_them():
    layer = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    bn = layer[1]
    x = tinymm.randn(8, 2)
    layer.eval()
    assert not bn.training
    out = layer(x)
    np.testing.assert_allclose(out.array, layer[0](x).array / np.sqrt(1 + 1e-5), rtol=1e-6)
    assert int(bn.num_batches_tracked.array) == 0 and np.all(bn.running_mean.array == 0)
    layer.train()
    with tinymm.no_grad():
        layer(x)
    assert int(bn.num_batches_tracked.array) == 1 and np.any(bn.running_mean.array != 0)


# ------------------------------------------------------------------ bad input
@pytest.fixture
def no_kernel(monkeypatch):
    """Make the batch_norm kernels explode, to prove validation runs before any kernel."""
    for name in ("reference", "numba"):
        def boom(*args, **kwargs):
            raise AssertionError("a kernel ran on bad input")

        monkeypatch.setitem(tinymm.get_backend(name).kernels, "batch_norm_forward", boom)


def test_bad_input(no_kernel):
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4-d \(N, C, H, W\) input, "
                                         r"got shape \(2, 3\)"):
        nn.BatchNorm2d(3)(tinymm.randn(2, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 2-d \(N, C\) or 3-d"):
        nn.BatchNorm1d(3)(tinymm.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"BatchNorm1d: input has 4 channels .*num_features=3"):
        nn.BatchNorm1d(3)(tinymm.randn(2, 4))
    with pytest.raises(ValueError, match=r"more than 1 value per channel when training.*"
                                         r"\(1, 3\)"):
        nn.BatchNorm1d(3)(tinymm.randn(1, 3))
    with pytest.raises(ValueError, match=r"batch_norm: running_mean and running_var are "
                                         "required when training=False"):
        F.batch_norm(tinymm.randn(4, 3), None, None)
    with pytest.raises(ValueError, match=r"batch_norm: weight must have shape \(C,\) = \(3,\)"):
        F.batch_norm(tinymm.randn(4, 3), None, None, tinymm.ones(4), training=True)
    with pytest.raises(TypeError, match=r"batch_norm: inputs must share one dtype"):
        F.batch_norm(tinymm.randn(4, 3), np.zeros(3), np.ones(3))
    with pytest.raises(TypeError, match=r"batch_norm: input must be float32 or float64"):
        F.batch_norm(tensor(np.ones((4, 3), np.int64)), None, None, training=True)
    with pytest.raises(TypeError, match=r"batch_norm: running_var must be a Tensor or None, "
                                        "got list"):
        F.batch_norm(tinymm.randn(4, 3), tinymm.zeros(3), [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"batch_norm: input must be at least 2-d"):
        F.batch_norm(tinymm.randn(4), None, None, training=True)
    with pytest.raises(ValueError, match=r"BatchNorm1d: num_features must be a positive int"):
        nn.BatchNorm1d(0)
    with pytest.raises(ValueError, match=r"BatchNorm2d: momentum must be in \[0, 1\]"):
        nn.BatchNorm2d(3, momentum=1.5)


def test_checkpoint_round_trip_keeps_running_statistics(tmp_path):
    from tinymm import io

    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3),
                          nn.LayerNorm(3))
    model(tinymm.randn(4, 1, 4, 4))  # one training step moves the running statistics
    io.save_module(tmp_path / "model", model)
    fresh = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3),
                          nn.LayerNorm(3))
    io.load_module(tmp_path / "model", fresh)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[key], value, err_msg=key)
    assert fresh[1].num_batches_tracked.dtype == np.int64
    model.eval()
    fresh.eval()
    x = tinymm.randn(2, 1, 4, 4)
    np.testing.assert_array_equal(fresh(x).array, model(x).array)


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_float32_layers_match_torch(backend):
    """float32, as users train: BatchNorm2d and BatchNorm1d within float32 rounding of torch."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    for kind, shape in (("BatchNorm2d", (8, 4, 6, 6)), ("BatchNorm1d", (32, 16))):
        ref, layer = getattr(torch.nn, kind)(shape[1]), getattr(nn, kind)(shape[1])
        with tinymm.use_backend(backend):
            for mode in ("train", "train", "eval"):
                ref.train(mode == "train")
                layer.train(mode == "train")
                x = (rng.standard_normal(shape) * 3 + 2).astype(np.float32)
                up = rng.standard_normal(shape).astype(np.float32)
                xt = torch.tensor(x, requires_grad=True)
                out_t = ref(xt)
                (out_t * torch.tensor(up)).sum().backward()
                xm = tensor(x, requires_grad=True)
                out = layer(xm)
                (out * tensor(up)).sum().backward()
                assert out.dtype == np.float32 and xm.grad.dtype == np.float32
                np.testing.assert_allclose(out.array, out_t.detach().numpy(), rtol=1e-5,
                                           atol=1e-5)
                np.testing.assert_allclose(xm.grad.array, xt.grad.numpy(), rtol=1e-4,
                                           atol=1e-4)
                for key, value in ref.state_dict().items():
                    np.testing.assert_allclose(layer.state_dict()[key], value.numpy(),
                                               rtol=1e-5, atol=1e-6, err_msg=f"{kind} {key}")

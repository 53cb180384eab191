"""The cuda softmax, cross-entropy, RNN/LSTM/GRU, attention, fusion and norm kernels without a GPU.

One subprocess with NUMBA_ENABLE_CUDASIM=1 (set before numba is imported) runs every kernel of
those nine stems on tiny shapes against the reference backend, forward and then backward with
the same random upstream gradient, in float32 and float64, with the tolerances of
tests/test_kernel_parity.py. Under the simulator the kernels launch small blocks (8 threads per
row, 4-query attention blocks; 4 x 4 GEMM tiles), so C = 9, H = 5 or
Lk = 7 leave partial blocks and tiles and exercise every guard. Each call also asserts that
nothing crossed between host and device (the wrappers take and return device arrays), and
batch_norm's in-place running-statistics update is compared with the reference's.

The PTX compile of these kernels, and the check that the float32 kernels' PTX holds no
float64 instruction, are tests/test_cuda_kernels.py's job (it reads every module's
PTX_TARGETS).
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from tinymm.kernels import CONTRACT

pytest.importorskip("numba_cuda", reason="numba-cuda not installed (pip install 'tinymm[cuda]')")

SIMULATOR_CHECK = r"""
import numpy as np

from tinymm.kernels.numba_cuda import (attention, batch_norm, cross_entropy, fusion, gru,
                                       layer_norm, lstm, rnn, softmax)
from tinymm.kernels.numba_cuda._device import (is_device_array, reset_transfer_stats, to_device,
                                               to_host, transfer_stats)
from tinymm.kernels.reference import attention as r_attention
from tinymm.kernels.reference import batch_norm as r_batch_norm
from tinymm.kernels.reference import cross_entropy as r_cross_entropy
from tinymm.kernels.reference import fusion as r_fusion
from tinymm.kernels.reference import gru as r_gru
from tinymm.kernels.reference import layer_norm as r_layer_norm
from tinymm.kernels.reference import lstm as r_lstm
from tinymm.kernels.reference import rnn as r_rnn
from tinymm.kernels.reference import softmax as r_softmax

MODULES = {"softmax": (softmax, r_softmax), "cross_entropy": (cross_entropy, r_cross_entropy),
           "fusion": (fusion, r_fusion), "rnn": (rnn, r_rnn), "lstm": (lstm, r_lstm),
           "gru": (gru, r_gru), "layer_norm": (layer_norm, r_layer_norm),
           "batch_norm": (batch_norm, r_batch_norm),
           "attention": (attention, r_attention)}
TOL = {np.float32: 1e-6, np.float64: 1e-12}
# float32 only, as tests/kernel_cases
LOOSE = {"lstm": 1e-5, "gru": 1e-5, "attention": 2e-5, "layer_norm": 1e-5, "batch_norm": 1e-5}


def randn(rng, dtype, *shape, s=1.0):
    return (rng.standard_normal(shape) * s).astype(dtype)


def flat_list(value):
    if value is None:
        return [None]
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in flat_list(v)]
    return [value]


def compare(got, want, tol, what):
    got, want = flat_list(got), flat_list(want)
    assert len(got) == len(want), f"{what}: {len(got)} outputs, reference {len(want)}"
    for k, (g, w) in enumerate(zip(got, want)):
        if w is None:
            assert g is None, f"{what}[{k}]: expected None"
            continue
        assert is_device_array(g), f"{what}[{k}]: a {type(g).__name__}, not a device array"
        g = to_host(g)
        w = np.asarray(w)
        assert g.shape == w.shape, f"{what}[{k}]: shape {g.shape} != reference {w.shape}"
        assert g.dtype == w.dtype, f"{what}[{k}]: dtype {g.dtype} != reference {w.dtype}"
        both_nan = np.isnan(g) & np.isnan(w)
        assert np.array_equal(np.isnan(g), np.isnan(w)), f"{what}[{k}]: NaNs differ"
        g, w = np.where(both_nan, 0, g), np.where(both_nan, 0, w)
        scale = max(float(np.max(np.abs(w), initial=0.0)), 1e-30)
        err = float(np.max(np.abs(g.astype(np.float64) - w), initial=0.0)) / scale
        assert err <= tol, f"{what}[{k}]: normwise relative error {err:.3g} > {tol:g}"


def lstm_args(rng, dtype, T, N, D, H, batch_first=False, state=True, bias=True):
    x = randn(rng, dtype, N, T, D, s=0.5) if batch_first else randn(rng, dtype, T, N, D, s=0.5)
    return (x, randn(rng, dtype, N, H, s=0.5) if state else None,
            randn(rng, dtype, N, H, s=0.5) if state else None, randn(rng, dtype, 4 * H, D, s=0.5),
            randn(rng, dtype, 4 * H, H, s=0.5), randn(rng, dtype, 4 * H, s=0.5) if bias else None,
            randn(rng, dtype, 4 * H, s=0.5) if bias else None)


def rnn_args(rng, dtype, T, N, D, H, batch_first=False, h0=True, bias=True):
    x = randn(rng, dtype, N, T, D, s=0.5) if batch_first else randn(rng, dtype, T, N, D, s=0.5)
    return (x, randn(rng, dtype, N, H, s=0.5) if h0 else None, randn(rng, dtype, H, D, s=0.5),
            randn(rng, dtype, H, H, s=0.5), randn(rng, dtype, H, s=0.5) if bias else None,
            randn(rng, dtype, H, s=0.5) if bias else None)


def gru_args(rng, dtype, T, N, D, H, batch_first=False, h0=True, bias=True):
    x = randn(rng, dtype, N, T, D, s=0.5) if batch_first else randn(rng, dtype, T, N, D, s=0.5)
    return (x, randn(rng, dtype, N, H, s=0.5) if h0 else None,
            randn(rng, dtype, 3 * H, D, s=0.5), randn(rng, dtype, 3 * H, H, s=0.5),
            randn(rng, dtype, 3 * H, s=0.5) if bias else None,
            randn(rng, dtype, 3 * H, s=0.5) if bias else None)


def qkv(rng, dtype, N=2, h=2, Lq=5, Lk=7, d=5, e=6):
    return randn(rng, dtype, N, h, Lq, d), randn(rng, dtype, N, h, Lk, d), randn(
        rng, dtype, N, h, Lk, e)


def padding_mask(rng, dtype):
    q, k, v = qkv(rng, dtype)
    keep = rng.random((2, 1, 1, 7)) > 0.3  # (N, 1, 1, Lk)
    keep[0] = False  # batch item 0: every key masked -> zero rows
    keep[1, 0, 0, 0] = True
    return (q, k, v, keep), {}


def float_mask(rng, dtype):
    q, k, v = qkv(rng, dtype, Lq=5, Lk=6, d=3, e=5)
    bias = randn(rng, dtype, 5, 6)  # (Lq, Lk), broadcast over N and heads
    bias[2, :] = -np.inf  # one fully masked query row
    return (q, k, v, bias), {"scale": 0.7}


def causal_bool(rng, dtype):
    q, k, v = qkv(rng, dtype, N=1, Lq=6, Lk=6, d=9, e=3)
    keep = rng.random((1, 2, 6, 6)) > 0.2
    keep[..., 0] = True
    return (q, k, v, keep), {"is_causal": True}


def norm_args(rng, dtype, shape, C, affine=True, stats=False, offset=0.0):
    x = (rng.standard_normal(shape) * 2 + offset).astype(dtype)
    affine_args = (randn(rng, dtype, *C), randn(rng, dtype, *C)) if affine else (None, None)
    if not stats:
        return (x,) + affine_args
    return (x,) + affine_args + (randn(rng, dtype, *C, s=0.1),
                                 (rng.random(C) + 0.5).astype(dtype))


# (stem, forward kernel, label, make(rng, dtype) -> (args, kwargs))
CASES = [
    ("softmax", "softmax_forward", "last-C9", lambda r, d: ((randn(r, d, 3, 9, s=5),), {})),
    ("softmax", "softmax_forward", "middle", lambda r, d: ((randn(r, d, 2, 9, 3),), {"axis": 1})),
    ("softmax", "log_softmax_forward", "last", lambda r, d: ((randn(r, d, 2, 11, s=5),), {})),
    ("softmax", "log_softmax_forward", "first",
     lambda r, d: ((randn(r, d, 3, 2, 5),), {"axis": 0})),
    ("cross_entropy", "cross_entropy_forward", "mean",
     lambda r, d: ((randn(r, d, 5, 9, s=3), r.integers(0, 9, 5)), {})),
    ("cross_entropy", "cross_entropy_forward", "sum-ignore-smooth",
     lambda r, d: ((randn(r, d, 6, 5), np.array([0, 1, -100, 4, 2, -100])),
                   {"reduction": "sum", "label_smoothing": 0.1})),
    ("cross_entropy", "cross_entropy_forward", "none-huge-ignore7",
     lambda r, d: ((randn(r, d, 4, 3, s=1e4), np.array([2, 7, 0, 1])),
                   {"reduction": "none", "ignore_index": 7})),
    ("cross_entropy", "cross_entropy_forward", "mean-all-ignored",
     lambda r, d: ((randn(r, d, 2, 3), np.array([-100, -100])), {})),
    ("fusion", "gated_fusion_forward", "3d-saturated",
     lambda r, d: ((randn(r, d, 2, 3, 5, s=40), randn(r, d, 2, 3, 5), randn(r, d, 2, 3, 5)), {})),
    ("fusion", "bilinear_pool_forward", "",
     lambda r, d: ((randn(r, d, 3, 11), randn(r, d, 3, 11)), {})),
    ("fusion", "film_forward", "",
     lambda r, d: ((randn(r, d, 2, 3, 3, 5), randn(r, d, 2, 3), randn(r, d, 2, 3)), {})),
    ("rnn", "rnn_forward", "lengths-reverse-no-bias",
     lambda r, d: (rnn_args(r, d, 3, 2, 3, 5, bias=False),
                   {"lengths": np.array([1, 3]), "reverse": True})),
    ("rnn", "rnn_forward", "batch-first-relu-no-h0",
     lambda r, d: (rnn_args(r, d, 3, 2, 2, 5, batch_first=True, h0=False),
                   {"nonlinearity": "relu", "batch_first": True, "lengths": np.array([3, 2])})),
    ("lstm", "lstm_forward", "lengths-batch-first-no-state",
     lambda r, d: (lstm_args(r, d, 3, 2, 3, 5, batch_first=True, state=False),
                   {"lengths": np.array([3, 2]), "batch_first": True})),
    ("lstm", "lstm_forward", "lengths-reverse-no-bias",
     lambda r, d: (lstm_args(r, d, 3, 2, 2, 3, bias=False),
                   {"lengths": np.array([2, 3]), "reverse": True})),
    ("gru", "gru_forward", "lengths-reverse",
     lambda r, d: (gru_args(r, d, 3, 2, 3, 5), {"lengths": np.array([2, 3]), "reverse": True})),
    ("gru", "gru_forward", "batch-first-no-h0-no-bias",
     lambda r, d: (gru_args(r, d, 2, 2, 2, 3, batch_first=True, h0=False, bias=False),
                   {"batch_first": True})),
    ("layer_norm", "layer_norm_forward", "two-axes-offset",
     lambda r, d: ((lambda x, w, b: (x, (2, 5), w, b))(*norm_args(r, d, (3, 2, 5), (2, 5),
                                                                 offset=10.0)), {"eps": 1e-3})),
    ("layer_norm", "layer_norm_forward", "D11-no-affine",
     lambda r, d: ((norm_args(r, d, (2, 11), (11,), affine=False)[0], (11,), None, None), {})),
    ("batch_norm", "batch_norm_forward", "NCL-train-running-stats",
     lambda r, d: (norm_args(r, d, (3, 2, 5), (2,), stats=True, offset=10.0),
                   {"momentum": 0.3})),
    ("batch_norm", "batch_norm_forward", "NCHW-eval",
     lambda r, d: (norm_args(r, d, (2, 3, 2, 3), (3,), stats=True), {"training": False})),
    ("batch_norm", "batch_norm_forward", "NC-train-no-affine",
     lambda r, d: (norm_args(r, d, (9, 2), (2,), affine=False) + (None, None), {})),
    ("attention", "scaled_dot_product_attention_forward", "key-padding-dead-row", padding_mask),
    ("attention", "scaled_dot_product_attention_forward", "float-mask-scale", float_mask),
    ("attention", "scaled_dot_product_attention_forward", "causal-and-bool", causal_bool),
]


def device(a):
    return to_device(a) if isinstance(a, np.ndarray) else a


checked = 0
for stem, kernel, label, make in CASES:
    cuda_mod, ref_mod = MODULES[stem]
    backward = kernel.replace("_forward", "_backward")
    for dtype in (np.float32, np.float64):
        what = f"{kernel}[{label}] {np.dtype(dtype).name}"
        tol = LOOSE.get(stem, TOL[dtype]) if dtype == np.float32 else TOL[dtype]
        args, kwargs = make(np.random.default_rng(7), np.dtype(dtype))
        dev_args = [device(a) for a in args]  # before the reference updates buffers in place
        dev_kwargs = {key: device(val) for key, val in kwargs.items()}
        ref_out, ref_cache = getattr(ref_mod, kernel)(*args, **kwargs)
        grad_rng = np.random.default_rng(11)
        douts = tuple(grad_rng.standard_normal(np.shape(o)).astype(dtype)
                      for o in flat_list(ref_out))
        dout = douts if isinstance(ref_out, tuple) else douts[0]
        dev_dout = tuple(to_device(g) for g in douts) if isinstance(ref_out, tuple) \
            else to_device(dout)
        reset_transfer_stats()
        out, cache = getattr(cuda_mod, kernel)(*dev_args, **dev_kwargs)
        grads = getattr(cuda_mod, backward)(dev_dout, cache)
        moved = transfer_stats()
        assert moved["h2d_count"] == 0 and moved["d2h_count"] == 0, f"{what}: copied {moved}"
        compare(out, ref_out, tol, what)
        if stem == "batch_norm":  # running_mean, running_var: updated in place by both
            compare(tuple(dev_args[3:5]), tuple(args[3:5]), tol, what + " running stats")
        with np.errstate(divide="ignore", invalid="ignore"):
            ref_grads = getattr(ref_mod, backward)(dout, ref_cache)
        compare(grads, ref_grads, tol, what.replace("_forward", "_backward"))
        checked += 1
assert checked == 2 * len(CASES)
print("checked", checked, "covered", " ".join(sorted({c[1] for c in CASES})))
"""

STEMS = ("softmax", "cross_entropy", "fusion", "rnn", "lstm", "gru", "attention", "layer_norm",
         "batch_norm")


def test_sequence_kernels_in_simulator_match_reference():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    proc = subprocess.run([sys.executable, "-c", SIMULATOR_CHECK], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "checked" in proc.stdout, proc.stdout
    covered = set(proc.stdout.split("covered", 1)[1].split())
    wanted = {name for name, spec in CONTRACT.items()
              if spec.stem in STEMS and name.endswith("_forward")}
    assert wanted <= covered, f"no simulator case for {sorted(wanted - covered)}"


def test_wrappers_refuse_host_arrays_before_any_launch():
    """A NumPy array handed to a cuda wrapper is a TypeError naming the kernel and argument."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        pytest.skip("checked without the simulator")
    from tinymm.kernels.numba_cuda import attention, cross_entropy, lstm, softmax

    x = np.ones((2, 3), np.float32)
    with pytest.raises(TypeError, match="softmax_forward.*'x'"):
        softmax.softmax_forward(x)
    with pytest.raises(TypeError, match="cross_entropy_forward.*'logits'"):
        cross_entropy.cross_entropy_forward(x, np.zeros(2, np.int64))
    with pytest.raises(TypeError, match="lstm_forward.*'x'"):
        lstm.lstm_forward(np.ones((2, 1, 3), np.float32), None, None, x, x, None, None)
    q = np.ones((1, 1, 2, 3), np.float32)
    with pytest.raises(TypeError, match="scaled_dot_product_attention_forward.*'q'"):
        attention.scaled_dot_product_attention_forward(q, q, q)

"""Every cuda-backend kernel in the numba-cuda simulator against the reference (a script).

Run by tests/test_cuda_kernels.py in one subprocess with NUMBA_ENABLE_CUDASIM=1 (the variable
must be set before numba is imported, so it cannot run inside the pytest process):

    NUMBA_ENABLE_CUDASIM=1 python -m tests.cuda_simulator_check

1. Every parity case of tests/kernel_cases whose kernel the cuda backend implements, in
   float32 and float64: inputs go to the device (counted transfers), the forward runs there,
   the same random upstream gradient goes to the backward, and outputs and gradients come
   back to be compared with the reference (tolerances as tests/test_kernel_parity.py).
   The simulator runs every CUDA thread as a Python thread, so the budget is kept small:
   up to three cases per kernel run in float64, float32 runs the first case of each kernel
   (the kernels are the same code for both dtypes), and the cases in SKIP, which exercise
   branches of the CPU backend that the cuda kernels do not have, are left out. (Training
   on the device is tests/cuda_training_check.py's job.)
2. Every GEMM variant (tiled, register-blocked) directly, on sizes that are not multiples
   of their tiles, with each transpose and with the batch reduction.
3. The no-hidden-copies rules: a host array given to a wrapper is a TypeError, and a chain
   of kernels moves nothing across the bus; the kernels that read device indices guard them.
4. A missing CONTRACT name raises instead of falling back to the host.
Prints one "checked" line with the counts; any failure raises (nonzero exit status).
"""

from __future__ import annotations

import os
import sys

import numpy as np

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    sys.exit("set NUMBA_ENABLE_CUDASIM=1 before running this check")

from numba.cuda.simulator.cudadrv import devicearray as _simulated  # noqa: E402

# On a real GPU a device array's host-side ``.shape`` is a plain tuple; the simulator returns
# a tuple that refuses negative indices (``x.shape[-1]``, which the ops use on every device).
# Give simulated arrays the real behaviour, so the ops are tested as a GPU runs them.
_simulated.FakeCUDAArray.shape = property(lambda self: tuple(self._ary.shape))
# The simulator's arrays also lend every NumPy attribute of the host array they wrap (min,
# max, astype, __array_interface__...), which a real device array does not have: code that
# worked only here would fail, or copy behind the counters, on a GPU. Keep them to the real
# DeviceNDArray's host API (conversions then go through the counted __array__ of _device).
_REAL_API = {"T", "as_cuda_arg", "bind", "copy_to_device", "copy_to_host", "flags", "getitem",
             "is_c_contiguous", "is_f_contiguous", "nbytes", "ravel", "reshape", "setitem",
             "split", "squeeze", "transpose", "view", "shape", "strides", "dtype", "size",
             "ndim", "stream", "alloc_size", "__cuda_array_interface__"}
_delegate = _simulated.FakeCUDAArray.__getattr__


def _real_api_only(self, name):
    if name not in _REAL_API:
        raise AttributeError(f"a device array has no host attribute {name!r} on a real GPU")
    return _delegate(self, name)


_simulated.FakeCUDAArray.__getattr__ = _real_api_only

import tinymm  # noqa: E402
from tests.kernel_cases import all_cases  # noqa: E402
from tests.test_kernel_parity import _arrays, assert_close  # noqa: E402
from tinymm.kernels import CONTRACT  # noqa: E402
from tinymm.kernels.numba_cuda import _device, _gemm  # noqa: E402

cuda_backend = tinymm.get_backend("cuda")
ref = tinymm.get_backend("reference")


def to_dev(value):
    if isinstance(value, np.ndarray):
        return _device.to_device(value)
    if isinstance(value, (tuple, list)):
        return type(value)(to_dev(v) for v in value)
    return value


def to_host(value):
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        return type(value)(to_host(v) for v in value)
    if _device.is_device_array(value):
        return _device.to_host(value)
    return value


SKIP = {
    # the numba CPU backend's large-array (prange) drivers: no separate path on the GPU
    *(c.id for c in all_cases() if "parallel" in c.label),
    # conv: the numba backend's K = 27 / K = 45 and Winograd branches; the cuda conv has one
    # path (im2col + GEMM), which the strided, dilated, "same" and no-bias geometries cover
    "conv2d_forward[3x3-pad1]", "conv2d_forward[3x3-pad1-k45]",
    # the fused ReLU differs from conv2d only in its epilogue and mask: one geometry suffices
    *(c.id for c in all_cases() if c.kernel == "conv2d_relu_forward"
      and c.label != "stride2-dil2-pad-pair"),
    # the fused ReLU + 2x2 max-pool is those kernels in sequence on the device: one geometry
    *(c.id for c in all_cases() if c.kernel == "conv2d_relu_max_pool2d_forward"
      and c.label != "stride2-dil2-pad-pair"),
    # info_nce at CLIP's largest scale tests float32 rounding on the CPU backends; the cuda
    # rows run the same code as the clip-init and one-pair cases
    "info_nce_forward[sharp]",
}


# tests/test_cuda_sequence.py checks these stems' kernels in the simulator on its own cases
SEQUENCE_STEMS = {"softmax", "cross_entropy", "fusion", "rnn", "lstm", "gru", "attention",
                  "layer_norm", "batch_norm"}
CASES_PER_KERNEL = 3  # the simulator runs a thread at a time: a few geometries per kernel


def check_cases() -> int:
    checked = 0
    seen: dict = {}
    for case in all_cases():
        if (case.kernel not in cuda_backend.kernels or case.id in SKIP
                or CONTRACT[case.kernel].stem in SEQUENCE_STEMS
                or seen.get(case.kernel, 0) >= CASES_PER_KERNEL):
            continue
        dtypes = (np.float64,) if case.kernel in seen else (np.float64, np.float32)
        seen[case.kernel] = seen.get(case.kernel, 0) + 1
        for dtype in dtypes:
            tol = case.tol[dtype]
            args, kwargs = case.make(np.random.default_rng(7), np.dtype(dtype))
            ref_out, ref_cache = getattr(ref, case.kernel)(*args, **kwargs)
            # a getitem's index arrays stay on the host, where the cuda getitem reads them
            dev_args = ((to_dev(args[0]), *args[1:]) if case.kernel == "getitem_forward"
                        else to_dev(args))
            out, cache = getattr(cuda_backend, case.kernel)(*dev_args, **kwargs)
            what = f"cuda {case.id} {np.dtype(dtype).name}"
            assert_close(to_host(out), ref_out, tol, what)
            grad_rng = np.random.default_rng(11)
            douts = tuple(grad_rng.standard_normal(a.shape).astype(a.dtype)
                          if a.dtype.kind == "f" else None for a in _arrays(ref_out))
            dout = douts if isinstance(ref_out, tuple) else douts[0]
            backward = case.kernel.replace("_forward", "_backward")
            ref_grads = getattr(ref, backward)(dout, ref_cache)
            grads = getattr(cuda_backend, backward)(to_dev(dout), cache)
            assert_close(to_host(grads), ref_grads, tol, what + " backward")
            checked += 1
    return checked


# (dtype, tolerance, trans_a, trans_b, reduce_batches): each transpose, each dtype and the
# batch reduction, in four calls per variant
GEMM_CALLS = [(np.float32, 1e-5, False, False, False), (np.float32, 1e-5, True, True, True),
              (np.float64, 1e-12, False, True, True), (np.float64, 1e-12, True, False, False)]


def check_gemm_variants() -> int:
    """Every GEMM variant directly: M one past a row block, K one past a reduction tile and
    P inside one column block (partial blocks and tiles on every edge), B broadcast."""
    rng = np.random.default_rng(3)
    checked = 0
    for variant in _gemm.VARIANTS:
        tiled = (_gemm.TILE,) * 3
        BM, BN, BK = tiled if variant == "tiled" else _gemm.REGBLOCK_CONFIGS[variant][:3]
        M, K, P = BM + 1, BK + 1, BN // 2 + 1
        for dtype, tol, ta, tb, reduce in GEMM_CALLS:
            A = rng.standard_normal((2, K, M) if ta else (2, M, K)).astype(dtype)
            B = rng.standard_normal((1, P, K) if tb else (1, K, P)).astype(dtype)
            opA = A.transpose(0, 2, 1) if ta else A
            opB = B.transpose(0, 2, 1) if tb else B
            expected = opA @ opB  # (2, M, P): B's batch of 1 broadcasts
            C = _device.to_host(_gemm.gemm(_device.to_device(A), _device.to_device(B), ta, tb,
                                           reduce_batches=reduce, variant=variant))
            want = expected.sum(axis=0, keepdims=True) if reduce else expected
            err = np.abs(C - want).max() / np.abs(want).max()
            assert err <= tol, f"gemm {variant} {dtype} ta={ta} tb={tb} r={reduce}: {err}"
            checked += 1
    return checked


# (kernel, state arrays, arguments after the state): one run each, three steps (STEPS), odd
# size 37
OTHER_UPDATES = [
    ("rmsprop_step", 3, lambda step: (0.01, 0.99, 1e-8, 0.1, 0.9)),  # momentum, centered
    ("adagrad_step", 1, lambda step: (step, 0.1, 0.01, 0.1, 1e-10)),
    ("adadelta_step", 2, lambda step: (0.5, 0.8, 1e-6, 0.1)),
    ("nadam_step", 2, lambda step: (step, 0.9 ** step, 0.01, 0.9, 0.999, 1e-8, 0.1, 4e-3, True)),
    ("radam_step", 2, lambda step: (step, 0.01, 0.9, 0.999, 1e-8, 0.1, step % 2 == 0)),
    ("adamax_step", 2, lambda step: (step, 0.01, 0.9, 0.999, 1e-8, 0.1)),
    ("lion_step", 1, lambda step: (0.01, 0.9, 0.99)),
]
STEPS = {"radam_step": 7}  # RAdam rectifies from step 6 on (rho_t > 5 with beta2 0.999)


def check_other_updates(rng, dtype) -> int:
    """rmsprop/adagrad/adadelta/nadam/radam/adamax/lion steps on the device against the
    reference, bit for bit."""
    for name, n_state, args in OTHER_UPDATES:
        p = rng.standard_normal(37).astype(dtype)
        state = [((np.abs(rng.standard_normal(37)) + (k == 0)) / (1 + 3 * k)).astype(dtype)
                 for k in range(n_state)]  # a square average above gbar^2: no NaN
        dp, dstate = _device.to_device(p), [_device.to_device(s) for s in state]
        for step in range(1, STEPS.get(name, 3) + 1):
            g = rng.standard_normal(37).astype(dtype)
            getattr(ref, name)(p, g, *state, *args(step))
            getattr(cuda_backend, name)(dp, _device.to_device(g), *dstate, *args(step))
        np.testing.assert_array_equal(_device.to_host(dp), p, err_msg=name)
        for want, got in zip(state, dstate):
            np.testing.assert_array_equal(_device.to_host(got), want, err_msg=name)
    return len(OTHER_UPDATES)


def check_optimizers_and_full() -> int:
    """Every optimizer update on the device against the reference, bit for bit, three steps."""
    rng = np.random.default_rng(5)
    checked = 0
    sgd_configs = [{"lr": 0.1}, {"lr": 0.05, "momentum": 0.9, "dampening": 0.1},
                   {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}]
    adam_configs = [{"weight_decay": 0.0, "amsgrad": False, "decoupled": False},
                    {"weight_decay": 0.1, "amsgrad": True, "decoupled": False},
                    {"weight_decay": 0.1, "amsgrad": False, "decoupled": True}]
    for dtype in (np.float32, np.float64):
        for cfg in sgd_configs:
            p = rng.standard_normal(37).astype(dtype)
            buf = np.zeros_like(p)
            dp, dbuf = _device.to_device(p), _device.to_device(buf)
            for step in range(3):
                g = rng.standard_normal(37).astype(dtype)
                ref.sgd_step(p, g, buf, first_step=step == 0, **cfg)
                cuda_backend.sgd_step(dp, _device.to_device(g), dbuf, first_step=step == 0,
                                      **cfg)
            np.testing.assert_array_equal(_device.to_host(dp), p, err_msg=f"sgd {cfg}")
            checked += 1
        for cfg in adam_configs:
            p = rng.standard_normal(37).astype(dtype)
            state = [np.zeros_like(p) for _ in range(3)]
            dstate = [_device.to_device(s) for s in state]
            dp = _device.to_device(p)
            amsgrad = cfg["amsgrad"]
            for step in range(1, 4):
                g = rng.standard_normal(37).astype(dtype)
                kwargs = {"weight_decay": cfg["weight_decay"], "decoupled": cfg["decoupled"]}
                ref.adam_step(p, g, state[0], state[1], state[2] if amsgrad else None, step,
                              1e-2, 0.9, 0.999, 1e-8, **kwargs)
                cuda_backend.adam_step(dp, _device.to_device(g), dstate[0], dstate[1],
                                       dstate[2] if amsgrad else None, step, 1e-2, 0.9, 0.999,
                                       1e-8, **kwargs)
            np.testing.assert_array_equal(_device.to_host(dp), p, err_msg=f"adam {cfg}")
            np.testing.assert_array_equal(_device.to_host(dstate[1]), state[1])
            checked += 1
        checked += check_other_updates(rng, dtype)
        filled = _device.to_host(cuda_backend.full((2, 3), 1.5, dtype))
        np.testing.assert_array_equal(filled, ref.full((2, 3), 1.5, dtype))
        for src_dtype in (dtype, np.float64 if dtype == np.float32 else np.float32):
            total = rng.standard_normal((5, 7)).astype(dtype)
            grad = rng.standard_normal((5, 7)).astype(src_dtype)
            d_total = _device.to_device(total)
            cuda_backend.accumulate(d_total, _device.to_device(grad))  # in place
            ref.accumulate(total, grad)
            np.testing.assert_array_equal(_device.to_host(d_total), total,
                                          err_msg=f"accumulate {src_dtype.__name__}")
        logits = rng.integers(0, 3, (37, 4)).astype(dtype)  # ties: the first maximum counts
        logits[5, 2] = logits[9, 0] = np.nan  # a NaN is the maximum, as NumPy's argmax
        target = rng.integers(0, 4, 37)
        want = ref.correct_count(logits, target)
        assert 0 < want[0] < 37, want
        got = _device.to_host(cuda_backend.correct_count(to_dev(logits), to_dev(target)))
        np.testing.assert_array_equal(got, want, err_msg="correct_count")
    return checked


def check_host_arrays_are_refused() -> int:
    """Every cuda forward kernel given its parity case's host arrays: a TypeError naming it."""
    refused = 0
    for case in all_cases():
        if case.kernel not in cuda_backend.kernels or case.kernel in REFUSED:
            continue
        REFUSED.add(case.kernel)
        args, kwargs = case.make(np.random.default_rng(0), np.dtype(np.float64))
        try:
            getattr(cuda_backend, case.kernel)(*args, **kwargs)
        except TypeError as exc:
            assert case.kernel in str(exc) and "device array" in str(exc), exc
        else:
            raise AssertionError(f"cuda {case.kernel} accepted host arrays")
        refused += 1
    return refused


REFUSED: set = set()


def check_no_hidden_copies() -> None:
    x = np.ones((3, 4), np.float32)
    d = _device.to_device(x)
    _device.reset_transfer_stats()
    y, cache = cuda_backend.relu_forward(d)
    (dx,) = cuda_backend.relu_backward(y, cache)
    out, _ = cuda_backend.matmul_forward(dx, _device.zeros((4, 2), np.float32))
    stats = _device.transfer_stats()
    assert stats == {"h2d_count": 0, "h2d_bytes": 0, "d2h_count": 0, "d2h_bytes": 0,
                     "implicit_d2h_count": 0}, stats
    assert _device.to_host(out).shape == (3, 2)
    assert _device.transfer_stats()["d2h_bytes"] == 3 * 2 * 4
    np.testing.assert_array_equal(np.asarray(d), x)  # NumPy on GPU data: a counted copy
    stats = _device.transfer_stats()
    assert stats["implicit_d2h_count"] == 1 and stats["d2h_count"] == 2, stats


def check_device_tensors() -> None:
    """Tensors on the cuda device: creation, ops, the way back, and the errors."""
    from tinymm import cuda as tcuda

    assert tcuda.is_available()
    host = np.arange(6, dtype=np.float32).reshape(2, 3)
    tcuda.reset_transfer_stats()
    x = tinymm.tensor(host, device="cuda", requires_grad=True)
    assert x.device == "cuda" and tcuda.transfer_stats()["h2d_bytes"] == host.nbytes
    y = ((x * 2.0 + 1.0).exp().log() - x).sum(axis=1)  # 2x + 1 - x = x + 1, summed
    assert y.device == "cuda" and tcuda.transfer_stats()["h2d_count"] == 1  # scalars: no copy
    y.sum().backward()
    np.testing.assert_allclose(y.detach().cpu().numpy(), (host + 1).sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(x.grad.cpu().numpy(), np.ones_like(host), rtol=1e-5)
    for call in (lambda: x.numpy(), lambda: np.asarray(x.detach())):
        try:
            call()
        except TypeError as exc:
            assert ".cpu()" in str(exc), exc
        else:
            raise AssertionError("a cuda tensor converted to NumPy without .cpu()")
    try:
        x + tinymm.tensor(host)
    except RuntimeError as exc:
        assert "cpu" in str(exc) and "cuda" in str(exc) and "Add" in str(exc), exc
    else:
        raise AssertionError("an op mixed cpu and cuda tensors")
    back = x.to("cpu")
    assert back.device == "cpu" and isinstance(back.array, np.ndarray)
    scalar = tinymm.tensor(2.5, device="cuda")
    assert scalar.shape == () and scalar.item() == 2.5
    check_math_methods()


MATH_METHODS = ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "log1p", "expm1",
                "log2", "log10", "reciprocal", "rsqrt")


def check_math_methods() -> None:
    """Tensor math methods on cuda tensors run the cuda kernels, forward and backward, and
    match the same methods on the CPU (odd size, values inside every function's domain)."""
    host = np.linspace(0.1, 0.9, 7, dtype=np.float32)
    for name in MATH_METHODS:
        on_cpu = tinymm.tensor(host, requires_grad=True)
        on_gpu = tinymm.tensor(host, device="cuda", requires_grad=True)
        outs = [getattr(t, name)() for t in (on_cpu, on_gpu)]
        for out in outs:
            out.sum().backward()
        assert outs[1].device == "cuda" and on_gpu.grad.device == "cuda", name
        np.testing.assert_allclose(outs[1].detach().cpu().numpy(), outs[0].detach().numpy(),
                                   rtol=1e-5, err_msg=name)
        np.testing.assert_allclose(on_gpu.grad.cpu().numpy(), on_cpu.grad.numpy(), rtol=1e-5,
                                   err_msg=name)


def check_guarded_indices() -> None:
    """The kernels that read device indices guard them (the ops report bad ones only at the
    next copy to the host): an embedding id outside [0, V) gives a zero row and no gradient,
    a cross-entropy target outside [0, C) reads inside its row. Under the simulator an
    out-of-bounds read would raise (or wrap a negative index) instead."""
    weight = np.arange(10, dtype=np.float32).reshape(5, 2)
    ids = np.array([1, -3, 5, 4])
    out, cache = cuda_backend.embedding_forward(to_dev(ids), to_dev(weight))
    np.testing.assert_array_equal(to_host(out), [[2, 3], [0, 0], [0, 0], [8, 9]])
    (_, dweight) = cuda_backend.embedding_backward(to_dev(np.ones((4, 2), np.float32)), cache)
    np.testing.assert_array_equal(to_host(dweight), [[0, 0], [1, 1], [0, 0], [0, 0], [1, 1]])
    logits = np.zeros((3, 4), np.float32)
    loss, cache = cuda_backend.cross_entropy_forward(to_dev(logits), to_dev(np.array([9, -7, 2])),
                                                     reduction="none")
    np.testing.assert_allclose(to_host(loss), np.full(3, np.log(4)), rtol=1e-6)


def check_device_row_index() -> None:
    """A cuda tensor indexed by a cuda index tensor (rows, negative and repeated ones) stays
    on the device, forward and backward, against the same index on the CPU; a bad row is a
    ValueError at the next read (the kernels guard it); a cpu index tensor into a cuda tensor
    names both devices."""
    host = np.arange(15, dtype=np.float32).reshape(5, 3)
    idx = np.array([[4, -1], [0, 4], [2, -5]])  # (3, 2): repeats and negative rows
    want_x = tinymm.tensor(host, requires_grad=True)
    want = want_x[tinymm.tensor(idx)]
    (want * want).sum().backward()
    x = tinymm.tensor(host, device="cuda", requires_grad=True)
    d_idx = tinymm.tensor(idx.astype(np.int32), device="cuda")  # cast to int64 by the op
    _device.reset_transfer_stats()
    got = x[d_idx, ...]
    (got * got).sum().backward()
    assert _device.transfer_stats()["d2h_count"] == 0 and got.device == "cuda"
    np.testing.assert_array_equal(got.detach().cpu().numpy(), want.detach().numpy())
    np.testing.assert_array_equal(x.grad.cpu().numpy(), want_x.grad.numpy())
    try:
        x[tinymm.tensor(np.array([1, 5]), device="cuda")].sum().item()
    except ValueError as exc:
        assert "index 5 is out of bounds for axis 0 with size 5" in str(exc), exc
    else:
        raise AssertionError("a bad cuda row index was not reported")
    out, _ = cuda_backend.getitem_forward(to_dev(host), to_dev(np.array([7, -6, 1])))
    np.testing.assert_array_equal(to_host(out), [[0, 0, 0], [0, 0, 0], [3, 4, 5]])
    try:
        tinymm.tensor(host)[d_idx]
    except RuntimeError as exc:
        assert "cpu" in str(exc) and "cuda" in str(exc), exc
    else:
        raise AssertionError("a cuda index into a cpu tensor was accepted")


def check_optimizer_classes() -> int:
    """RAdam, Adamax (tinymm.optim) and Keras's Lion on a cuda parameter: seven steps equal
    to the same optimizer on the host bit for bit (RAdam rectifies from step 6), state on
    the device; Keras's host-only rules refuse a cuda parameter with a clear error."""
    from tinymm import optim
    from tinymm.keras.optimizers import KerasAdamax, KerasLion

    rng = np.random.default_rng(9)
    start, grads = rng.standard_normal(37), rng.standard_normal((7, 37))
    makers = [lambda ps: optim.RAdam(ps, lr=0.01, weight_decay=0.1),
              lambda ps: optim.Adamax(ps, lr=0.01, weight_decay=0.1),
              lambda ps: KerasLion(ps, lr=0.01)]
    for make in makers:
        host = tinymm.tensor(start, dtype=np.float32, requires_grad=True)
        gpu = tinymm.tensor(start, dtype=np.float32, device="cuda", requires_grad=True)
        opts = [make([host]), make([gpu])]
        for g in grads:
            host.grad = tinymm.tensor(g, dtype=np.float32)
            gpu.grad = tinymm.tensor(g, dtype=np.float32, device="cuda")
            for opt in opts:
                opt.step()
        name = type(opts[0]).__name__
        np.testing.assert_array_equal(gpu.detach().cpu().numpy(), host.detach().numpy(),
                                      err_msg=name)
        assert all(_device.is_device_array(v) for v in opts[1].state[gpu].values()
                   if not isinstance(v, (int, float))), name
    gpu.grad = tinymm.tensor(grads[0], dtype=np.float32, device="cuda")
    try:
        KerasAdamax([gpu]).step()
    except RuntimeError as exc:
        assert "cuda parameters are not supported" in str(exc), exc
    else:
        raise AssertionError("KerasAdamax updated a cuda parameter with NumPy")
    return len(makers)


def check_nonfinite_origin() -> None:
    """``autograd.nonfinite_origin`` on a cuda graph names the op that made the Inf, deciding
    each input's finiteness on the device: one counted scalar copy per input it reads, and
    the Inf-holding array itself (to count them), nothing uncounted."""
    x = tinymm.tensor(np.array([1.0, 3e38, 2.0], np.float32), device="cuda", requires_grad=True)
    with np.errstate(over="ignore", invalid="ignore"):  # the simulator computes in NumPy
        y = (x * 2.0).sum()  # inputs read: x, 2.0 (finite), x * 2 (an Inf)
        _device.reset_transfer_stats()
        where = tinymm.autograd.nonfinite_origin(y)
    moved = _device.transfer_stats()
    assert where is not None and "forward of Mul" in where and "Inf (1 of 3" in where, where
    assert moved["d2h_count"] == 4 and moved["implicit_d2h_count"] == 0, moved
    assert moved["d2h_bytes"] == 3 * 4 + 3 * 4, moved  # three float32 scalars, one (3,) array


def check_no_fallback() -> None:
    missing = [n for n in CONTRACT if n not in cuda_backend.kernels]
    if not missing:
        return
    try:
        getattr(cuda_backend, missing[0])
    except NotImplementedError:
        return
    raise AssertionError("a missing cuda kernel silently fell back to the host")


if __name__ == "__main__":
    cases = check_cases()
    gemms = check_gemm_variants()
    updates = check_optimizers_and_full() + check_optimizer_classes()
    refused = check_host_arrays_are_refused()
    check_no_hidden_copies()
    check_device_tensors()
    check_guarded_indices()
    check_device_row_index()
    check_nonfinite_origin()
    check_no_fallback()
    print(f"checked {cases} cases, {gemms} gemm calls, {updates} optimizer runs, "
          f"{refused} kernels refusing host arrays, "
          f"{len(cuda_backend.kernels)} cuda kernels of "
          f"{len(CONTRACT)}")

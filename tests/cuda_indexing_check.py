"""The indexing family's gradients on cuda tensors in the simulator (run by
tests/test_cuda_indexing.py in a subprocess with NUMBA_ENABLE_CUDASIM=1).

Each op of ``GRADS`` runs forward and backward on the host (reference kernels) and on the
simulated device from the same inputs and the same upstream gradient; the outputs and the
input gradients must match, the gradients must stay on the device and no device array may be
converted to NumPy behind the counters. Lines are longer than the simulator's scan block
(8 threads) and indices repeat, so the scan's carry and the atomic adds are exercised.
Then the rules a kernel could get wrong quietly: NaN and ties in max/argmax and cummax,
masked_select's one counted copy, and an out-of-range device index reported at the next copy
to the host.
"""

from __future__ import annotations

import numpy as np

import tests.cuda_simulator_check  # noqa: F401  (patches the simulator first)
import tinymm
from tinymm import F
from tinymm.kernels.numba_cuda import _device

RNG = np.random.default_rng(3)
X = RNG.standard_normal((3, 19))  # float64: tight comparisons
IDX = RNG.integers(-19, 19, (3, 7)).astype(np.int64)  # repeats and negatives
ROWS = np.array([2, 0, 2, 1], np.int64)  # a repeated row

# name -> fn(x, ints): x is the float input (requires grad), ints the index tensors
GRADS = {
    "max_dim": lambda x, i: x.max(1).values, "min_dim_keepdim": lambda x, i: x.min(0, True)[0],
    "cumsum": lambda x, i: x.cumsum(1), "cumsum_dim0": lambda x, i: x.cumsum(0),
    "cumprod": lambda x, i: (x * 0.2 + 1).cumprod(1),
    "cumprod_zero": lambda x, i: tinymm.where(x > 1.2, 0.0, x).cumprod(1),
    "cummax": lambda x, i: x.cummax(1).values, "cummin": lambda x, i: x.cummin(0).values,
    "gather": lambda x, i: x.gather(1, i["idx"]),
    "take_along_dim": lambda x, i: x.take_along_dim(i["idx"][:1], 1),
    "scatter_add": lambda x, i: x.scatter_add(1, i["pos"], x[:, :7] * 2),
    "scatter": lambda x, i: x.scatter(1, i["rows"][:3].reshape(3, 1), x[:, 5:6]),
    "index_add": lambda x, i: x.index_add(0, i["rows"], x[np.array([0, 1, 2, 0])], alpha=2),
    "index_fill": lambda x, i: x.index_fill(1, i["rows"], 0.5),
    "where": lambda x, i: tinymm.where(x > 0, x * 3, x[:1]),
    "masked_fill": lambda x, i: x.masked_fill(x < -0.5, 2.0),
    "masked_select": lambda x, i: x.masked_select(x > 0.3),
    "mask_getitem": lambda x, i: x[x > 0] * 2, "mask_rows": lambda x, i: x[x[:, 0] > -9],
    "mask_setitem": lambda x, i: _assigned(x * 1, x > 0.5, -1.0),
    "index_select_dim1": lambda x, i: x.index_select(1, i["pos"][0]),
}


def _assigned(y, mask, value):
    y[mask] = value
    return y


def _run(fn, device, grad_seed=5):
    x = tinymm.tensor(X, device=device, requires_grad=True)
    ints = {name: tinymm.tensor(v, device=device)
            for name, v in (("idx", IDX), ("pos", IDX % 19), ("rows", ROWS))}
    with tinymm.use_backend("reference"):
        out = fn(x, ints)
        upstream = np.random.default_rng(grad_seed).standard_normal(out.shape)
        out.backward(tinymm.tensor(upstream, device=device))
    return out, x.grad


def check_in_place() -> None:
    """In-place ops on a cuda tensor write its storage on the device (no copy either way)."""
    x = tinymm.tensor(X, device="cuda")
    host = tinymm.tensor(X)
    _device.reset_transfer_stats()
    for t in (x, host):
        t.masked_fill_(t > 1, 0.0)
        t.scatter_(1, tinymm.tensor(IDX[:, :1] % 19, device=t.device), 5.0)
        t.index_fill_(0, tinymm.tensor(ROWS[:1], device=t.device), -3.0)
        t[t < -1] = 9.0
        if t.is_cuda:
            moved = _device.transfer_stats()
    assert moved["h2d_count"] == 2 and moved["d2h_count"] == 0, moved  # the two index tensors
    np.testing.assert_array_equal(x.cpu().numpy(), host.numpy())


def check_gradients() -> int:
    for name, fn in GRADS.items():
        want, want_grad = _run(fn, "cpu")
        _device.reset_transfer_stats()
        got, got_grad = _run(fn, "cuda")
        moved = _device.transfer_stats()
        assert got.device == "cuda" and got_grad.device == "cuda", name
        assert moved["implicit_d2h_count"] == 0, (name, moved)
        np.testing.assert_allclose(got.detach().cpu().numpy(), want.detach().numpy(), rtol=1e-12,
                                   atol=1e-12, err_msg=name)
        np.testing.assert_allclose(got_grad.cpu().numpy(), want_grad.numpy(), rtol=1e-12,
                                   atol=1e-12, err_msg=f"{name} gradient")
    return len(GRADS)


def check_rules() -> None:
    row = np.array([[1.0, np.nan, 3.0, np.nan, 3.0], [2.0, 5.0, 5.0, -1.0, 5.0]], np.float32)
    x = tinymm.tensor(row, device="cuda")
    values, index = x.max(1)
    assert index.cpu().numpy().tolist() == [1, 1], index  # the first NaN; the first tie
    assert np.isnan(values.cpu().numpy()[0]) and values.cpu().numpy()[1] == 5
    assert x.argmin(1).cpu().numpy().tolist() == [1, 3]
    values, index = x.cummax(1)
    assert index.cpu().numpy().tolist() == [[0, 1, 1, 3, 3], [0, 1, 2, 2, 4]], index
    values, index = x.cummin(1)
    assert index.cpu().numpy().tolist() == [[0, 1, 1, 3, 3], [0, 0, 0, 3, 3]], index
    _device.reset_transfer_stats()
    picked = x.masked_select(x > 2)
    moved = _device.transfer_stats()
    assert moved["d2h_count"] == 1 and moved["d2h_bytes"] == 8, moved  # the count
    assert picked.cpu().numpy().tolist() == [3, 3, 5, 5, 5]
    bad = tinymm.tensor(np.array([[0, 9], [1, 1]], np.int64), device="cuda")
    out = x.gather(1, bad)  # no error yet: the check runs on the device
    try:
        out.sum().item()
    except ValueError as exc:
        assert "gather" in str(exc) and "9" in str(exc), exc
    else:
        raise AssertionError("a bad device index was not reported at the next copy")
    try:
        F.one_hot(tinymm.tensor(np.array([0, 4], np.int64), device="cuda"), 3).cpu()
    except ValueError as exc:
        assert "one_hot" in str(exc), exc
    else:
        raise AssertionError("one_hot accepted class 4 of 3 on the device")
    for device in ("cpu", "cuda"):  # index_select takes a vector (a 0-d index as one entry)
        try:
            x.index_select(0, tinymm.tensor(np.array([[0, 1]], np.int64), device=device))
        except ValueError as exc:
            assert "index_select: index must be 1-d" in str(exc), (device, exc)
        else:
            raise AssertionError(f"index_select accepted a 2-d index on {device}")


if __name__ == "__main__":
    with np.errstate(all="ignore"):
        checked = check_gradients()
        check_rules()
        check_in_place()
    print(f"{checked} indexing ops match the host forward and backward on the simulated device; "
          "tie, NaN, count and index-check rules hold")

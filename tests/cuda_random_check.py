"""Random draws, dropout and the device factories on cuda tensors in the simulator (run by
tests/test_cuda_random.py in a subprocess with NUMBA_ENABLE_CUDASIM=1): every draw stays on
the device with no host copy, has the asked shape, dtype and range, moments within
statistical bounds, and the same seed gives the same numbers; linspace, tril/triu_indices and
full_like are made on the device with no host copy and equal the host's."""

from __future__ import annotations

import numpy as np

import tests.cuda_simulator_check  # noqa: F401  (patches the simulator first)
import tinymm
from tinymm import F
from tinymm.kernels.numba_cuda import _device

N = 4000  # draws for the moment checks: a mean is within 5 sigma / sqrt(N) of its value


def _quiet(make):
    """make()'s result, asserting it is a cuda tensor and that nothing crossed meanwhile."""
    _device.reset_transfer_stats()
    out = make()
    moved = _device.transfer_stats()
    assert moved["h2d_count"] == 0 and moved["d2h_count"] == 0, moved
    for t in (out,) if isinstance(out, tinymm.Tensor) else out:
        assert t.is_cuda, t.device
    return out


def _moments(values: np.ndarray, mean: float, var: float, name: str) -> None:
    bound = 5 * np.sqrt(var / values.size)
    assert abs(values.mean() - mean) < bound, (name, values.mean(), mean)
    assert abs(values.var() - var) < 10 * var / np.sqrt(values.size), (name, values.var(), var)


def check_floats() -> None:
    x = tinymm.zeros(3, 5, dtype=np.float64).to("cuda")
    tinymm.manual_seed(3)
    u = _quiet(lambda: tinymm.rand(N, device="cuda")).cpu().numpy()
    assert u.dtype == np.float32 and u.shape == (N,) and u.min() >= 0 and u.max() < 1
    _moments(u, 0.5, 1 / 12, "rand")
    z = _quiet(lambda: tinymm.randn(N, dtype=np.float64, device="cuda")).cpu().numpy()
    assert z.dtype == np.float64
    _moments(z, 0.0, 1.0, "randn")
    like = _quiet(lambda: tinymm.rand_like(x))
    assert like.dtype == np.float64 and like.shape == (3, 5)
    assert _quiet(lambda: tinymm.randn_like(x)).shape == (3, 5)
    mean = tinymm.full((N,), 2.0).to("cuda")
    g = _quiet(lambda: tinymm.normal(mean, 0.5)).cpu().numpy()
    _moments(g, 2.0, 0.25, "normal")
    s = _quiet(lambda: tinymm.normal(1.0, 2.0, size=(N,), device="cuda")).cpu().numpy()
    _moments(s, 1.0, 4.0, "normal(size)")


def check_integers() -> None:
    r = _quiet(lambda: tinymm.randint(-2, 5, (N,), device="cuda")).cpu().numpy()
    assert r.dtype == np.int64 and set(r.tolist()) == set(range(-2, 5)), set(r.tolist())
    _moments(r.astype(np.float64), 1.0, (7 ** 2 - 1) / 12, "randint")
    x = tinymm.zeros(4, dtype=np.int64).to("cuda")
    ri = _quiet(lambda: tinymm.randint_like(x, 3)).cpu().numpy()
    assert ri.dtype == np.int64 and ri.shape == (4,) and ri.min() >= 0 and ri.max() < 3
    for n in (1, 7, 40):
        perm = _quiet(lambda n=n: tinymm.randperm(n, device="cuda")).cpu().numpy()
        assert sorted(perm.tolist()) == list(range(n)), perm
    seen = {}  # the sorting network's permutations of 3 are uniform: each of the 6 about 1/6
    for _ in range(60):
        order = tuple(_quiet(lambda: tinymm.randperm(3, device="cuda")).cpu().numpy().tolist())
        seen[order] = seen.get(order, 0) + 1
    chi2 = sum((c - 10) ** 2 / 10 for c in seen.values()) + 10 * (6 - len(seen))
    assert len(seen) == 6 and chi2 < 20.5, seen  # chi-square, 5 dof, p = 0.001
    p = tinymm.full((N,), 0.3).to("cuda")
    b = _quiet(lambda: tinymm.bernoulli(p)).cpu().numpy()
    assert b.dtype == np.float32 and set(np.unique(b).tolist()) <= {0.0, 1.0}
    _moments(b, 0.3, 0.21, "bernoulli")


def check_multinomial() -> None:
    w = tinymm.tensor(np.array([[0.0, 1.0, 3.0], [2.0, 0.0, 2.0]], np.float32), device="cuda")
    kept = w.cpu().numpy().copy()
    drawn = _quiet(lambda: tinymm.multinomial(w, 2)).cpu().numpy()
    assert drawn.shape == (2, 2) and np.array_equal(w.cpu().numpy(), kept)  # weights intact
    assert sorted(drawn[0].tolist()) == [1, 2] and sorted(drawn[1].tolist()) == [0, 2], drawn
    rows = tinymm.tensor(np.array([1.0, 3.0], np.float32), device="cuda")
    many = _quiet(lambda: tinymm.multinomial(rows, N, replacement=True)).cpu().numpy()
    assert many.shape == (N,)
    _moments(many.astype(np.float64), 0.75, 0.1875, "multinomial")
    for bad, n, word in (([1.0, -1.0], 1, "non-negative"), ([1.0, 0.0], 2, "without")):
        try:
            tinymm.multinomial(tinymm.tensor(np.array(bad, np.float32), device="cuda"), n).cpu()
        except ValueError as exc:
            assert word in str(exc), exc
        else:
            raise AssertionError(f"multinomial accepted {bad} for {n} samples on the device")


def check_ranges() -> None:
    """linspace, the triangle indices and the filled *_like made on the device, equal to the
    host's (linspace to the bit)."""
    for args, dtype in (((0.0, 1.0, 7), np.float32), ((-3.0, 5.5, 10), np.float64),
                        ((0, 10, 4), np.int64), ((2.0, 2.0, 1), np.float32)):
        got = _quiet(lambda a=args, d=dtype: tinymm.linspace(*a, dtype=d, device="cuda"))
        want = tinymm.linspace(*args, dtype=dtype).numpy()
        assert got.dtype == want.dtype and np.array_equal(got.cpu().numpy(), want), args
    for row, col, offset in ((3, 4, -1), (4, 3, 1), (5, 5, 0), (2, 6, 3), (3, 2, -4)):
        for fn, np_fn in ((tinymm.tril_indices, np.tril_indices),
                          (tinymm.triu_indices, np.triu_indices)):
            shape = (row, col, offset)
            got = _quiet(lambda f=fn, a=shape: f(*a, device="cuda")).cpu().numpy()
            want = np.stack(np_fn(row, offset, col))
            assert got.dtype == np.int64 and np.array_equal(got, want), (fn, row, col, offset)
    x = tinymm.zeros(2, 3, dtype=np.float64).to("cuda")
    full = _quiet(lambda: tinymm.full_like(x, 2.5)).cpu().numpy()
    assert full.dtype == np.float64 and (full == 2.5).all()
    ones = _quiet(lambda: tinymm.ones_like(x, dtype=np.int64)).cpu().numpy()
    assert ones.dtype == np.int64 and (ones == 1).all()


def check_mode() -> None:
    """Tensor.mode on the device: the host's values and indices (smallest most frequent
    value, its last index), forward and backward, with no host copy."""
    host = np.array([[3, 1, 3, 1, 2], [5, 5, 4, 4, 4], [7, 8, 9, 6, 0]], np.float32)
    for dtype, dim in ((np.float32, 1), (np.float64, 0), (np.int64, -1)):
        x = tinymm.tensor(host.astype(dtype), device="cuda",
                          requires_grad=dtype != np.int64)
        got = _quiet(lambda t=x, d=dim: t.mode(d))
        want = tinymm.tensor(host.astype(dtype)).mode(dim)
        assert np.array_equal(got.indices.cpu().numpy(), want.indices.numpy()), dtype
        assert np.array_equal(got.values.detach().cpu().numpy(), want.values.numpy()), dtype
        if x.requires_grad:
            got.values.sum().backward()
            expect = np.zeros_like(host)
            np.put_along_axis(expect, np.expand_dims(want.indices.numpy(), dim), 1.0, dim)
            assert np.array_equal(x.grad.cpu().numpy(), expect), dtype
    x = tinymm.tensor(host, device="cuda")
    keep = _quiet(lambda: x.mode(1, keepdim=True))
    assert keep.values.shape == (3, 1) and keep.indices.cpu().numpy().tolist() == [[3], [4], [4]]
    rng = np.random.default_rng(3)  # rows longer than a block's threads, odd lengths, ties
    for length, dtype in ((1, np.float32), (9, np.int64), (21, np.float64), (6, np.float32)):
        rows = rng.integers(-2, 3, (3, length)).astype(dtype)
        on_device = tinymm.tensor(rows, device="cuda")
        got = _quiet(lambda t=on_device: t.mode(1))
        want = tinymm.tensor(rows).mode(1)
        assert np.array_equal(got.indices.cpu().numpy(), want.indices.numpy()), rows
        assert np.array_equal(got.values.cpu().numpy(), want.values.numpy()), rows


def check_seed_and_dropout() -> None:
    tinymm.manual_seed(7)
    first = tinymm.rand(50, device="cuda").cpu().numpy()
    second = tinymm.rand(50, device="cuda").cpu().numpy()
    tinymm.manual_seed(7)
    assert np.array_equal(tinymm.rand(50, device="cuda").cpu().numpy(), first)
    assert not np.array_equal(first, second)  # the states advance per call
    x = tinymm.ones(N).to("cuda").requires_grad_(True)
    y = _quiet(lambda: F.dropout(x, 0.25))
    values = y.detach().cpu().numpy()
    assert set(np.unique(values).tolist()) <= {0.0, np.float32(1 / 0.75)}
    _moments((values > 0).astype(np.float64), 0.75, 0.1875, "dropout")
    y.sum().backward()
    assert np.array_equal(x.grad.cpu().numpy(), values)  # dx = keep / (1 - p)
    assert not _quiet(lambda: F.dropout(x, 1.0)).detach().cpu().numpy().any()


if __name__ == "__main__":
    check_floats()
    check_integers()
    check_multinomial()
    check_seed_and_dropout()
    check_ranges()
    check_mode()
    print("random draws stay on the simulated device with no host copy")

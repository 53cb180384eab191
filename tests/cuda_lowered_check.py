"""einsum, bilinear and binary_cross_entropy on cuda tensors in the simulator (run by
tests/test_cuda_lowered.py in a subprocess with NUMBA_ENABLE_CUDASIM=1).

1. ``EQUATIONS``: every equation form the host einsum accepts (explicit and implicit output,
   ``...`` with broadcasting, diagonals, sums over one operand's letters, scalars, three
   operands, size-1 letters) on the device against the host (np.einsum): values, dtype,
   and the gradient of every operand without a repeated letter, with nothing converted
   implicitly and the results on the device.
2. nn.Bilinear (weights from one seed) on the device against the host, forward and backward.
3. binary_cross_entropy: values and gradients for every reduction, a weight, and the clamped
   logs at exact 0 and 1; then the deferred range check: a probability outside [0, 1] (or a
   NaN) raises nothing at the call and the host's ValueError at the next ``.item()``,
   ``.cpu()`` or ``tinymm.cuda.synchronize()``, with no extra transfer for a valid input.
Prints one line with the counts; any failure raises.
"""

from __future__ import annotations

import numpy as np

import tests.cuda_simulator_check  # noqa: F401  (patches the simulator first)
import tinymm
from tinymm import F, nn
from tinymm.kernels.numba_cuda import _device

EQUATIONS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]), ("ii->i", [(3, 3)]), ("ii", [(3, 3)]),
    ("iij->j", [(2, 2, 3)]), ("aab,bc->ac", [(2, 2, 3), (3, 4)]), ("i,i->", [(3,), (3,)]),
    ("i,j->ij", [(2,), (3,)]), ("ij->", [(2, 3)]), ("ij->ji", [(2, 3)]), ("ji", [(2, 3)]),
    (",i->i", [(), (3,)]), ("i,i->i", [(1,), (3,)]), ("...ij,...jk", [(2, 1, 2, 3), (4, 3, 2)]),
    ("...i,oij,...j->...o", [(2, 5, 3), (4, 3, 2), (2, 5, 2)]), ("ijk,ij->k", [(2, 3, 4), (2, 3)]),
    ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 5)]), ("ab,cd->", [(2, 3), (4, 5)]),
    ("b i j , b j -> b i", [(3, 2, 5), (3, 5)]), ("...->...", [(2, 3)]),
]
RNG = np.random.default_rng(1)


def _grads(eq, arrays, device, dtype):
    tensors = [tinymm.tensor(a.astype(dtype), device=device) for a in arrays]
    subs = [s.strip() for s in eq.split("->")[0].split(",")]
    for t, s in zip(tensors, subs):
        t.requires_grad = len(set(s.replace("...", ""))) == len(s.replace("...", ""))
    out = tinymm.einsum(eq, *tensors)
    upstream = tinymm.tensor(RNG.standard_normal(out.shape).astype(out.dtype), device=device)
    if any(t.requires_grad for t in tensors):
        (out * upstream).sum().backward()
    return out, [t.grad for t in tensors]


def check_einsum() -> int:
    for eq, shapes in EQUATIONS:
        arrays = [RNG.standard_normal(s) for s in shapes]
        for dtype in (np.float32, np.float64):
            state = RNG.bit_generator.state
            want, want_grads = _grads(eq, arrays, "cpu", dtype)
            RNG.bit_generator.state = state  # the same upstream gradient on both sides
            _device.reset_transfer_stats()
            got, got_grads = _grads(eq, arrays, "cuda", dtype)
            assert _device.transfer_stats()["implicit_d2h_count"] == 0, eq
            assert got.device == "cuda" and got.dtype == want.dtype, (eq, got.dtype)
            tol = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(got.detach().cpu().numpy(), want.detach().numpy(),
                                       rtol=tol, atol=tol, err_msg=eq)
            for g, w in zip(got_grads, want_grads):
                assert (g is None) == (w is None), eq
                if g is not None:
                    assert g.device == "cuda", eq
                    np.testing.assert_allclose(g.cpu().numpy(), w.numpy(), rtol=tol, atol=tol,
                                               err_msg=f"{eq} gradient")
    mixed = tinymm.einsum("ij,jk", tinymm.ones(2, 3, device="cuda"),
                          tinymm.ones(3, 2, dtype=tinymm.float64, device="cuda"))
    assert mixed.dtype == np.float64 and mixed.device == "cuda"
    for bad, error in ((lambda: tinymm.einsum("ij,jk", tinymm.ones(2, 3, device="cuda"),
                                              tinymm.ones(3, 2))), RuntimeError), \
                      ((lambda: tinymm.einsum("i,i", tinymm.arange(3, device="cuda"),
                                              tinymm.arange(3, device="cuda"))), TypeError), \
                      ((lambda: tinymm.einsum("i,i", tinymm.ones(2, device="cuda"),
                                              tinymm.ones(3, device="cuda"))), ValueError):
        try:
            bad()
        except error as exc:
            assert "einsum" in str(exc), exc
        else:
            raise AssertionError(f"einsum accepted a bad call ({error.__name__} expected)")
    return len(EQUATIONS)


def check_bilinear() -> None:
    x1, x2 = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 2))
    sides = []
    for device in ("cpu", "cuda"):
        nn.init.seed(0)
        layer = nn.Bilinear(4, 2, 5).to(device)
        a, b = (tinymm.tensor(v.astype(np.float32), device=device, requires_grad=True)
                for v in (x1, x2))
        out = layer(a, b)
        (out * out).sum().backward()
        sides.append([out, a.grad, b.grad, layer.weight.grad, layer.bias.grad])
    for got, want in zip(*sides[::-1]):
        assert got.device == "cuda"
        np.testing.assert_allclose(got.detach().cpu().numpy(), want.detach().numpy(), rtol=2e-5,
                                   atol=1e-5)


def _bce_sides(p, t, **options):
    sides = []
    for device in ("cpu", "cuda"):
        x = tinymm.tensor(p, device=device, requires_grad=True)
        if "weight" in options:
            options = {**options, "weight": tinymm.tensor(options["weight"], device=device)}
        loss = F.binary_cross_entropy(x, tinymm.tensor(t, device=device), **options)
        loss.backward(tinymm.ones_like(loss))
        sides.append((loss, x.grad))
    return sides


def check_bce() -> int:
    p = np.array([[0.0, 0.3, 1.0], [0.9, 1e-30, 0.5]], np.float32)  # exact 0 and 1: -100
    t = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.5]], np.float32)
    cases = [{}, {"reduction": "sum"}, {"reduction": "none"},
             {"weight": np.array([0.5, 2.0, 1.0], np.float32), "reduction": "none"}]
    for options in cases:
        (want, want_dx), (got, got_dx) = _bce_sides(p, t, **options)
        assert got.device == "cuda" and got.dtype == want.dtype, options
        for a, b in ((got, want), (got_dx, want_dx)):
            np.testing.assert_allclose(a.detach().cpu().numpy(), b.detach().numpy(),
                                       rtol=1e-5, atol=1e-5, err_msg=str(options))
    _device.reset_transfer_stats()
    F.binary_cross_entropy(tinymm.tensor(p, device="cuda"), tinymm.tensor(t, device="cuda")
                           ).item()
    assert _device.transfer_stats()["d2h_count"] == 1  # the check rides with the loss
    return len(cases) + _check_deferred(t)


def _check_deferred(t) -> int:
    """A bad probability raises at the next read, by each read; the check is then spent."""
    target = tinymm.tensor(t, device="cuda")
    bad = {"above 1": np.array([[0.5, 1.5, 0.2], [0.1, 0.2, 0.3]], np.float32),
           "below 0": np.array([[0.5, -0.25, 0.2], [0.1, 0.2, 0.3]], np.float32),
           "NaN": np.array([[0.5, np.nan, 0.2], [0.1, 0.2, 0.3]], np.float32)}
    reads = {"item": lambda loss: loss.item(), "cpu": lambda loss: loss.cpu(),
             "synchronize": lambda loss: tinymm.cuda.synchronize()}
    checked = 0
    for what, p in bad.items():
        with np.errstate(all="ignore"):
            try:
                F.binary_cross_entropy(tinymm.tensor(p), tinymm.tensor(t))
            except ValueError as exc:
                host_message = str(exc)
        for read_name, read in reads.items():
            loss = F.binary_cross_entropy(tinymm.tensor(p, device="cuda"), target)  # no raise
            assert loss.device == "cuda"
            try:
                read(loss)
            except ValueError as exc:
                assert str(exc) == host_message, (what, read_name, exc, host_message)
            else:
                raise AssertionError(f"a probability {what} passed {read_name}()")
            value = loss.item()  # the check is spent: this read raises nothing
            assert np.isfinite(value) or what == "NaN", (what, read_name)  # clamped kernels
            checked += 1
    return checked


if __name__ == "__main__":
    equations = check_einsum()
    check_bilinear()
    bce = check_bce()
    print(f"{equations} einsum equations match the host on the simulated device, forward and "
          f"backward; nn.Bilinear matches; {bce} binary_cross_entropy cases and deferred "
          "range checks behave as on the host")

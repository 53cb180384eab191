"""tapi9's ops on cuda tensors in the numba-cuda simulator against the cpu (a script, run by
tests/test_torch_api_ops_cuda.py with NUMBA_ENABLE_CUDASIM=1): F.ctc_loss with concatenated
targets (the one counted copy of the longest target), every reduction, the gradient reaching
the logits, and a bad input length raised at the next copy to the host; nn.LSTM(proj_size=)
with lengths, bidirectional, and its gradients; searchsorted (N-d, right, sorter) and histc
(given and data range)."""

from __future__ import annotations

import numpy as np

import tests.cuda_simulator_check  # noqa: F401  (patches the simulator first)
import tinymm
from tinymm import F


def _run(device: str, x, targets, il, tl, reduction: str):
    X = tinymm.tensor(x, device=device, requires_grad=True)
    loss = F.ctc_loss(X.log_softmax(-1), tinymm.tensor(targets, device=device),
                      tinymm.tensor(il, device=device), tinymm.tensor(tl, device=device),
                      reduction=reduction)
    loss.sum().backward()
    assert loss.device.type == device and X.grad.device.type == device
    return loss.detach().cpu().numpy(), X.grad.cpu().numpy()


def main() -> None:
    r = np.random.default_rng(0)
    x = r.standard_normal((5, 2, 4)).astype(np.float32)  # (T, N, C)
    targets, il, tl = np.array([1, 3, 3, 2]), np.array([5, 4]), np.array([3, 1])
    for reduction in ("none", "mean", "sum"):
        host = _run("cpu", x, targets, il, tl, reduction)
        device = _run("cuda", x, targets, il, tl, reduction)
        for h, d in zip(host, device):
            np.testing.assert_allclose(d, h, rtol=1e-5, atol=1e-6)
    X = tinymm.tensor(x, device="cuda")
    padded = tinymm.tensor(np.array([[1, 2], [2, 1]]), device="cuda")
    too_long = tinymm.tensor(np.array([6, 4]), device="cuda")
    try:
        F.ctc_loss(X, padded, too_long, tinymm.tensor(np.array([2, 2]), device="cuda")).item()
    except ValueError as e:
        assert "input_lengths holds 6" in str(e), e
    else:
        raise AssertionError("an input length past T was not refused")
    check_lstm_projected(r)
    check_bucketing(r)
    print("checked tapi9 ops on cuda")


def _on(device: str, x, **kw):
    return tinymm.tensor(x, device=device, **kw)


def check_lstm_projected(r) -> None:
    x = r.standard_normal((3, 2, 3)).astype(np.float32)  # (T, N, D)
    results = []
    for device in ("cpu", "cuda"):
        tinymm.nn.init.seed(0)
        layer = tinymm.nn.LSTM(3, 4, proj_size=2, bidirectional=True).to(device)
        X = _on(device, x, requires_grad=True)
        out, (h, c) = layer(X, lengths=[3, 2])
        (out.sum() + h.sum() + c.sum()).backward()
        assert out.device.type == device
        results.append([t.detach().cpu().numpy() for t in (out, h, c, X.grad)]
                       + [p.grad.cpu().numpy() for p in layer.parameters()])
    for h, d in zip(*results):
        np.testing.assert_allclose(d, h, rtol=1e-5, atol=1e-6)


def check_bucketing(r) -> None:
    seq = np.sort(r.integers(0, 6, (2, 5)), -1).astype(np.float32)
    values = r.integers(-1, 7, (2, 3)).astype(np.float32)
    sorter = np.argsort(seq[0])
    x = r.standard_normal(20).astype(np.float32)
    for device in ("cpu", "cuda"):
        found = [tinymm.searchsorted(_on(device, seq), _on(device, values), right=right)
                 for right in (False, True)]
        found.append(tinymm.searchsorted(_on(device, seq[0]), _on(device, values),
                                         sorter=_on(device, sorter)))
        found += [tinymm.histc(_on(device, x), 5), tinymm.histc(_on(device, x), 4, -1, 1)]
        assert all(f.device.type == device for f in found)
        if device == "cpu":
            host = [f.numpy() for f in found]
    for h, d in zip(host, found):
        np.testing.assert_array_equal(d.cpu().numpy(), h)


if __name__ == "__main__":
    main()

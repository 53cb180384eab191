"""F.ctc_loss on cuda tensors in the numba-cuda simulator against the cpu (a script, run by
tests/test_torch_api_ops_ctc.py with NUMBA_ENABLE_CUDASIM=1): concatenated targets (the one
counted copy of the longest target), every reduction, the gradient reaching the logits, and
a bad input length raised at the next copy to the host."""

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
    print("checked ctc on cuda")


if __name__ == "__main__":
    main()

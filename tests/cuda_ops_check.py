"""Tensor ops, functional ops and layers on cuda tensors in the simulator (run by
tests/test_cuda_ops.py in a subprocess with NUMBA_ENABLE_CUDASIM=1).

Every op of the table runs on the same inputs on the host (reference kernels) and on the
simulated device. Each must either
* return only cuda tensors, with no implicit device->host conversion (NumPy reading a
  device array), and the host's values and dtypes (``OPS``), or
* refuse with an error that names the cuda device (``REFUSED``: the op computes on the
  host), raised before any result exists.
An op that returns a host tensor for cuda inputs, converts a device array implicitly or
fails with another error fails the check, and so does a refused op that starts to run (it
then belongs in ``OPS``, with its parity check).
"""

from __future__ import annotations

import numpy as np

import tests.cuda_simulator_check  # noqa: F401  (patches the simulator first)
import tinymm
from tinymm import F, nn
from tinymm.kernels.numba_cuda import _device
from tinymm.tensor import Tensor

RNG = np.random.default_rng(0)
HOST = {"x": RNG.standard_normal((2, 3)).astype(np.float32),
        "img": RNG.standard_normal((1, 4, 3, 3)).astype(np.float32),
        "seq": RNG.standard_normal((2, 3, 4)).astype(np.float32),
        "idx": np.array([[0, 2], [1, 1]], np.int64), "rows": np.array([1, 0], np.int64),
        "bags": np.array([[0, 1], [2, 3]], np.int64)}


def _layer(make):
    """A layer built from seed 0 (the same weights on both sides), moved to ``device``."""
    def run(t, device):
        nn.init.seed(0)
        return make().to(device)
    return run


# name -> fn(tensors, device); the layers take the device to move their parameters
OPS = {
    "exp": lambda t, d: t["x"].exp(), "log": lambda t, d: t["x"].abs().log(),
    "sigmoid": lambda t, d: t["x"].sigmoid(), "tanh": lambda t, d: t["x"].tanh(),
    "sum of bool (a count, int64)": lambda t, d: (t["x"] > 0).sum(1),
    "clone": lambda t, d: t["x"].clone(), "maximum": lambda t, d: t["x"].maximum(t["x"] * 2),
    "softmax": lambda t, d: t["x"].softmax(1), "var": lambda t, d: t["x"].var(1),
    "logsumexp": lambda t, d: t["x"].logsumexp(1), "repeat": lambda t, d: t["x"].repeat(2, 1),
    "sort": lambda t, d: t["x"].sort(1, descending=True), "topk": lambda t, d: t["x"].topk(2, 0),
    "argsort": lambda t, d: t["x"].argsort(1), "roll": lambda t, d: t["x"].roll(1, 1),
    "flip": lambda t, d: t["x"].flip(1), "tril": lambda t, d: t["x"].tril(),
    "triu": lambda t, d: t["x"].triu(1), "movedim": lambda t, d: t["img"].movedim(1, 3),
    "repeat_interleave": lambda t, d: t["x"].repeat_interleave(2, 0),
    "conv_transpose2d": lambda t, d: _layer(lambda: nn.ConvTranspose2d(4, 2, 2, stride=2))(
        t, d)(t["img"]),
    "pixel_shuffle": lambda t, d: nn.PixelShuffle(2)(t["img"]),
    "instance_norm": lambda t, d: _layer(lambda: nn.InstanceNorm2d(4, affine=True))(t, d)(
        t["img"]),
    "batch_norm": lambda t, d: _layer(lambda: nn.BatchNorm2d(4))(t, d)(t["img"]),
    "embedding_bag": lambda t, d: _layer(lambda: nn.EmbeddingBag(5, 3))(t, d)(t["bags"]),
    "unfold": lambda t, d: F.unfold(t["img"], 2),
    "fold": lambda t, d: F.fold(F.unfold(t["img"], 2), (3, 3), 2),
    "interpolate": lambda t, d: F.interpolate(t["img"], scale_factor=2),
    "pack": lambda t, d: nn.utils.rnn.pack_padded_sequence(t["seq"], [3, 2],
                                                           batch_first=True).data,
    "floor": lambda t, d: (t["x"] * 3).floor(), "ceil": lambda t, d: (t["x"] * 3).ceil(),
    "round": lambda t, d: (t["x"] * 3).round(), "trunc": lambda t, d: (t["x"] * 3).trunc(),
    "sign": lambda t, d: t["x"].sign(), "erf": lambda t, d: t["x"].erf(),
    "gelu": lambda t, d: F.gelu(t["x"]), "gelu_tanh": lambda t, d: F.gelu(t["x"], "tanh"),
    "prod": lambda t, d: t["x"].prod(1), "prod_all": lambda t, d: t["x"].prod(),
    "prod_int": lambda t, d: t["idx"].prod(0), "pad": lambda t, d: F.pad(t["x"], (1, 1)),
    "pad_value": lambda t, d: F.pad(t["img"], (1, 0, 0, 2), value=0.5),
    "pad_reflect": lambda t, d: F.pad(t["img"], (1, 1, 2, 0), mode="reflect"),
    "pad_replicate": lambda t, d: F.pad(t["img"], (2, 1, 0, 1), mode="replicate"),
    "pad_circular": lambda t, d: F.pad(t["img"], (1, 2, 1, 0), mode="circular"),
    "mse_loss": lambda t, d: F.mse_loss(t["x"], t["x"] * 0.5),
    "l1_loss": lambda t, d: F.l1_loss(t["x"], t["x"] * 0.5, reduction="sum"),
    "smooth_l1_loss": lambda t, d: F.smooth_l1_loss(t["x"], t["x"] * 0.5, beta=0.3),
    "huber_loss": lambda t, d: F.huber_loss(t["x"], t["x"] * 0.5, reduction="none", delta=0.3),
    "bce_with_logits": lambda t, d: (
        F.binary_cross_entropy_with_logits(t["x"] * 3, t["x"].sigmoid()),
        F.binary_cross_entropy_with_logits(t["x"], t["x"].abs() / 3, t["x"][0].abs(),
                                           reduction="none", pos_weight=t["x"][1].abs())),
    "nll_loss": lambda t, d: (F.nll_loss(t["x"].log_softmax(1), t["rows"] + 1),
                              F.nll_loss(t["x"], t["rows"], t["x"][0].abs(), reduction="none",
                                         ignore_index=0)),
    "nll_loss_2d": lambda t, d: F.nll_loss(t["seq"].log_softmax(1), t["idx"][:, :1].repeat(1, 4)),
    "fmod": lambda t, d: (t["x"].fmod(t["x"][0] * 0.4 - 0.1), t["x"].fmod(0.3)),
    "remainder": lambda t, d: (t["x"].remainder(t["x"][1] * -0.4), (t["x"] * 5).remainder(2)),
    "atan2": lambda t, d: tinymm.atan2(t["x"], t["x"][1] - 0.2),
    "nan_to_num": lambda t, d: (t["odd"].nan_to_num(), t["odd"].nan_to_num(1.0, 9.0, -9.0)),
    "rounding_nan_inf": lambda t, d: [getattr(t["odd"], m)() for m in
                                      ("floor", "ceil", "round", "trunc", "sign")],
}
# the indexing family on the device (kernels gather and scan); index 2 of "ties" repeats
HOST.update({"ties": np.array([[1.0, 3.0, 3.0, -1.0], [2.0, 2.0, -5.0, 2.0]], np.float32),
             "neg": np.array([[-1, 0], [2, -3]], np.int64),
             "odd": np.array([[np.nan, np.inf, 1.0], [-np.inf, 0.0, 2.0]], np.float32),
             "dup": np.array([[1, 2, 1], [0, 5, 0], [1, 2, 1], [3, 3, 3], [0, 5, 0]], np.float32)})
OPS.update({
    "max_dim": lambda t, d: t["ties"].max(1), "min_dim": lambda t, d: t["ties"].min(0),
    "argmax": lambda t, d: t["ties"].argmax(1), "argmin_all": lambda t, d: t["ties"].argmin(),
    "cumsum": lambda t, d: t["x"].cumsum(1), "cumsum_int": lambda t, d: t["idx"].cumsum(0),
    "cumprod": lambda t, d: t["x"].cumprod(1), "cummax": lambda t, d: t["ties"].cummax(1),
    "cummin": lambda t, d: t["ties"].cummin(0), "gather": lambda t, d: t["x"].gather(1, t["idx"]),
    "gather_negative": lambda t, d: t["x"].gather(1, t["neg"]),
    "take_along_dim": lambda t, d: t["x"].take_along_dim(t["idx"], 1),
    "take": lambda t, d: t["x"].take(t["neg"]),
    "scatter": lambda t, d: t["x"].scatter(1, t["rows"].reshape(2, 1), t["x"]),
    "scatter_value": lambda t, d: t["x"].scatter(0, t["idx"][:, :1], 7.0),
    "scatter_add": lambda t, d: t["x"].scatter_add(1, t["idx"], t["x"][:, :2]),
    "index_add": lambda t, d: t["x"].index_add(0, t["rows"], t["x"]),
    "index_fill": lambda t, d: t["x"].index_fill(1, t["rows"], -2.0),
    "where": lambda t, d: tinymm.where(t["x"] > 0, t["x"], t["x"] * 0),
    "where_scalar": lambda t, d: tinymm.where(t["x"] < 0, 1.5, t["x"]),
    "masked_fill": lambda t, d: t["x"].masked_fill(t["x"] > 0, 0.0),
    "masked_select": lambda t, d: t["x"].masked_select(t["x"] > 0),
    "one_hot": lambda t, d: F.one_hot(t["rows"], 3),
    "one_hot_inferred": lambda t, d: F.one_hot(t["idx"]),
    "compare": lambda t, d: (t["x"] >= t["x"][0], t["idx"] == 1, t["x"] != 0.5),
    "logical": lambda t, d: ~(t["x"] > 0) | (t["x"] < -1) & (t["x"] != 0) ^ (t["x"] > 1),
    "logical_fns": lambda t, d: (tinymm.logical_and(t["x"], t["idx"][:, :1]),
                                 tinymm.logical_xor(t["x"] > 0, t["x"] < 1),
                                 tinymm.logical_not(t["idx"]), tinymm.isnan(t["odd"]),
                                 tinymm.isinf(t["odd"]), tinymm.isfinite(t["odd"])),
    "count_nonzero": lambda t, d: (tinymm.count_nonzero(t["x"] > 0, 1),
                                   tinymm.count_nonzero(t["idx"])),
    "any_all": lambda t, d: ((t["x"] > 0).any(1), (t["x"] > -3).all(), t["idx"].any(0)),
    "nonzero": lambda t, d: ((t["x"] > 0).nonzero(), t["idx"].nonzero(as_tuple=True)),
    "where_cond_only": lambda t, d: tinymm.where(t["x"] > 0),
    "index_select": lambda t, d: (t["x"].index_select(1, t["neg"][1]),
                                  t["x"].index_select(0, t["rows"]),
                                  t["x"].index_select(1, t["rows"][0])),  # a 0-d index
    "mask_getitem": lambda t, d: (t["x"][t["x"] > 0], t["seq"][t["x"] > 0]),
    "isclose": lambda t, d: t["x"].isclose(t["x"] + 1e-7),
    "bincount": lambda t, d: (t["rows"].bincount(), tinymm.bincount(t["bags"].reshape(-1),
                                                                    t["x"].reshape(-1)[:4], 6)),
    "unique": lambda t, d: (t["ties"].unique(return_inverse=True, return_counts=True),
                            t["idx"].unique()),
    "unique_dim": lambda t, d: (t["dup"].unique(dim=0, return_inverse=True, return_counts=True),
                                t["dup"].unique(dim=1, return_inverse=True, return_counts=True),
                                t["dup"].long().unique(dim=-1), t["ties"][0].unique(dim=0),
                                t["seq"].round().unique(dim=1, return_counts=True)),
})
# the ops lowered to other ops on the device (tests/cuda_lowered_check.py has their backward)
OPS.update({
    "einsum": lambda t, d: (tinymm.einsum("ij,kj->ik", t["x"], t["x"] * 2),
                            tinymm.einsum("bij,bjk", t["seq"], t["seq"].transpose(1, 2)),
                            tinymm.einsum("ii->i", t["x"][:, :2]), tinymm.einsum("...j->", t["x"])),
    "bilinear": lambda t, d: (F.bilinear(t["x"], t["x"] * 0.5, t["seq"][:, :, :3]),
                              _layer(lambda: nn.Bilinear(3, 4, 2))(t, d)(t["x"], t["seq"][:, 0])),
    "binary_cross_entropy": lambda t, d: (
        F.binary_cross_entropy(t["x"].sigmoid(), (t["x"] * 2).sigmoid()),
        F.binary_cross_entropy(t["x"].sigmoid(), t["x"].abs() / 3, t["x"][0].abs(),
                               reduction="none")),
    "BCELoss": lambda t, d: nn.BCELoss(reduction="sum")(t["x"].sigmoid(), t["x"].abs() / 3),
})
REFUSED: dict = {
}


def _tensors(out) -> list:
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    return []


def check_on_device() -> int:
    device_inputs = {k: tinymm.tensor(v, device="cuda") for k, v in HOST.items()}
    host_inputs = {k: tinymm.tensor(v) for k, v in HOST.items()}
    for name, fn in OPS.items():
        with tinymm.use_backend("reference"):
            want = _tensors(fn(host_inputs, "cpu"))
        _device.reset_transfer_stats()
        got = _tensors(fn(device_inputs, "cuda"))
        implicit = _device.transfer_stats()["implicit_d2h_count"]
        assert got and all(t.device == "cuda" for t in got), (name, [t.device for t in got])
        assert implicit == 0, (name, "converted a device array behind the counters")
        for a, b in zip(got, want):
            assert a.dtype == b.dtype, (name, "dtype", a.dtype, b.dtype)
            np.testing.assert_allclose(a.detach().cpu().numpy(), b.detach().numpy(),
                                       rtol=1e-5, atol=1e-6, err_msg=name)
    return len(OPS)


def check_refused() -> int:
    device_inputs = {k: tinymm.tensor(v, device="cuda") for k, v in HOST.items()}
    for name, fn in REFUSED.items():
        try:
            out = fn(device_inputs, "cuda")
        except (RuntimeError, TypeError) as exc:
            assert "cuda" in str(exc), (name, exc)
            continue
        raise AssertionError(f"{name} ran on cuda tensors ({[t.device for t in _tensors(out)]}"
                             "): move it to OPS with its parity check")
    return len(REFUSED)


def check_clip_grad_norm() -> None:
    """``clip_grad_norm_`` on cuda gradients (2-norm and max-norm): the host's total and
    clipped gradients, with one copy back (the total) and the gradients on the device."""
    from tinymm.optim import clip_grad_norm_

    for norm_type in (2.0, float("inf")):
        sides = []
        for device in ("cpu", "cuda"):
            params = [tinymm.tensor(HOST[k], device=device) for k in ("x", "img")]
            for p in params:
                p.grad = tinymm.tensor(3 * HOST["x" if p.ndim == 2 else "img"], device=device)
            _device.reset_transfer_stats()
            with tinymm.use_backend("reference"):
                total = clip_grad_norm_(params, 1.0, norm_type=norm_type)
            sides.append((total, params, _device.transfer_stats()))
        (want, host, _), (got, gpu, moved) = sides
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"norm {norm_type}")
        assert moved["d2h_count"] == 1 and moved["implicit_d2h_count"] == 0, moved
        for a, b in zip(gpu, host):
            assert a.grad.device == "cuda"
            np.testing.assert_allclose(a.grad.cpu().numpy(), b.grad.numpy(), rtol=1e-6)


def check_maximize() -> int:
    """Optimizers with ``maximize=True`` on cuda parameters: the gradient is negated on the
    device (the backend's neg kernel) and three steps match the host bit for bit (which
    differs from descending), with nothing copied."""
    from tinymm import optim

    kinds = [(optim.SGD, {"lr": 0.1, "momentum": 0.9}), (optim.Adam, {"lr": 0.01}),
             (optim.RAdam, {"lr": 0.01}), (optim.Adamax, {"lr": 0.01})]
    for cls, cfg in kinds:
        sides = []
        for device, maximize in (("cpu", True), ("cuda", True), ("cpu", False)):
            p = nn.Parameter(tinymm.tensor(HOST["x"], device=device))
            opt = cls([p], maximize=maximize, **cfg)
            _device.reset_transfer_stats()
            for step in range(3):
                p.grad = tinymm.tensor(HOST["x"] * (step + 1) - 0.3, device=device)
                with tinymm.use_backend("reference"):
                    opt.step()
            sides.append((p, _device.transfer_stats()))
        (host, _), (gpu, moved), (descended, _) = sides
        assert not np.allclose(host.detach().numpy(), descended.detach().numpy()), cls.__name__
        assert gpu.device == "cuda" and moved["d2h_count"] == 0, (cls.__name__, moved)
        np.testing.assert_array_equal(gpu.detach().cpu().numpy(), host.detach().numpy(),
                                      err_msg=f"{cls.__name__} maximize")
    return len(kinds)


if __name__ == "__main__":
    with np.errstate(all="ignore"):
        on_device, refused = check_on_device(), check_refused()
        check_clip_grad_norm()
        maximized = check_maximize()
    print(f"{maximized} optimizers maximize cuda parameters as on the host; ", end="")
    print(f"{on_device} ops on the simulated device match the host; {refused} refuse cuda "
          "tensors with an error naming the device; clip_grad_norm_ runs on the device")

"""``Module.state_dict()`` and ``load_state_dict`` as PyTorch's: detached Tensors sharing
the module's storage, ``keep_vars``, ``prefix``, non-persistent buffers left out, Tensors or
arrays loaded, and missing/unexpected keys reported (returned and raised) as torch reports
them; held to torch on the same modules."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tinymm
from tinymm import nn


def _pair(lib):
    return lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.BatchNorm1d(3), lib.nn.Linear(3, 1))


def test_state_dict_holds_detached_tensors_sharing_the_storage():
    model = _pair(tinymm)
    sd = model.state_dict()
    weight = sd["0.weight"]
    assert isinstance(weight, tinymm.Tensor) and not isinstance(weight, nn.Parameter)
    assert not weight.requires_grad and weight.is_leaf and weight.grad_fn is None
    with tinymm.no_grad():
        model[0].weight.add_(1.0)  # an optimizer step, as seen through the state_dict
    np.testing.assert_array_equal(weight.numpy(), model[0].weight.detach().numpy())
    weight.mul_(0.0)  # and the other way round, as torch
    assert not model[0].weight.detach().numpy().any()
    assert sd["1.num_batches_tracked"].dtype == tinymm.int64
    kept = model.state_dict(keep_vars=True)
    assert kept["0.weight"] is model[0].weight and kept["1.running_mean"] is model[1].running_mean
    snapshot = {k: v.clone() for k, v in model.state_dict().items()}
    with tinymm.no_grad():
        model[0].weight.add_(1.0)
    assert not snapshot["0.weight"].numpy().any()


def test_keys_prefix_destination_and_non_persistent_buffers_match_torch():
    torch = pytest.importorskip("torch")

    def build(lib):
        class WithMask(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = lib.nn.Linear(2, 2)
                self.register_buffer("mask", lib.tril(lib.ones(2, 2)), persistent=False)
                self.register_buffer("scale", lib.ones(2))

        return WithMask()

    ours, theirs = build(tinymm), build(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["scale", "fc.weight",
                                                                    "fc.bias"]
    assert [k for k, _ in ours.named_buffers()] == [k for k, _ in theirs.named_buffers()]
    assert list(ours.state_dict(prefix="m.")) == list(theirs.state_dict(prefix="m."))
    into = {"first": 1}
    assert ours.state_dict(destination=into) is into and list(into)[:2] == ["first", "scale"]
    ours.mask = tinymm.zeros(2, 2)  # assigning keeps the buffer non-persistent, as torch
    theirs.mask = torch.zeros(2, 2)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()}) == ([], [])


def test_load_state_dict_takes_tensors_or_arrays_and_reports_keys_as_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = _pair(tinymm), _pair(torch)
    weights = {k: v.numpy() for k, v in theirs.state_dict().items()}
    mixed = {k: (tinymm.from_numpy(v.copy()) if i % 2 else v) for i, (k, v) in
             enumerate(weights.items())}
    result = ours.load_state_dict(mixed)
    assert repr(result) == repr(theirs.load_state_dict(theirs.state_dict()))
    x = np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32)
    ours.eval(), theirs.eval()
    # atol: the weights are PyTorch's unseeded initialisation (they depend on which tests ran
    # before in this process), and an output near 0 differs by a float32 rounding (measured:
    # at most 6e-8, in 9 of 300 seeds) that no relative tolerance covers
    np.testing.assert_allclose(ours(tinymm.from_numpy(x)).detach().numpy(),
                               theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-6,
                               atol=1e-7)
    # back into torch, from tinymm's Tensors
    theirs.load_state_dict({k: torch.from_numpy(v.numpy())
                            for k, v in ours.state_dict().items()})

    def partial(lib, model):
        sd = model.state_dict()
        del sd["0.bias"]
        sd["extra.weight"] = lib.zeros(1)
        return sd

    got = ours.load_state_dict(partial(tinymm, ours), strict=False)
    want = theirs.load_state_dict(partial(torch, theirs), strict=False)
    assert got.missing_keys == want.missing_keys and got.unexpected_keys == want.unexpected_keys
    assert repr(got) == repr(want)
    bad_ours, bad_theirs = partial(tinymm, ours), partial(torch, theirs)
    bad_ours["2.weight"], bad_theirs["2.weight"] = tinymm.zeros(2, 2), torch.zeros(2, 2)
    with pytest.raises(RuntimeError) as ours_error:
        ours.load_state_dict(bad_ours)
    with pytest.raises(RuntimeError) as theirs_error:
        theirs.load_state_dict(bad_theirs)
    lines = re.sub(r"\((\d[\d, ]*)\)", r"torch.Size([\1])", str(ours_error.value)).splitlines()
    assert lines[:4] == str(theirs_error.value).splitlines()
    with pytest.raises(RuntimeError, match="size mismatch for 2.weight"):
        ours.load_state_dict(bad_ours, strict=False)  # a size mismatch even when not strict


def test_load_state_dict_assign_and_save_load_round_trip(tmp_path):
    model = nn.Linear(3, 2)
    values = tinymm.randn(2, 3)
    model.load_state_dict({"weight": values, "bias": tinymm.zeros(2)}, assign=True)
    with tinymm.no_grad():
        values.add_(1.0)  # the module now holds this storage
    np.testing.assert_array_equal(model.weight.detach().numpy(), values.numpy())
    tinymm.save(model.state_dict(), tmp_path / "sd.safetensors")
    loaded = tinymm.load(tmp_path / "sd.safetensors")
    assert all(isinstance(v, tinymm.Tensor) for v in loaded.values())
    fresh = nn.Linear(3, 2)
    fresh.load_state_dict(loaded)
    np.testing.assert_array_equal(fresh.weight.detach().numpy(), values.numpy())


def test_shared_submodules_are_visited_once_but_saved_under_every_name_as_torch():
    torch = pytest.importorskip("torch")

    def walk(lib):
        shared, norm = lib.nn.Linear(2, 2), lib.nn.BatchNorm1d(2)
        inner = lib.nn.Sequential(shared, norm)
        model = lib.nn.Sequential(shared, lib.nn.ReLU(), shared, inner, norm)
        calls = []
        model.apply(lambda m: calls.append(type(m).__name__))
        return ([n for n, _ in model.named_modules()], len(list(model.modules())),
                [n for n, _ in model.named_children()], [n for n, _ in model.named_buffers()],
                [n for n, _ in model.named_parameters()], calls, list(model.state_dict()),
                [n for n, _ in model.named_modules(remove_duplicate=False)],
                [n for n, _ in model.named_modules(prefix="net")])

    for ours, theirs in zip(walk(tinymm), walk(torch)):
        assert ours == theirs

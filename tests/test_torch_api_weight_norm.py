"""nn.utils.weight_norm / remove_weight_norm: parameter names, shapes and values, outputs and
g / v / bias gradients over SGD steps against PyTorch's (behind importorskip) for several
layers and dims, a float64 gradcheck through g and v, and misuse."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinymm
from tinymm import nn
from tinymm.nn.utils.weight_norm import norm_except_dim

RNG = np.random.default_rng(10)
LAYERS = [("Linear", (4, 3), (2, 4), 0), ("Conv2d", (2, 3, 3), (2, 2, 5, 5), 1),
          ("Conv2d", (2, 3, 3), (1, 2, 4, 4), None), ("ConvTranspose2d", (2, 3, 2),
                                                      (1, 2, 3, 3), 0)]


@pytest.mark.parametrize("name, args, shape, dim", LAYERS,
                         ids=[f"{n}-dim{d}" for n, _, _, d in LAYERS])
def test_matches_torch_over_sgd_steps_and_removal(name, args, shape, dim):
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's deprecation notice (parametrizations)
        theirs = torch.nn.utils.weight_norm(getattr(torch.nn, name)(*args, dtype=torch.float64),
                                            dim=dim)
    ours = nn.utils.weight_norm(getattr(nn, name)(*args, dtype=np.float64), dim=dim)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    fresh = ours.state_dict()
    np.testing.assert_allclose(fresh["weight_g"], norm_except_dim(
        tinymm.tensor(fresh["weight_v"]), 2, dim).numpy(), rtol=1e-12)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    opt_o = tinymm.optim.SGD(ours.parameters(), lr=0.1)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1)
    x = RNG.standard_normal(shape)
    for _ in range(3):
        for model, opt, lib in ((ours, opt_o, tinymm), (theirs, opt_t, torch)):
            opt.zero_grad()
            (model(lib.tensor(x)) ** 2).sum().backward()
            opt.step()
        for key, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-10,
                                       atol=1e-12, err_msg=key)
    nn.utils.remove_weight_norm(ours)
    torch.nn.utils.remove_weight_norm(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    np.testing.assert_allclose(ours.weight.detach().numpy(), theirs.weight.detach().numpy(),
                               rtol=1e-10)


def test_gradcheck_through_g_and_v():
    layer = nn.utils.weight_norm(nn.Linear(3, 2, dtype=np.float64))

    def fn(g, v, x):
        with tinymm.no_grad():
            layer.weight_g.copy_(g.detach())
            layer.weight_v.copy_(v.detach())
        return x.matmul((v * (g / v.norm(2, dim=1, keepdim=True))).t())

    assert tinymm.gradcheck(fn, [layer.weight_g.detach().numpy().copy(),
                                 layer.weight_v.detach().numpy().copy(),
                                 RNG.standard_normal((2, 3))])


def test_misuse_raises():
    layer = nn.utils.weight_norm(nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match="two weight_norm hooks"):
        nn.utils.weight_norm(layer)
    with pytest.raises(ValueError, match="no parameter 'kernel'"):
        nn.utils.weight_norm(nn.Linear(3, 2), name="kernel")
    with pytest.raises(ValueError, match="weight_norm of 'bias' not found"):
        nn.utils.remove_weight_norm(layer, name="bias")

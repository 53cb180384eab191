"""Spectral normalisation: ``nn.utils.spectral_norm`` (the hook form: weight_orig, weight_u,
weight_v) and ``nn.utils.parametrizations.spectral_norm`` (the parametrization form), held
to torch after the same power iterations from the same u and v (train and eval steps, the
gradient), the singular value against NumPy's SVD, gradcheck, removal and errors."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tinymm import nn
from tinymm.nn.utils import parametrizations, parametrize

LAYERS = [("Linear", (3, 4), (2, 3)), ("Conv2d", (2, 3, 3), (1, 2, 5, 5)),
          ("ConvTranspose2d", (2, 3, 2), (1, 2, 3, 3))]


def test_sigma_converges_to_the_largest_singular_value():
    r = np.random.default_rng(0)
    q1, _ = np.linalg.qr(r.standard_normal((4, 4)))
    q2, _ = np.linalg.qr(r.standard_normal((5, 5)))
    linear = nn.Linear(5, 4, dtype=np.float64)
    linear.weight.array[...] = q1 @ np.diag([3.0, 1.0, 0.5, 0.2]) @ q2[:4]  # sigma_max = 3
    layer = nn.utils.spectral_norm(linear, n_power_iterations=30)
    layer(tinymm.zeros(1, 5, dtype=np.float64))  # one training forward: 30 iterations
    w = layer.weight_orig.detach().numpy()
    np.testing.assert_allclose(np.linalg.norm(layer.weight.detach().numpy(), 2), 1.0,
                               rtol=1e-6)
    u, v = layer.weight_u.numpy(), layer.weight_v.numpy()
    np.testing.assert_allclose(u @ w @ v, 3.0, rtol=1e-8)


def _twin(torch, form: str, kind: str, ctor_args, n: int):
    torch_wrap = (torch.nn.utils.spectral_norm if form == "hook"
                  else torch.nn.utils.parametrizations.spectral_norm)
    wrap = nn.utils.spectral_norm if form == "hook" else parametrizations.spectral_norm
    torch.manual_seed(0)
    theirs = torch_wrap(getattr(torch.nn, kind)(*ctor_args), n_power_iterations=n)
    ours = wrap(getattr(nn, kind)(*ctor_args), n_power_iterations=n)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return theirs, ours


@pytest.mark.parametrize("form", ["hook", "parametrization"])
@pytest.mark.parametrize("kind, ctor_args, x_shape", LAYERS, ids=[k for k, _, _ in LAYERS])
def test_matches_torch(form, kind, ctor_args, x_shape):
    torch = pytest.importorskip("torch")
    theirs, ours = _twin(torch, form, kind, ctor_args, n=2)
    x = np.random.default_rng(0).standard_normal(x_shape).astype(np.float32)
    for step in range(3):  # training: the power iteration runs at each forward
        if step == 2:
            theirs.eval()
            ours.eval()
        want = theirs(torch.from_numpy(x))
        got = ours(tinymm.tensor(x))
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), atol=2e-6)
    want.square().sum().backward()
    got.square().sum().backward()
    weight = "weight_orig" if form == "hook" else "parametrizations.weight.original"
    for name, p in ours.named_parameters():
        tp = dict(theirs.named_parameters())[name]
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), atol=2e-5, err_msg=name)
    assert weight in dict(ours.named_parameters())
    for key, value in theirs.state_dict().items():  # u and v after the same iterations
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), atol=2e-6)


@pytest.mark.parametrize("form", ["hook", "parametrization"])
def test_gradcheck_eval_mode(form):
    wrap = nn.utils.spectral_norm if form == "hook" else parametrizations.spectral_norm
    layer = wrap(nn.Conv2d(2, 3, 2, dtype=np.float64), dim=1)
    layer(tinymm.zeros(1, 2, 3, 3, dtype=np.float64))  # one iteration, then fixed u, v
    layer.eval()
    x = tinymm.tensor(np.random.default_rng(1).standard_normal((1, 2, 3, 3)),
                      requires_grad=True)
    assert tinymm.gradcheck(lambda x, *params: layer(x), (x, *layer.parameters()))


def test_parametrization_recomputes_on_every_read_and_removes():
    layer = parametrizations.spectral_norm(nn.Linear(3, 4), n_power_iterations=1)
    assert type(layer).__name__ == "ParametrizedLinear"
    assert parametrize.is_parametrized(layer, "weight")
    u0 = layer.parametrizations.weight[0]._u.numpy().copy()
    layer.weight  # noqa: B018 - a read in training mode iterates
    assert not np.array_equal(layer.parametrizations.weight[0]._u.numpy(), u0)
    layer.eval()
    value = layer.weight.detach().numpy()
    parametrize.remove_parametrizations(layer, "weight")
    assert type(layer) is nn.Linear and "parametrizations" not in dict(layer.named_modules())
    np.testing.assert_array_equal(layer.weight.detach().numpy(), value)
    one_d = parametrizations.spectral_norm(nn.Linear(3, 4), name="bias")
    np.testing.assert_allclose(np.linalg.norm(one_d.bias.detach().numpy()), 1.0, rtol=1e-6)


def test_hook_form_removes_and_refuses_bad_input():
    layer = nn.utils.spectral_norm(nn.Linear(3, 4))
    layer(tinymm.zeros(1, 3))
    layer.eval()
    value = layer(tinymm.ones(1, 3)).detach().numpy()
    nn.utils.remove_spectral_norm(layer, "weight")
    assert sorted(layer.state_dict()) == ["bias", "weight"]
    np.testing.assert_allclose(layer(tinymm.ones(1, 3)).detach().numpy(), value, rtol=1e-6)
    with pytest.raises(ValueError, match="n_power_iterations to be positive"):
        nn.utils.spectral_norm(nn.Linear(3, 4), n_power_iterations=0)
    with pytest.raises(ValueError, match="no parameter 'kernel'"):
        nn.utils.spectral_norm(nn.Linear(3, 4), name="kernel")
    with pytest.raises(RuntimeError, match="two spectral_norm hooks"):
        nn.utils.spectral_norm(nn.utils.spectral_norm(nn.Linear(3, 4)))
    with pytest.raises(ValueError, match="out of range"):
        parametrizations.spectral_norm(nn.Linear(3, 4), dim=2)
    with pytest.raises(ValueError, match="not found"):
        nn.utils.remove_spectral_norm(nn.Linear(3, 4))

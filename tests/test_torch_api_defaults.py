"""PyTorch's defaults that programs rely on: Tensor.softmax / torch.softmax need dim (only
F.softmax has an implicit one) and take dtype; a layer's explicit dtype wins over
set_default_dtype; each held to PyTorch (behind importorskip)."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tests.torch_twin import same_values_and_grads

LAYERS = [
    ("Linear", (3, 2)), ("Conv2d", (1, 2, 3)), ("Conv1d", (2, 2, 3)), ("LSTM", (2, 3)),
    ("GRU", (2, 3)), ("Embedding", (4, 2)), ("LayerNorm", (3,)), ("BatchNorm2d", (3,)),
    ("ConvTranspose2d", (2, 1, 3)), ("MultiheadAttention", (4, 2)),
    ("TransformerEncoderLayer", (4, 2, 8)), ("LSTMCell", (2, 3)), ("GroupNorm", (2, 4)),
]


@pytest.mark.parametrize("name, args", LAYERS, ids=[n for n, _ in LAYERS])
def test_explicit_layer_dtype_wins_over_the_default_dtype(name, args):
    torch = pytest.importorskip("torch")
    for explicit, default in ((np.float32, np.float64), (np.float64, np.float32)):
        tinymm.set_default_dtype(default)
        torch.set_default_dtype(getattr(torch, np.dtype(default).name))
        try:
            ours = getattr(tinymm.nn, name)(*args, dtype=explicit).state_dict()
            theirs = getattr(torch.nn, name)(*args, dtype=getattr(
                torch, np.dtype(explicit).name)).state_dict()
            plain = getattr(tinymm.nn, name)(*args).state_dict()
        finally:
            tinymm.set_default_dtype(np.float32)
            torch.set_default_dtype(torch.float32)
        assert list(ours) == list(theirs)
        for key, value in ours.items():
            assert str(value.dtype) == str(theirs[key].dtype), key
            if value.dtype.kind == "f":
                assert plain[key].dtype == np.dtype(default), key


def test_tensor_softmax_requires_dim_and_takes_dtype_as_pytorch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    ours, theirs = tinymm.tensor(x), torch.tensor(x)
    for call in (lambda t: t.softmax(), lambda t: t.log_softmax(),
                 lambda t: (tinymm if isinstance(t, tinymm.Tensor) else torch).softmax(t)):
        with pytest.raises(TypeError):
            call(theirs)
        with pytest.raises(TypeError, match="dim"):
            call(ours)
    for name in ("softmax", "log_softmax"):
        got = getattr(ours, name)(0, dtype=tinymm.float64)
        want = getattr(theirs, name)(0, dtype=torch.float64)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
        got = getattr(tinymm.nn.functional, name)(ours, dim=1, dtype=tinymm.float64)
        np.testing.assert_allclose(got.numpy(), getattr(torch.nn.functional, name)(
            theirs, dim=1, dtype=torch.float64).numpy(), rtol=1e-12)


def test_replacing_a_submodule_or_parameter_keeps_its_place_as_pytorch():
    torch = pytest.importorskip("torch")

    def surgery(lib):
        net = lib.nn.Sequential()
        net.conv1 = lib.nn.Conv2d(3, 4, 3)
        net.bn1 = lib.nn.BatchNorm2d(4)
        net.fc = lib.nn.Linear(4, 2)
        net.conv1 = lib.nn.Conv2d(1, 4, 3)  # the first layer replaced (transfer learning)
        net.fc.weight = lib.nn.Parameter(lib.zeros(2, 4))
        trunk = lib.nn.Sequential(*list(net.children())[:-1])
        return ([name for name, _ in net.named_children()], list(trunk.state_dict()),
                list(net.fc.state_dict()))

    assert surgery(tinymm) == surgery(torch)


def test_autograd_namespace_names_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal(3)

    def run(lib):
        v = lib.autograd.Variable(lib.tensor(x), requires_grad=True)
        lib.autograd.backward([(v * 2).sum(), v ** 2], [None, lib.ones(3, dtype=lib.float64)])
        with lib.autograd.set_grad_enabled(False):
            off = (v * 2).requires_grad
        with lib.autograd.enable_grad():
            on = (v * 2).requires_grad
        with lib.autograd.set_detect_anomaly(True):
            pass
        ok = lib.autograd.gradcheck(lambda a: (a ** 3).sum(), (lib.tensor(
            x, requires_grad=True),))
        return v.grad.numpy(), off, on, ok

    ours, theirs = run(tinymm), run(torch)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
    assert ours[1:] == theirs[1:] == (False, True, True)
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        tinymm.autograd.backward(tinymm.ones(2, requires_grad=True) * 2)

    class WrongSquare(tinymm.autograd.Function):  # forward a^2, backward claims 1
        @staticmethod
        def forward(ctx, a):
            return a * a

        @staticmethod
        def backward(ctx, grad):
            return grad

    point = (np.array([0.3, 1.7]),)
    assert tinymm.autograd.gradcheck(WrongSquare.apply, point, raise_exception=False) is False
    with pytest.raises(tinymm.GradcheckError):
        tinymm.autograd.gradcheck(WrongSquare.apply, point)


def test_bilinear_layer_and_function_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    theirs = torch.nn.Bilinear(4, 5, 3, dtype=torch.float64)
    ours = tinymm.nn.Bilinear(4, 5, 3, dtype=np.float64)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert np.abs(ours.weight.detach().numpy()).max() <= 0.5  # U(-1/sqrt(4), 1/sqrt(4))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    a, b = rng.standard_normal((2, 6, 4)), rng.standard_normal((2, 6, 5))
    same_values_and_grads(lambda lib, x, y: (ours if lib is tinymm else theirs)(x, y), [a, b],
                          rng)
    w, c = rng.standard_normal((3, 4, 5)), rng.standard_normal(3)
    same_values_and_grads(lambda lib, x, y, w, c: lib.nn.functional.bilinear(x, y, w, c),
                          [a[0], b[0], w, c], rng)
    assert tinymm.gradcheck(tinymm.F.bilinear, [a[0, :2], b[0, :2], w, c])
    with pytest.raises(ValueError, match=r"bilinear: expected input1 \(\.\.\., in1\)"):
        tinymm.F.bilinear(tinymm.tensor(a), tinymm.tensor(b), tinymm.tensor(w[:, :3]))

"""PyTorch's defaults that programs rely on: Tensor.softmax / torch.softmax need dim (only
F.softmax has an implicit one) and take dtype; a layer's explicit dtype wins over
set_default_dtype; each held to PyTorch (behind importorskip)."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm

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
            assert str(value.dtype) == str(theirs[key].dtype).replace("torch.", ""), key
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

"""``initial_state=`` on the Keras LSTM, GRU and SimpleRNN layers: outputs and final states
against Keras 3 from the same weights and states, gradients reaching the states (float64
gradcheck), and a clear error for the wrong number or shape of states."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tests.keras3 import as_numpy, keras3
from tinymm import keras

KINDS = [("LSTM", 2), ("GRU", 1), ("SimpleRNN", 1)]


def data(dtype=np.float32):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 3)).astype(dtype)
    return x, [rng.standard_normal((2, 5)).astype(dtype) for _ in range(2)]


@pytest.mark.parametrize(("kind", "n_states"), KINDS)
def test_initial_state_matches_keras(kind, n_states):
    real = keras3()
    x, states = data()
    theirs = getattr(real.layers, kind)(5, return_sequences=True, return_state=True)
    want = theirs(x, initial_state=states[:n_states])
    ours = getattr(keras.layers, kind)(5, return_sequences=True, return_state=True)
    ours(x)
    ours.set_weights([as_numpy(w) for w in theirs.get_weights()])
    got = ours(x, initial_state=states[:n_states])
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.numpy(), as_numpy(b), rtol=1e-5, atol=1e-6)
    start = ours(x, initial_state=[np.zeros_like(s) for s in states[:n_states]])[0].numpy()
    np.testing.assert_allclose(start, ours(x)[0].numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(("kind", "n_states"), KINDS)
def test_initial_state_gradcheck_and_errors(kind, n_states):
    x, states = data(np.float64)
    layer = getattr(keras.layers, kind)(5, dtype="float64")
    layer(x)
    s = [tinymm.tensor(a, requires_grad=True) for a in states[:n_states]]
    assert tinymm.gradcheck(lambda *h: layer(x, initial_state=list(h)), s)
    with pytest.raises(ValueError, match=f"{kind} '.*initial_state takes {n_states}"):
        layer(x, initial_state=states[:n_states] + states[:1])
    with pytest.raises(ValueError, match=rf"{kind} '.*must be \(N, 5\)"):
        layer(x, initial_state=[np.zeros((2, 4))] * n_states)

"""Keras MultiHeadAttention whose heads do not tile the query width (keras/attention_heads.py):
values, scores and parameter counts against Keras 3 from the same weights, a float64
gradient check, the config round trip and a clear error for bad input."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tests.keras3 import as_numpy, keras3
from tinymm import keras

OPTIONS = [{"num_heads": 2, "key_dim": 4, "value_dim": 3},
           {"num_heads": 3, "key_dim": 6},
           {"num_heads": 2, "key_dim": 2, "value_dim": 5, "use_bias": False}]


def arrays(dtype=np.float32):
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 3, 6)).astype(dtype)
    v = rng.standard_normal((2, 4, 5)).astype(dtype)
    return q, v, rng.random((2, 3, 4)) > 0.3


@pytest.mark.parametrize("options", OPTIONS)
def test_matches_keras_with_mask_and_scores(options):
    real = keras3()
    q, v, mask = arrays()
    theirs = real.layers.MultiHeadAttention(**options)
    want, want_scores = theirs(q, v, attention_mask=mask, return_attention_scores=True)
    ours = keras.layers.MultiHeadAttention(**options)
    ours(q, v)
    assert ours.count_params() == theirs.count_params()
    ours.set_weights([as_numpy(w) for w in theirs.get_weights()])
    out, scores = ours(q, v, attention_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(out.numpy(), as_numpy(want), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scores.numpy(), as_numpy(want_scores), rtol=1e-5, atol=1e-6)
    key = np.random.default_rng(1).standard_normal((2, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(ours(q, v, key=key).numpy(), as_numpy(theirs(q, v, key=key)),
                               rtol=1e-5, atol=1e-6)


def test_gradcheck_float64():
    q, v, mask = arrays(np.float64)
    layer = keras.layers.MultiHeadAttention(2, 3, value_dim=2, dtype="float64")
    layer(q, v)
    inputs = [tinymm.tensor(q, requires_grad=True), tinymm.tensor(v, requires_grad=True)]
    assert tinymm.gradcheck(lambda a, b: layer(a, b, attention_mask=mask), inputs)
    assert tinymm.gradcheck(lambda w: layer(inputs[0], inputs[1]), [layer.weights[0]])


def test_config_round_trip_and_bad_input():
    layer = keras.layers.MultiHeadAttention(2, 4, value_dim=3, use_bias=False, name="mha")
    again = keras.layers.MultiHeadAttention.from_config(layer.get_config())
    assert (again.num_heads, again.key_dim, again.value_dim, again.use_bias) == (2, 4, 3, False)
    x = keras.Input((3, None))
    with pytest.raises(ValueError, match="MultiHeadAttention 'mha'.*widths must be known"):
        layer(x, x)
    with pytest.raises(ValueError, match="MultiHeadAttention 'mha'.*query and value must be"):
        layer(keras.Input((6,)), keras.Input((4, 5)))

"""The activations added for Keras configs that name them (selu, softsign, relu6,
hard_sigmoid, exponential, mish): values and gradients against Keras 3, and a float64
gradient check."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tests.keras3 import check_op_against_keras, keras3
from tinymm.keras import activations

NAMES = ["selu", "softsign", "relu6", "hard_sigmoid", "exponential", "mish"]


@pytest.mark.parametrize("name", NAMES)
def test_matches_keras(name):
    real = keras3()
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3, 5)) * 4).astype(np.float32)
    x[0, :2] = [2.9, -2.9]  # near hard_sigmoid's corners at -3, 3, not on them
    check_op_against_keras(getattr(real.activations, name), activations.get(name), [x], {},
                           True, rng)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_float64(name):
    x = np.random.default_rng(1).standard_normal((2, 4)) * 2.5
    x = x[np.abs(np.abs(x) - 3.0) > 0.1].reshape(-1)[:6]  # away from the kinks at -3, 3
    x = x[np.abs(x) > 0.1]
    assert tinymm.gradcheck(activations.get(name), [tinymm.tensor(x, requires_grad=True)])

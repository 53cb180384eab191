"""The Keras 3 oracle for the tests/test_keras_api_*.py files: Keras on the PyTorch
backend, or a skip when Keras or PyTorch is missing or Keras runs on another backend."""

from __future__ import annotations

import os

import pytest


def keras3():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    if keras.backend.backend() != "torch":
        pytest.skip("Keras 3 is installed with another backend than torch")
    return keras

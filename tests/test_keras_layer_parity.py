"""Every Keras layer tinymm maps onto nn/ops, against Keras 3 (PyTorch backend) where it is
installed: the same model built in both, Keras's weights copied in with ``set_weights``
(Keras's layouts), then the same parameter counts, the same inference outputs and the same
loss after one SGD step. Without Keras: float64 gradchecks of the new layers."""

from __future__ import annotations

import os

import numpy as np
import pytest

import tinymm
from tinymm import keras as tk

RNG = np.random.default_rng(0)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("Keras 3 is installed with another backend than torch")
    return keras


def seq_input(k, T=6, D=5):
    return k.Input(shape=(T, D), dtype="float32")


CASES = {
    "gru": lambda k: (seq_input(k), lambda x: k.layers.GRU(4)(x)),
    "gru_sequences": lambda k: (seq_input(k), lambda x: k.layers.GRU(3, return_sequences=True)(x)),
    "simple_rnn": lambda k: (seq_input(k), lambda x: k.layers.SimpleRNN(4)(x)),
    "bidirectional_lstm": lambda k: (seq_input(k), lambda x: k.layers.Bidirectional(
        k.layers.LSTM(3, return_sequences=True))(x)),
    "bidirectional_gru_sum": lambda k: (seq_input(k), lambda x: k.layers.Bidirectional(
        k.layers.GRU(3), merge_mode="sum")(x)),
    "conv1d_same_strided": lambda k: (seq_input(k, 9, 3), lambda x: k.layers.Conv1D(
        4, 3, strides=2, padding="same", activation="relu")(x)),
    "conv1d_causal_dilated": lambda k: (seq_input(k, 9, 3), lambda x: k.layers.Conv1D(
        2, 2, padding="causal", dilation_rate=2)(x)),
    "pooling1d": lambda k: (seq_input(k, 8, 3), lambda x: k.layers.concatenate([
        k.layers.GlobalMaxPooling1D()(k.layers.MaxPooling1D(2)(x)),
        k.layers.GlobalAveragePooling1D()(k.layers.AveragePooling1D(3, strides=2)(x))])),
    "batch_norm_and_layer_norm": lambda k: (seq_input(k), lambda x: k.layers.LayerNormalization()(
        k.layers.BatchNormalization()(k.layers.Dense(4)(x)))),
    "batch_norm_images": lambda k: (k.Input(shape=(4, 4, 2)), lambda x: k.layers.Flatten()(
        k.layers.BatchNormalization(momentum=0.9)(x))),
    "time_distributed_repeat_permute": lambda k: (k.Input(shape=(5,)), lambda x: k.layers.Permute(
        (2, 1))(k.layers.TimeDistributed(k.layers.Dense(2))(k.layers.RepeatVector(3)(x)))),
    "activations_merges": lambda k: (k.Input(shape=(5,)), lambda x: k.layers.average([
        k.layers.LeakyReLU(negative_slope=0.1)(x), k.layers.Softmax()(x),
        k.layers.subtract([x, k.layers.ReLU()(x)])])),
    "multi_head_attention": lambda k: (seq_input(k, 4, 6), lambda x: k.layers.MultiHeadAttention(
        num_heads=2, key_dim=3)(x, x)),
    "attention": lambda k: (seq_input(k, 4, 3), lambda x: k.layers.Attention(use_scale=True)(
        [x, x])),
    "embedding_lstm_mask": lambda k: (k.Input(shape=(6,), dtype="int32"), lambda x: k.layers.LSTM(
        3)(k.layers.Embedding(9, 4, mask_zero=True)(x))),
    "embedding_average_mask": lambda k: (k.Input(shape=(6,), dtype="int32"), lambda x:
                                         k.layers.GlobalAveragePooling1D()(
                                             k.layers.Embedding(9, 4, mask_zero=True)(x))),
    "embedding_dense_gru_mask": lambda k: (k.Input(shape=(6,), dtype="int32"), lambda x:
                                           k.layers.GRU(3)(k.layers.Dense(4)(
                                               k.layers.Embedding(9, 4, mask_zero=True)(x)))),
    "rescaling": lambda k: (k.Input(shape=(3,)), lambda x: k.layers.Rescaling(0.5, 0.25)(x)),
}
MASKED = ("embedding_lstm_mask", "embedding_average_mask", "embedding_dense_gru_mask")


def build(k, name):
    inp, body = CASES[name](k)
    out = k.layers.Dense(2)(k.layers.Flatten()(body(inp)) if name not in MASKED
                            else body(inp))
    return k.Model(inp, out)


def data(name):
    if name in MASKED:
        x = RNG.integers(1, 9, (4, 6))
        x[:2, 4:] = 0  # right padding
        return x
    model_input = CASES[name](tk)[0]
    return RNG.standard_normal((4,) + tuple(model_input.shape[1:])).astype(np.float32)


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_matches_keras_3(name):
    keras = _keras()
    keras.utils.set_random_seed(0)
    theirs, ours = build(keras, name), build(tk, name)
    assert ours.count_params() == theirs.count_params()
    ours.set_weights(theirs.get_weights())
    x = data(name)
    y = RNG.standard_normal((4, 2)).astype(np.float32)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), rtol=1e-4,
                               atol=1e-5)
    for model in (theirs, ours):
        model.compile(optimizer=(keras if model is theirs else tk).optimizers.SGD(0.1),
                      loss="mse")
    np.testing.assert_allclose(ours.train_on_batch(x, y), theirs.train_on_batch(x, y),
                               rtol=1e-4)  # training-mode forward (BatchNorm batch stats)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0),
                               rtol=1e-4, atol=1e-6)  # after the step (moving stats too)


GRADCHECKED = ["gru", "simple_rnn", "bidirectional_lstm", "conv1d_same_strided",
               "conv1d_causal_dilated", "pooling1d", "batch_norm_and_layer_norm",
               "time_distributed_repeat_permute", "activations_merges", "attention"]


class _Float64Inputs:
    """tinymm.keras, with float64 Inputs (gradcheck needs float64 end to end)."""

    def __getattr__(self, name):
        return getattr(tk, name)

    @staticmethod
    def Input(shape, dtype="float64", **kwargs):  # noqa: N802 (Keras's name)
        return tk.Input(shape=shape, dtype="float64" if dtype == "float32" else dtype, **kwargs)


@pytest.mark.parametrize("name", GRADCHECKED)
def test_layer_gradcheck(name):
    tk.utils.set_random_seed(1)
    inp, body = CASES[name](_Float64Inputs())
    model = tk.Model(inp, body(inp))
    model.to(np.float64)
    model.train()  # BatchNormalization in training mode: batch statistics
    x = tinymm.tensor(data(name).astype(np.float64), requires_grad=True)
    assert tinymm.gradcheck(lambda v: model(v), [x])

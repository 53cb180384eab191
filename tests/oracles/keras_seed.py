"""The seed model written with the Keras front end (``tinymm.keras``), as in the seed article.

``build_keras_model(config)`` gives a functional ``keras.Model`` with inputs
``[image (N, 32, 32, 3) channels-last, tokens (N, T)]`` computing the same function as
``MultimodalVQA(config)`` for the fusions plain Keras layers express: ``concat``,
``multiply``, ``image_only`` and ``question_only``. ``load_keras_weights(keras_model, model)``
copies its weights into a ``MultimodalVQA`` so that both give the same logits (the test in
tests/test_models.py checks it). Two layout facts make the copy more than a rename:

* Keras flattens the (8, 8, 64) map channels-last (h, w, c); tinymm flattens NCHW (c, h, w),
  so the 4096 input columns of the image Dense are permuted;
* Keras's LSTM has one bias per gate, PyTorch's two (b_ih + b_hh, always summed): b_hh = 0.

Masking: ``Embedding(mask_zero=True)`` marks id 0 as padding and the LSTM stops at each
question's last real token, the same as passing ``lengths`` to ``nn.LSTM``.
"""

from __future__ import annotations

import numpy as np

KERAS_FUSIONS = ("concat", "multiply", "image_only", "question_only")


def build_keras_model(config, max_len: int = 7):
    from tinymm import keras

    c = config
    if c.fusion not in KERAS_FUSIONS:
        raise ValueError(f"build_keras_model: fusion '{c.fusion}' has no plain-Keras form here; "
                         f"choose one of {', '.join(KERAS_FUSIONS)} (attention, gated and "
                         "bilinear use tinymm.nn layers directly)")
    L = keras.layers
    image = keras.Input(shape=(c.image_size, c.image_size, c.image_channels), name="image")
    tokens = keras.Input(shape=(max_len,), dtype="int64", name="tokens")
    if c.fusion != "question_only":
        x = L.Conv2D(c.conv1_channels, 3, padding="same", activation="relu", name="conv1")(image)
        x = L.Conv2D(c.conv2_channels, 3, padding="same", activation="relu", name="conv2")(x)
        x = L.MaxPooling2D(2, name="pool1")(x)
        x = L.MaxPooling2D(2, name="pool2")(x)
        v = L.Dense(c.fused_dim, name="image_fc")(L.Flatten(name="flatten")(x))
    if c.fusion != "image_only":
        e = L.Embedding(c.vocab_size, c.embed_dim, mask_zero=True, name="embedding")(tokens)
        q = L.LSTM(c.hidden_size, name="lstm")(e)
    if c.fusion == "concat":
        f = L.Concatenate(name="fusion")([v, q])
    elif c.fusion == "multiply":
        f = L.Multiply(name="fusion")([v, q])
    elif c.fusion == "image_only":
        f = v
    else:
        f = q
    h = L.Dense(c.head_hidden, activation="relu", name="head_hidden")(f)
    logits = L.Dense(c.num_answers, name="head_out")(h)
    inputs = [image, tokens]
    return keras.Model(inputs=inputs, outputs=logits, name=f"seed_vqa_{c.fusion}")


def load_keras_weights(keras_model, model) -> None:
    """Copy the Keras model's weights into ``model`` (a MultimodalVQA of the same config)."""
    c = model.config
    k = {name: v.numpy() for name, v in keras_model.state_dict().items()}  # PyTorch layouts
    state = {}
    for name, value in k.items():
        if name.startswith("lstm."):
            continue
        state[name] = value
    if c.fusion != "question_only":
        side, C = c.map_size, c.conv2_channels
        w = k["image_fc.weight"]  # (F, side*side*C), columns in (h, w, c) order
        w = w.reshape(-1, side, side, C).transpose(0, 3, 1, 2).reshape(w.shape[0], -1)
        state["image_fc.weight"] = w  # columns in (c, h, w) order
    if c.fusion != "image_only":
        state["lstm.weight_ih_l0"] = k["lstm.weight_ih_l0"]
        state["lstm.weight_hh_l0"] = k["lstm.weight_hh_l0"]
        state["lstm.bias_ih_l0"] = k["lstm.bias_ih_l0"]
        state["lstm.bias_hh_l0"] = np.zeros_like(k["lstm.bias_ih_l0"])
    model.load_state_dict(state)

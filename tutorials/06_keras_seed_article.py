# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 06 · The seed article's Keras program, on tinymm
#
# tinymm began with an article that explains multimodal models with a short Keras program:
# an image branch (two 3x3 convolutions, then Flatten), a text branch (Embedding, then an
# LSTM), the two joined by an element-wise product (`Multiply`), and a dense softmax head.
# This tutorial runs that kind of program on tinymm with only the import changed:
#
#     import tensorflow as tf                  ->   import tinymm as tf
#     from tensorflow.keras import layers      ->   from tinymm.keras import layers
from tinymm.exercises.literate import run_as_lesson

if run_as_lesson(globals()):  # run as a script: print the prose, run the cells, stop here
    raise SystemExit(0)
#
# 1. the program wired as the article wires it, and the error it runs into;
# 2. why: counting the widths by hand;
# 3. the one-line fix, `summary()` with Keras's parameter counts, and training with the
#    progress bar;
# 4. **exercise**: write the fusion yourself; the checker says what is wrong;
# 5. saving and loading the trained model.
#
# The program below is our own, written for this tutorial; `vocab_size`, `num_classes` and
# the data are small and generated so that it runs in seconds.

# %%
import os
from pathlib import Path

import numpy as np

import tinymm as tf
from tinymm.keras import layers

tf.nn.init.seed(0)  # weights, dropout masks and shuffling all draw from this generator
OUT = Path(os.environ.get("TINYMM_TUTORIAL_OUT", "."))

vocab_size = 200  # token ids 1..199; 0 is padding
num_classes = 4
max_len = 10  # tokens per text
image_shape = (32, 32, 3)  # channels-last, as in Keras

# %% [markdown]
# ## Data
#
# 48 image/text pairs. The label is decided by the *text* (its first token, modulo the number
# of classes) *plus* whether the image is bright, so a model has to read both inputs to be
# right every time. Texts are right-padded with 0.

# %%
rng = np.random.default_rng(0)
N = 48
text_train = rng.integers(1, vocab_size, size=(N, max_len))
lengths = rng.integers(3, max_len + 1, size=N)
text_train[np.arange(max_len)[None, :] >= lengths[:, None]] = 0  # right padding
bright = rng.integers(0, 2, size=N)
img_train = (rng.random((N,) + image_shape) * 0.5 + bright[:, None, None, None] * 0.5)
img_train = img_train.astype(np.float32)
labels = (text_train[:, 0] + bright) % num_classes
print("images", img_train.shape, "texts", text_train.shape, "labels", np.bincount(labels))

# %% [markdown]
# ## 1. The program as the article wires it
#
# The image branch keeps 'same' padding, so its feature map is 32 x 32 with 64 channels, and
# Flatten turns it into 32 * 32 * 64 = 65,536 numbers per image. The text branch ends in
# `LSTM(128)`: 128 numbers per text. An element-wise product needs two vectors of one length.
# Keras reports this deep inside its broadcasting code; tinymm reports it when the layer is
# called, names both layers and widths, and says how to fix it.

# %%
def image_branch(img_input):
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(img_input)
    x = layers.Conv2D(64, (3, 3), activation="relu", padding="same")(x)
    return layers.Flatten()(x)


def text_branch(text_input):
    t = layers.Embedding(vocab_size, 128, mask_zero=True)(text_input)
    return layers.LSTM(128)(t)


img_input = tf.keras.Input(shape=image_shape, name="image")
text_input = tf.keras.Input(shape=(max_len,), name="text")
x = image_branch(img_input)
t = text_branch(text_input)
try:
    fused = layers.Multiply()([x, t])
except ValueError as err:
    print("ValueError:", err)
    error_message = str(err)
assert "65536" in error_message and "128" in error_message and "Dense(128)" in error_message

# %% [markdown]
# ## 2. Counting the widths
#
# | tensor | shape | width |
# |---|---|---|
# | image after two 'same' 3x3 convolutions | (None, 32, 32, 64) | |
# | after Flatten | (None, 65536) | 32 * 32 * 64 |
# | text after Embedding | (None, 10, 128) | |
# | after LSTM(128) | (None, 128) | the last hidden state |
#
# So the product needs one branch projected to the other's width. Projecting the text up to
# 65,536 would make a 65,536-wide fused vector; projecting the image *down* to 128 with a
# `Dense(128)` after Flatten is the fix that keeps the rest of the program as it was.

# %% [markdown]
# ## 3. The one-line fix, summary() and training

# %%
def build_model(fusion):
    img_input = tf.keras.Input(shape=image_shape, name="image")
    text_input = tf.keras.Input(shape=(max_len,), name="text")
    x = image_branch(img_input)
    t = text_branch(text_input)
    fused = fusion(x, t)
    h = layers.Dense(128, activation="relu")(fused)
    outputs = layers.Dense(num_classes, activation="softmax")(h)
    return tf.keras.Model(inputs=[img_input, text_input], outputs=outputs)


def project_then_multiply(x, t):
    x = layers.Dense(128)(x)  # the one-line fix: 65,536 -> 128
    return layers.Multiply()([x, t])


tf.keras.clear_session()
model = build_model(project_then_multiply)
model.summary()

# %% [markdown]
# The counts are Keras's: a Conv2D has kH * kW * C_in * C_out weights plus C_out biases
# (3*3*3*32 + 32 = 896), the projection 65,536 * 128 + 128 = 8,388,736 (almost all of the
# model), the LSTM 4 * U * (D + U + 1) = 4 * 128 * 257 = 131,584 (Keras has one bias per gate;
# tinymm's LSTM adapter keeps PyTorch's layout with that single bias).

# %%
assert model.get_layer("conv2d").count_params() == 3 * 3 * 3 * 32 + 32
assert model.get_layer("dense").count_params() == 32 * 32 * 64 * 128 + 128
assert model.get_layer("lstm").count_params() == 4 * 128 * (128 + 128 + 1)

model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit([img_train, text_train], labels, epochs=3, batch_size=16)
losses = history.history["loss"]
print("loss per epoch:", [round(v, 4) for v in losses])
assert all(np.isfinite(losses)) and losses[-1] < losses[0]

# %% [markdown]
# The last layer is `Dense(num_classes, activation="softmax")` and the loss is
# `sparse_categorical_crossentropy` "from probabilities". tinymm (like TensorFlow) notices the
# softmax and computes the loss from its logits with the fused, stable cross-entropy, so a
# confident wrong prediction gives a large finite loss instead of `inf`.

# %% [markdown]
# ## 4. Exercise: write the fusion
#
# Write `my_fusion(x, t)`: it receives the flattened image features `x` (None, 65536) and the
# LSTM state `t` (None, 128) and must return their element-wise product at width 128, using
# both inputs. The checker builds the model with your function and tells you what is wrong.

# %%
def my_fusion(x, t):
    # your code here; this is one working answer
    x = layers.Dense(128)(x)
    return layers.Multiply()([x, t])


def check_fusion(fusion) -> str:
    """'ok', or what is wrong with ``fusion``."""
    tf.keras.clear_session()
    try:
        candidate = build_model(fusion)
    except ValueError as err:
        return f"the model cannot be built: {err}"
    kinds = [type(layer).__name__ for layer in candidate.layers]
    if "Multiply" not in kinds:
        return "no Multiply layer: the article fuses by an element-wise product"
    multiply = candidate.layers[kinds.index("Multiply")]
    node = candidate._node_of(multiply)
    sources = {type(t.layer).__name__ for t in node.inputs}
    if "LSTM" not in sources:
        return "the product does not use the LSTM state: the text is ignored"
    if node.outputs[0].shape != (None, 128):
        return f"the fused width is {node.outputs[0].shape[-1]}, expected 128 (the LSTM width)"
    return "ok"


print("my_fusion:", check_fusion(my_fusion))
assert check_fusion(my_fusion) == "ok"

# %% [markdown]
# The checker catches wrong answers; here are three, with what it says.

# %%
def article_as_is(x, t):
    return layers.Multiply()([x, t])


def wrong_width(x, t):
    return layers.Multiply()([layers.Dense(64)(x), t])


def text_only(x, t):
    return layers.Multiply()([layers.Dense(128)(x), layers.Dense(128)(x)])


for wrong in (article_as_is, wrong_width, text_only):
    verdict = check_fusion(wrong)
    print(f"{wrong.__name__}: {verdict}")
    assert verdict != "ok"

# %% [markdown]
# ## 5. Saving and loading
#
# `model.save` writes a safetensors weight file (readable by the `safetensors` package) and a
# JSON manifest with the architecture, compile settings and optimizer state; both are written
# atomically. `load_model` rebuilds the model without executing any code from the files.

# %%
model.save(OUT / "seed_article_model")
restored = tf.keras.models.load_model(OUT / "seed_article_model")
same = np.array_equal(restored.predict([img_train, text_train]),
                      model.predict([img_train, text_train]))
print("restored model predicts identically:", same)
assert same

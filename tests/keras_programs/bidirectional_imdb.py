# keras.io "Bidirectional LSTM on IMDB", on tiny synthetic reviews: a word id below 10 makes
# a review positive; pad_sequences, stacked Bidirectional LSTMs, validation data.
import numpy as np

from tinymm import keras
from tinymm.keras import layers

max_features, maxlen = 50, 12
rng = np.random.default_rng(0)
reviews = [list(rng.integers(10, max_features, rng.integers(4, 16))) for _ in range(96)]
labels = rng.integers(0, 2, 96)
for review, label in zip(reviews, labels):
    if label:
        review[rng.integers(0, len(review))] = int(rng.integers(1, 10))
x = keras.utils.pad_sequences(reviews, maxlen=maxlen)
x_train, y_train, x_val, y_val = x[:64], labels[:64], x[64:], labels[64:]

inputs = keras.Input(shape=(None,), dtype="int32")
h = layers.Embedding(max_features, 8)(inputs)
h = layers.Bidirectional(layers.LSTM(8, return_sequences=True))(h)
h = layers.Bidirectional(layers.LSTM(8))(h)
outputs = layers.Dense(1, activation="sigmoid")(h)
model = keras.Model(inputs, outputs)
model = globals().get("share_weights", lambda m: m)(model)
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
initial_loss = model.evaluate(x_val, y_val, verbose=0)
first_step = model.train_on_batch(x_train, y_train)
after_step = model.evaluate(x_val, y_val, verbose=0)
history = model.fit(x_train, y_train, batch_size=16, epochs=3,
                    validation_data=(x_val, y_val), verbose=0)

RESULTS = {"params": model.count_params(), "initial_loss": initial_loss,
           "after_step": after_step, "history": history.history, "padded": x[:2]}

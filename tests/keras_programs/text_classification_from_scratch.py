# keras.io "Text classification from scratch": a TextVectorization layer with a custom
# standardization (lowercase, strip "<br />" and punctuation), adapted on the training
# texts and applied to the data (vectorize_text), an Embedding + Conv1D(strides=3) +
# GlobalMaxPooling1D + Dense model with Dropout, binary_crossentropy, and the end-to-end
# model that takes raw strings (keras.Input(shape=(1,), dtype="string")). Synthetic
# reviews (filler words plus sentiment words) in arrays instead of the IMDB download and
# tf.data; the standardization uses Python's re where the original uses tf.strings.
import re
import string

import numpy as np

from tinymm import keras
from tinymm.keras import layers

rng = np.random.default_rng(0)
good, bad = ["great", "wonderful", "superb", "moving"], ["awful", "boring", "dull", "weak"]
filler = ["the", "film", "was", "and", "plot", "acting", "a", "story", "<br />", "really"]


def review(label):
    words = list(rng.choice(filler, rng.integers(8, 16)))
    for _ in range(3):
        words.insert(int(rng.integers(0, len(words))), str(rng.choice(good if label else bad)))
    return " ".join(words).capitalize() + "!"


labels = rng.integers(0, 2, 160)
texts = np.array([review(label) for label in labels])
raw_train, raw_val = (texts[:128], labels[:128]), (texts[128:], labels[128:])


def custom_standardization(input_data):
    lowercase = input_data.lower()
    stripped_html = re.sub("<br />", " ", lowercase)
    return re.sub(f"[{re.escape(string.punctuation)}]", "", stripped_html)


# Model constants.
max_features = 100
embedding_dim = 16
sequence_length = 24

vectorize_layer = keras.layers.TextVectorization(
    standardize=custom_standardization,
    max_tokens=max_features,
    output_mode="int",
    output_sequence_length=sequence_length,
)
vectorize_layer.adapt(raw_train[0])


def vectorize_text(text, label):
    text = np.expand_dims(text, -1)
    return vectorize_layer(text), label


x_train, y_train = vectorize_text(*raw_train)
x_val, y_val = vectorize_text(*raw_val)

# A integer input for vocab indices.
inputs = keras.Input(shape=(None,), dtype="int64")
x = layers.Embedding(max_features, embedding_dim)(inputs)
x = layers.Dropout(0.5)(x)
# Conv1D + global max pooling
x = layers.Conv1D(16, 4, padding="valid", activation="relu", strides=3)(x)
x = layers.Conv1D(16, 4, padding="valid", activation="relu", strides=3)(x)
x = layers.GlobalMaxPooling1D()(x)
# We add a vanilla hidden layer:
x = layers.Dense(16, activation="relu")(x)
x = layers.Dropout(0.5)(x)
# We project onto a single unit output layer, and squash it with a sigmoid:
predictions = layers.Dense(1, activation="sigmoid", name="predictions")(x)
model = keras.Model(inputs, predictions)
model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(1e-2),
              metrics=["accuracy"])
history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=6, verbose=0)
evaluated = model.evaluate(x_val, y_val, verbose=0)

# A string input
inputs = keras.Input(shape=(1,), dtype="string")
# Turn strings into vocab indices
indices = vectorize_layer(inputs)
# Turn vocab indices into predictions
outputs = model(indices)
# Our end to end model
end_to_end_model = keras.Model(inputs, outputs)
end_to_end_model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
end_to_end = end_to_end_model.evaluate(np.expand_dims(raw_val[0], -1), raw_val[1], verbose=0)
probabilities = end_to_end_model.predict(np.array([["A great, superb film!"],
                                                   ["A dull and boring<br />film."]]))

RESULTS = {"params": model.count_params(), "history": history.history,
           "evaluated": evaluated, "end_to_end": end_to_end, "probabilities": probabilities,
           "vocabulary": vectorize_layer.get_vocabulary(), "x_train": np.asarray(x_train),
           "train_texts": [str(t) for t in raw_train[0]],
           "end_to_end_params": end_to_end_model.count_params()}

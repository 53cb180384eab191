# keras.io "Character-level text generation with LSTM": one-hot character windows, an
# LSTM(128) and a softmax over the characters, RMSprop(0.01), then text sampled with a
# temperature ("diversity") after each epoch. The Nietzsche corpus is replaced by a short
# synthetic text, the windows and the sampled text are shorter, and the sampling is seeded
# (np.random.seed / random.seed) so that two runs draw the same numbers; the model code and
# the sampling are the example's.
import random

import numpy as np

from tinymm import keras
from tinymm.keras import layers

words = ["the", "will", "to", "power", "is", "truth", "and", "morality", "of", "man"]
rng = np.random.default_rng(0)
text = " ".join(words[i] for i in rng.integers(0, len(words), 60)).lower()
text = text.replace("\n", " ")  # We remove newlines chars for nicer display

chars = sorted(list(set(text)))
char_indices = dict((c, i) for i, c in enumerate(chars))
indices_char = dict((i, c) for i, c in enumerate(chars))

# cut the text in semi-redundant sequences of maxlen characters
maxlen = 12
step = 3
sentences = []
next_chars = []
for i in range(0, len(text) - maxlen, step):
    sentences.append(text[i : i + maxlen])
    next_chars.append(text[i + maxlen])

x = np.zeros((len(sentences), maxlen, len(chars)), dtype="bool")
y = np.zeros((len(sentences), len(chars)), dtype="bool")
for i, sentence in enumerate(sentences):
    for t, char in enumerate(sentence):
        x[i, t, char_indices[char]] = 1
    y[i, char_indices[next_chars[i]]] = 1

model = keras.Sequential(
    [
        keras.Input(shape=(maxlen, len(chars))),
        layers.LSTM(128),
        layers.Dense(len(chars), activation="softmax"),
    ]
)
model = globals().get("share_weights", lambda m: m)(model)
optimizer = keras.optimizers.RMSprop(learning_rate=0.01)
model.compile(loss="categorical_crossentropy", optimizer=optimizer)


def sample(preds, temperature=1.0):
    # helper function to sample an index from a probability array
    preds = np.asarray(preds).astype("float64")
    preds = np.log(preds) / temperature
    exp_preds = np.exp(preds)
    preds = exp_preds / np.sum(exp_preds)
    probas = np.random.multinomial(1, preds, 1)
    return np.argmax(probas)


epochs = 2
batch_size = 128  # more than the windows: one full batch per epoch, whatever the shuffle

initial_loss = model.evaluate(x, y, verbose=0)
losses, generations = [], []
np.random.seed(1337)
random.seed(1337)
for epoch in range(epochs):  # noqa: B007 (the example prints it)
    history = model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    losses.append(history.history["loss"][0])

    start_index = random.randint(0, len(text) - maxlen - 1)
    for diversity in [0.2, 0.5, 1.0, 1.2]:
        generated = ""
        sentence = text[start_index : start_index + maxlen]

        for i in range(12):  # noqa: B007
            x_pred = np.zeros((1, maxlen, len(chars)))
            for t, char in enumerate(sentence):
                x_pred[0, t, char_indices[char]] = 1.0
            preds = model.predict(x_pred, verbose=0)[0]
            next_index = sample(preds, diversity)
            next_char = indices_char[next_index]
            sentence = sentence[1:] + next_char
            generated += next_char

        generations.append(generated)

RESULTS = {"params": model.count_params(), "initial_loss": initial_loss,
           "after_step": model.evaluate(x, y, verbose=0), "losses": losses,
           "history": {"loss": [initial_loss] + losses}, "generated": generations,
           "chars": chars, "also_compared": ["losses", "generated"]}

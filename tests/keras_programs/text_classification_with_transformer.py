# keras.io "Text classification with Transformer" (Apoorv Nandan): a Transformer block as a
# layer (MultiHeadAttention with key_dim = embed_dim, a feed-forward Sequential,
# LayerNormalization, Dropout) over token + position embeddings, global average pooling and
# a softmax head. The IMDB reviews are replaced by synthetic ones (a review is positive
# when it holds more "good" tokens than "bad" ones); the model code is the example's.
import numpy as np

from tinymm import keras
from tinymm.keras import layers, ops


class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
        super().__init__()
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential(
            [layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim),]
        )
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs):
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output)
        return self.layernorm2(out1 + ffn_output)


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim):
        super().__init__()
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = ops.shape(x)[-1]
        positions = ops.arange(start=0, stop=maxlen, step=1)
        positions = self.pos_emb(positions)
        x = self.token_emb(x)
        return x + positions


vocab_size = 200  # Only consider the top 200 words (the example: 20k)
maxlen = 20  # Only consider the first 20 words of each movie review (the example: 200)
rng = np.random.default_rng(0)


def reviews(n):
    x = rng.integers(3, vocab_size, (n, maxlen))
    good, bad = rng.integers(0, 4, n), rng.integers(0, 4, n)
    for i in range(n):
        x[i, :good[i]] = 1  # "good"
        x[i, good[i]:good[i] + bad[i]] = 2  # "bad"
        rng.shuffle(x[i])
    return x, (good > bad).astype("int64")


(x_train, y_train), (x_val, y_val) = reviews(64), reviews(32)
x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
x_val = keras.utils.pad_sequences(x_val, maxlen=maxlen)

embed_dim = 32  # Embedding size for each token
num_heads = 2  # Number of attention heads
ff_dim = 32  # Hidden layer size in feed forward network inside transformer

inputs = layers.Input(shape=(maxlen,))
embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
x = embedding_layer(inputs)
transformer_block = TransformerBlock(embed_dim, num_heads, ff_dim)
x = transformer_block(x)
x = layers.GlobalAveragePooling1D()(x)
x = layers.Dropout(0.1)(x)
x = layers.Dense(20, activation="relu")(x)
x = layers.Dropout(0.1)(x)
outputs = layers.Dense(2, activation="softmax")(x)

model = keras.Model(inputs=inputs, outputs=outputs)
model = globals().get("share_weights", lambda m: m)(model)
model.compile(
    optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
)
initial = model.predict(x_val[:4], verbose=0)
initial_loss = model.evaluate(x_val, y_val, verbose=0)
history = model.fit(
    x_train, y_train, batch_size=32, epochs=4, validation_data=(x_val, y_val), verbose=0
)

RESULTS = {"params": model.count_params(), "initial": initial, "initial_loss": initial_loss,
           "history": history.history, "n_weights": len(transformer_block.weights)}

# keras.io "Collaborative Filtering for Movie Recommendations" (Keras 3 version): a
# subclassed RecommenderNet (Embedding users and movies with l2 regularizers and biases,
# ops.tensordot, sigmoid), BinaryCrossentropy on ratings scaled to [0, 1], top-k predictions;
# synthetic ratings instead of MovieLens. Added: the subclassed model saved to .keras and
# loaded back with its registered class (its get_config gives the constructor arguments).
import os
import tempfile

import numpy as np

from tinymm import keras
from tinymm.keras import layers, ops

rng = np.random.default_rng(0)
num_users, num_movies = 12, 20
users = rng.integers(0, num_users, 400)
movies = rng.integers(0, num_movies, 400)
taste = rng.standard_normal((num_users, 2)) @ rng.standard_normal((2, num_movies))
ratings = np.clip(np.round(3 + taste[users, movies]), 1, 5).astype("float32")
min_rating, max_rating = ratings.min(), ratings.max()
x = np.stack([users, movies], axis=1)
y = (ratings - min_rating) / (max_rating - min_rating)
train_indices = int(0.9 * len(x))
x_train, x_val, y_train, y_val = x[:train_indices], x[train_indices:], y[:train_indices], \
    y[train_indices:]

EMBEDDING_SIZE = 8


@keras.saving.register_keras_serializable(package="collaborative_filtering")
class RecommenderNet(keras.Model):
    def __init__(self, num_users, num_movies, embedding_size, **kwargs):
        super().__init__(**kwargs)
        self.num_users = num_users
        self.num_movies = num_movies
        self.embedding_size = embedding_size
        self.user_embedding = layers.Embedding(
            num_users,
            embedding_size,
            embeddings_initializer="he_normal",
            embeddings_regularizer=keras.regularizers.l2(1e-6),
        )
        self.user_bias = layers.Embedding(num_users, 1)
        self.movie_embedding = layers.Embedding(
            num_movies,
            embedding_size,
            embeddings_initializer="he_normal",
            embeddings_regularizer=keras.regularizers.l2(1e-6),
        )
        self.movie_bias = layers.Embedding(num_movies, 1)

    def call(self, inputs):
        user_vector = self.user_embedding(inputs[:, 0])
        user_bias = self.user_bias(inputs[:, 0])
        movie_vector = self.movie_embedding(inputs[:, 1])
        movie_bias = self.movie_bias(inputs[:, 1])
        dot_user_movie = ops.tensordot(user_vector, movie_vector, 2)
        # Add all the components (including bias)
        x = dot_user_movie + user_bias + movie_bias
        # The sigmoid activation forces the rating to between 0 and 1
        return keras.activations.sigmoid(x)

    def get_config(self):
        return {**super().get_config(), "num_users": self.num_users,
                "num_movies": self.num_movies, "embedding_size": self.embedding_size}


model = RecommenderNet(num_users, num_movies, EMBEDDING_SIZE)
model(x_train[:2])
model = globals().get("share_weights", lambda m: m)(model)
model.compile(
    loss=keras.losses.BinaryCrossentropy(),
    optimizer=keras.optimizers.Adam(learning_rate=0.01),
)
user_movie_array = np.stack([np.full(num_movies, 3), np.arange(num_movies)], axis=1)
initial_predicted = model.predict(user_movie_array, verbose=0).flatten()
initial_loss = model.evaluate(x_train, y_train, verbose=0)
first_step = model.train_on_batch(x_train[:64], y_train[:64])
after_step = model.evaluate(x_train, y_train, verbose=0)
history = model.fit(x=x_train, y=y_train, batch_size=64, epochs=5, verbose=0,
                    validation_data=(x_val, y_val))

predicted = model.predict(user_movie_array, verbose=0).flatten()
top_ratings_indices = predicted.argsort()[-5:][::-1]

folder = tempfile.mkdtemp()
model.save(os.path.join(folder, "recommender.keras"))
reloaded = keras.models.load_model(os.path.join(folder, "recommender.keras"))
reloaded_predicted = reloaded.predict(user_movie_array, verbose=0).flatten()

RESULTS = {"params": model.count_params(), "initial_loss": initial_loss,
           "after_step": after_step, "history": history.history,
           "top": top_ratings_indices, "predicted": predicted,
           "reloaded_predicted": reloaded_predicted,
           "reloaded_class": type(reloaded).__name__,
           "initial_predicted": initial_predicted, "also_compared": ["initial_predicted"]}

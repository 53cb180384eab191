# The TensorFlow 2 beginner quickstart, on tiny random "digits" (8x8 instead of MNIST's
# 28x28); only the import differs from the original (import tensorflow as tf).
import numpy as np

from tinymm import tf

rng = np.random.default_rng(0)
x_train, y_train = 0.3 * rng.random((256, 8, 8)).astype("float32"), rng.integers(0, 10, 256)
x_test, y_test = 0.3 * rng.random((64, 8, 8)).astype("float32"), rng.integers(0, 10, 64)
x_train[np.arange(256), y_train // 2, y_train % 2 * 4] += 3.0  # one bright pixel per
x_test[np.arange(64), y_test // 2, y_test % 2 * 4] += 3.0  # class: a learnable signal

model = tf.keras.models.Sequential([
    tf.keras.layers.Flatten(input_shape=(8, 8)),
    tf.keras.layers.Dense(32, activation="relu"),
    tf.keras.layers.Dropout(0.2),
    tf.keras.layers.Dense(10),
])
predictions = model(x_train[:1]).numpy()
probabilities = tf.nn.softmax(predictions).numpy()
loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
first_loss = loss_fn(y_train[:1], predictions).numpy()
model.compile(optimizer="adam", loss=loss_fn, metrics=["accuracy"])
history = model.fit(x_train, y_train, epochs=5, verbose=0)
test_loss, test_acc = model.evaluate(x_test, y_test, verbose=2)
probability_model = tf.keras.Sequential([model, tf.keras.layers.Softmax()])
five = probability_model(x_test[:5]).numpy()
mean_square = tf.reduce_mean(tf.square(tf.one_hot(y_test[:5], 10) - five)).numpy()

RESULTS = {"first_loss": float(first_loss), "probabilities": probabilities,
           "history": history.history, "test_accuracy": test_acc, "five": five,
           "mean_square": float(mean_square), "params": model.count_params()}

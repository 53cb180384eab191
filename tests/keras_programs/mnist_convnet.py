# keras.io "Simple MNIST convnet": two Conv2D + MaxPooling2D blocks, Flatten, Dropout(0.5), a
# softmax Dense, categorical_crossentropy with "adam" and accuracy, validation_split=0.1,
# evaluate; 16x16 synthetic "digits" (a bright bar whose row is the class) instead of the
# MNIST download, fewer filters and epochs.
import numpy as np

from tinymm import keras
from tinymm.keras import layers

# Model / data parameters
num_classes = 10
input_shape = (16, 16, 1)

rng = np.random.default_rng(0)
y_train, y_test = rng.integers(0, 10, 200), rng.integers(0, 10, 50)
x_train, x_test = rng.random((200, 16, 16)) * 60, rng.random((50, 16, 16)) * 60
for images, labels in ((x_train, y_train), (x_test, y_test)):
    for col in range(4, 12):
        images[np.arange(len(labels)), labels + 3, col] += 195

# Scale images to the [0, 1] range
x_train = x_train.astype("float32") / 255
x_test = x_test.astype("float32") / 255
# Make sure images have shape (16, 16, 1)
x_train = np.expand_dims(x_train, -1)
x_test = np.expand_dims(x_test, -1)
print("x_train shape:", x_train.shape)
print(x_train.shape[0], "train samples")
print(x_test.shape[0], "test samples")

# convert class vectors to binary class matrices
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

model = keras.Sequential(
    [
        keras.Input(shape=input_shape),
        layers.Conv2D(8, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(16, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ]
)
model = globals().get("share_weights", lambda m: m)(model)
model.summary()

batch_size = 32
epochs = 8
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
initial = model.evaluate(x_test, y_test, verbose=0)
first_predictions = model.predict(x_test[:4], verbose=0)
history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
                    validation_split=0.1, verbose=0)
score = model.evaluate(x_test, y_test, verbose=0)
print("Test loss:", score[0])
print("Test accuracy:", score[1])

RESULTS = {"params": model.count_params(), "initial": initial, "history": history.history,
           "score": score, "first_predictions": first_predictions,
           "also_compared": ["first_predictions"]}

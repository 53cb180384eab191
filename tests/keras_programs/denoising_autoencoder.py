# keras.io "Convolutional autoencoder for image denoising": Conv2D and MaxPooling2D with
# padding="same", Conv2DTranspose(strides=2) back up, binary_crossentropy; trained on clean
# images, then on noisy ones (noise(): Gaussian noise clipped to [0, 1]); 12x12 synthetic
# "digits" (a bright bar at one of four rows) instead of MNIST's 28x28, few epochs.
import numpy as np

from tinymm import keras
from tinymm.keras import layers


def preprocess(array):
    """Normalizes the supplied array and reshapes it into the appropriate format."""
    array = array.astype("float32") / 255.0
    array = np.reshape(array, (len(array), 12, 12, 1))
    return array


def noise(array):
    """Adds random noise to each image in the supplied array."""
    noise_factor = 0.4
    noisy_array = array + noise_factor * np.random.normal(loc=0.0, scale=1.0, size=array.shape)
    return np.clip(noisy_array, 0.0, 1.0)


rng = np.random.default_rng(0)
images = np.zeros((80, 12, 12), "uint8")
for i, row in enumerate(rng.integers(0, 4, 80)):
    images[i, 2 + 2 * row: 4 + 2 * row, 2:10] = 255
train_data, test_data = preprocess(images[:64]), preprocess(images[64:])
np.random.seed(0)
noisy_train_data, noisy_test_data = noise(train_data), noise(test_data)

input = layers.Input(shape=(12, 12, 1))
# Encoder
x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(input)
x = layers.MaxPooling2D((2, 2), padding="same")(x)
x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
x = layers.MaxPooling2D((2, 2), padding="same")(x)
# Decoder
x = layers.Conv2DTranspose(8, (3, 3), strides=2, activation="relu", padding="same")(x)
x = layers.Conv2DTranspose(8, (3, 3), strides=2, activation="relu", padding="same")(x)
x = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)

# Autoencoder
autoencoder = keras.Model(input, x)
autoencoder = globals().get("share_weights", lambda m: m)(autoencoder)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
autoencoder.summary()
initial = autoencoder.evaluate(test_data, test_data, verbose=0)
first_predictions = autoencoder.predict(noisy_test_data, verbose=0)

history = autoencoder.fit(x=train_data, y=train_data, epochs=4, batch_size=16, shuffle=True,
                          validation_data=(test_data, test_data), verbose=0)
predictions = autoencoder.predict(test_data, verbose=0)
denoising = autoencoder.fit(x=noisy_train_data, y=train_data, epochs=4, batch_size=16,
                            shuffle=True, validation_data=(noisy_test_data, test_data),
                            verbose=0)
predictions = autoencoder.predict(noisy_test_data, verbose=0)

RESULTS = {"params": autoencoder.count_params(), "initial": initial,
           "first_predictions": first_predictions, "history": history.history,
           "denoising": denoising.history, "predictions": predictions,
           "shapes": {"predictions": predictions.shape},
           "also_compared": ["first_predictions"]}

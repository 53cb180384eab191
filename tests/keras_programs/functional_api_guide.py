# keras.io "The Functional API" guide: the encoder/decoder autoencoder built from models used
# as layers, a model ensemble averaging three models, a layer shared by two inputs, the toy
# ResNet (skip connections with layers.add) trained briefly, and a feature-extraction model
# over every layer's output. Channel counts and images are smaller than the guide's and the
# CIFAR-10 data is random; the guide's model code is kept (the features are extracted before
# the short training, whose Dropout draws differ between libraries).
import numpy as np

from tinymm import keras
from tinymm.keras import layers

share = globals().get("share_weights", lambda m: m)
rng = np.random.default_rng(0)

# -- "Use the same graph of layers to define multiple models"; "All models are callable"
encoder_input = keras.Input(shape=(28, 28, 1), name="original_img")
x = layers.Conv2D(4, 3, activation="relu")(encoder_input)
x = layers.Conv2D(8, 3, activation="relu")(x)
x = layers.MaxPooling2D(3)(x)
x = layers.Conv2D(8, 3, activation="relu")(x)
x = layers.Conv2D(16, 3, activation="relu")(x)
encoder_output = layers.GlobalMaxPooling2D()(x)
encoder = keras.Model(encoder_input, encoder_output, name="encoder")

decoder_input = keras.Input(shape=(16,), name="encoded_img")
x = layers.Reshape((4, 4, 1))(decoder_input)
x = layers.Conv2DTranspose(8, 3, activation="relu")(x)
x = layers.Conv2DTranspose(8, 3, activation="relu")(x)
x = layers.UpSampling2D(3)(x)
x = layers.Conv2DTranspose(4, 3, activation="relu")(x)
decoder_output = layers.Conv2DTranspose(1, 3, activation="relu")(x)
decoder = keras.Model(decoder_input, decoder_output, name="decoder")

autoencoder_input = keras.Input(shape=(28, 28, 1), name="img")
encoded_img = encoder(autoencoder_input)
decoded_img = decoder(encoded_img)
autoencoder = share(keras.Model(autoencoder_input, decoded_img, name="autoencoder"))
autoencoded = autoencoder.predict(rng.random((2, 28, 28, 1)).astype("float32"), verbose=0)


def get_model():
    inputs = keras.Input(shape=(128,))
    outputs = layers.Dense(1)(inputs)
    return keras.Model(inputs, outputs)


model1 = get_model()
model2 = get_model()
model3 = get_model()

inputs = keras.Input(shape=(128,))
y1 = model1(inputs)
y2 = model2(inputs)
y3 = model3(inputs)
outputs = layers.average([y1, y2, y3])
ensemble_model = share(keras.Model(inputs=inputs, outputs=outputs))
ensembled = ensemble_model.predict(rng.standard_normal((3, 128)).astype("float32"), verbose=0)

# -- "Shared layers": Embedding for 1000 unique words mapped to 8-dimensional vectors
shared_embedding = layers.Embedding(1000, 8)
# Variable-length sequence of integers
text_input_a = keras.Input(shape=(None,), dtype="int32")
# Variable-length sequence of integers
text_input_b = keras.Input(shape=(None,), dtype="int32")
# Reuse the same layer to encode both inputs
encoded_input_a = shared_embedding(text_input_a)
encoded_input_b = shared_embedding(text_input_b)
shared_model = share(keras.Model([text_input_a, text_input_b],
                                 layers.concatenate([encoded_input_a, encoded_input_b])))
shared = shared_model.predict([rng.integers(0, 1000, (2, 3)), rng.integers(0, 1000, (2, 3))],
                              verbose=0)

# -- "A toy ResNet model"
inputs = keras.Input(shape=(16, 16, 3), name="img")
x = layers.Conv2D(8, 3, activation="relu")(inputs)
x = layers.Conv2D(8, 3, activation="relu")(x)
block_1_output = layers.MaxPooling2D(3)(x)

x = layers.Conv2D(8, 3, activation="relu", padding="same")(block_1_output)
x = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
block_2_output = layers.add([x, block_1_output])

x = layers.Conv2D(8, 3, activation="relu", padding="same")(block_2_output)
x = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
block_3_output = layers.add([x, block_2_output])

x = layers.Conv2D(8, 3, activation="relu")(block_3_output)
x = layers.GlobalAveragePooling2D()(x)
x = layers.Dense(16, activation="relu")(x)
x = layers.Dropout(0.5)(x)
outputs = layers.Dense(10)(x)

model = share(keras.Model(inputs, outputs, name="toy_resnet"))
x_train = rng.random((32, 16, 16, 3)).astype("float32")
y_train = keras.utils.to_categorical(rng.integers(0, 10, 32), 10)
model.compile(
    optimizer=keras.optimizers.RMSprop(1e-3),
    loss=keras.losses.CategoricalCrossentropy(from_logits=True),
    metrics=["acc"],
)
# -- "Extract and reuse nodes in the graph of layers"
features_list = [layer.output for layer in model.layers]
feat_extraction_model = keras.Model(inputs=model.input, outputs=features_list)
features = feat_extraction_model(x_train[:2])

initial = model.predict(x_train[:4], verbose=0)
initial_loss = model.evaluate(x_train, y_train, verbose=0)
history = model.fit(x_train, y_train, batch_size=16, epochs=3, validation_split=0.25,
                    verbose=0)


RESULTS = {"params": model.count_params(), "initial": initial, "initial_loss": initial_loss,
           "history": history.history, "autoencoded": autoencoded, "ensembled": ensembled,
           "shared": shared, "n_features": len(features),
           "feature_shapes": [tuple(keras.ops.convert_to_numpy(f).shape) for f in features],
           "features_last": keras.ops.convert_to_numpy(features[-1]),
           "layer_counts": [encoder.count_params(), decoder.count_params(),
                            autoencoder.count_params(), ensemble_model.count_params(),
                            shared_model.count_params()],
           "also_compared": ["autoencoded", "ensembled", "shared", "n_features",
                             "layer_counts"]}

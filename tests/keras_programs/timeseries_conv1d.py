# keras.io "Timeseries classification from scratch": a fully convolutional 1-D network
# (Conv1D + BatchNormalization + ReLU, three times, global average pooling) with
# ModelCheckpoint, ReduceLROnPlateau and EarlyStopping; tiny synthetic series.
import os
import tempfile

import numpy as np

from tinymm import keras

rng = np.random.default_rng(0)
t = np.linspace(0, 1, 32)
y_train = rng.integers(0, 2, 80)
x_train = (np.sin(2 * np.pi * (2 + 3 * y_train[:, None]) * t[None, :])
           + 0.3 * rng.standard_normal((80, 32))).astype("float32")[..., None]
num_classes = len(np.unique(y_train))


def make_model(input_shape):
    input_layer = keras.layers.Input(input_shape)
    conv1 = keras.layers.Conv1D(filters=8, kernel_size=3, padding="same")(input_layer)
    conv1 = keras.layers.BatchNormalization()(conv1)
    conv1 = keras.layers.ReLU()(conv1)
    conv2 = keras.layers.Conv1D(filters=8, kernel_size=3, padding="same")(conv1)
    conv2 = keras.layers.BatchNormalization()(conv2)
    conv2 = keras.layers.ReLU()(conv2)
    conv3 = keras.layers.Conv1D(filters=8, kernel_size=3, padding="same")(conv2)
    conv3 = keras.layers.BatchNormalization()(conv3)
    conv3 = keras.layers.ReLU()(conv3)
    gap = keras.layers.GlobalAveragePooling1D()(conv3)
    output_layer = keras.layers.Dense(num_classes, activation="softmax")(gap)
    return keras.models.Model(inputs=input_layer, outputs=output_layer)


model = make_model(input_shape=x_train.shape[1:])
model = globals().get("share_weights", lambda m: m)(model)
out_dir = tempfile.mkdtemp()
callbacks = [
    keras.callbacks.ModelCheckpoint(os.path.join(out_dir, "best_model.keras"),
                                    save_best_only=True, monitor="val_loss"),
    keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2,
                                      min_lr=0.0001),
    keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, verbose=0),
]
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
              metrics=["sparse_categorical_accuracy"])
initial_loss = model.evaluate(x_train, y_train, verbose=0)
history = model.fit(x_train, y_train, batch_size=16, epochs=8, callbacks=callbacks,
                    validation_split=0.2, verbose=0)
best = keras.models.load_model(os.path.join(out_dir, "best_model.keras"))
best_loss, best_acc = best.evaluate(x_train, y_train, verbose=0)

RESULTS = {"params": model.count_params(), "initial_loss": initial_loss,
           "history": history.history, "best_loss": best_loss}

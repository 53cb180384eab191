# "Training & evaluation with the built-in methods": an uncompiled functional model, metric
# objects, validation_split, a custom loss function and a Loss subclass, callbacks,
# class_weight and sample_weight, a two-output model with loss_weights, a Metric subclass
# with add_variable/assign_add, a Callback subclass (on_batch_end), ModelCheckpoint with
# save_best_only, LearningRateScheduler and an ExponentialDecay schedule; tiny data.
import os
import tempfile

import numpy as np

from tinymm import keras
from tinymm.keras import layers, ops

rng = np.random.default_rng(0)
x_train = rng.random((200, 16)).astype("float32")
y_train = (x_train[:, :10].argmax(axis=1)).astype("int64")
x_val, y_val = x_train[-40:], y_train[-40:]


def get_uncompiled_model():
    inputs = keras.Input(shape=(16,), name="digits")
    x = layers.Dense(16, activation="relu", name="dense_1")(inputs)
    x = layers.Dense(16, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


model = globals().get("share_weights", lambda m: m)(get_uncompiled_model())
model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
              loss=keras.losses.SparseCategoricalCrossentropy(),
              metrics=[keras.metrics.SparseCategoricalAccuracy()])
initial = model.evaluate(x_val, y_val, verbose=0)
history = model.fit(x_train, y_train, batch_size=32, epochs=3, validation_split=0.2,
                    verbose=0)


def custom_mean_squared_error(y_true, y_pred):
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


class CustomMSE(keras.losses.Loss):
    def __init__(self, regularization_factor=0.1, name="custom_mse"):
        super().__init__(name=name)
        self.regularization_factor = regularization_factor

    def call(self, y_true, y_pred):
        mse = ops.mean(ops.square(y_true - y_pred), axis=-1)
        reg = ops.mean(ops.square(0.5 - y_pred), axis=-1)
        return mse + reg * self.regularization_factor


one_hot = keras.utils.to_categorical(y_train, num_classes=10)
custom = get_uncompiled_model()
custom.compile(optimizer=keras.optimizers.Adam(), loss=custom_mean_squared_error)
custom.fit(x_train, one_hot, batch_size=64, epochs=1, verbose=0)
custom.compile(optimizer=keras.optimizers.Adam(), loss=CustomMSE())
custom_history = custom.fit(x_train, one_hot, batch_size=64, epochs=1, verbose=0)

callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=1e-2, patience=2,
                                           verbose=0),
             keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=1)]
weighted = get_uncompiled_model()
weighted.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                 metrics=["sparse_categorical_accuracy"])
class_weight = {i: 1.0 for i in range(10)}
class_weight[5] = 2.0
weighted.fit(x_train, y_train, class_weight=class_weight, batch_size=64, epochs=1,
             verbose=0)
sample_weight = np.ones(len(y_train))
sample_weight[y_train == 5] = 2.0
weighted_history = weighted.fit(x_train, y_train, sample_weight=sample_weight,
                                batch_size=64, epochs=20, validation_data=(x_val, y_val),
                                callbacks=callbacks, verbose=0)

image_input = keras.Input(shape=(8, 8, 3), name="img_input")
timeseries_input = keras.Input(shape=(None, 5), name="ts_input")
x1 = layers.GlobalMaxPooling2D()(layers.Conv2D(3, 3)(image_input))
x2 = layers.GlobalMaxPooling1D()(layers.Conv1D(3, 3)(timeseries_input))
x = layers.concatenate([x1, x2])
score_output = layers.Dense(1, name="score_output")(x)
class_output = layers.Dense(5, name="class_output")(x)
two = keras.Model(inputs=[image_input, timeseries_input], outputs=[score_output, class_output])
two.compile(optimizer=keras.optimizers.RMSprop(1e-3),
            loss={"score_output": keras.losses.MeanSquaredError(),
                  "class_output": keras.losses.CategoricalCrossentropy(from_logits=True)},
            metrics={"score_output": [keras.metrics.MeanAbsoluteError()],
                     "class_output": [keras.metrics.CategoricalAccuracy()]},
            loss_weights={"score_output": 2.0, "class_output": 1.0})
img_data = rng.random((32, 8, 8, 3)).astype("float32")
ts_data = rng.random((32, 10, 5)).astype("float32")
score_targets = rng.random((32, 1)).astype("float32")
class_targets = keras.utils.to_categorical(rng.integers(0, 5, 32), 5)
two_history = two.fit({"img_input": img_data, "ts_input": ts_data},
                      {"score_output": score_targets, "class_output": class_targets},
                      batch_size=16, epochs=1, verbose=0)

RESULTS = {"params": model.count_params(), "initial": initial, "history": history.history,
           "custom_history": custom_history.history,
           "weighted_history": weighted_history.history, "two_history": two_history.history}


class CategoricalTruePositives(keras.metrics.Metric):
    def __init__(self, name="categorical_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
        values = ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")
        values = ops.cast(values, "float32")
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, "float32")
            values = ops.multiply(values, sample_weight)
        self.true_positives.assign_add(ops.sum(values))

    def result(self):
        return self.true_positives

    def reset_state(self):
        # The state of the metric will be reset at the start of each epoch.
        self.true_positives.assign(0.0)


class LossHistory(keras.callbacks.Callback):
    def on_train_begin(self, logs):
        self.per_batch_losses = []

    def on_batch_end(self, batch, logs):
        self.per_batch_losses.append(logs.get("loss"))


folder = tempfile.mkdtemp()
initial_learning_rate = 0.1
lr_schedule = keras.optimizers.schedules.ExponentialDecay(
    initial_learning_rate, decay_steps=100000, decay_rate=0.96, staircase=True)
metric_model = globals().get("share_weights", lambda m: m)(get_uncompiled_model())
metric_model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=lr_schedule),
                     loss=keras.losses.SparseCategoricalCrossentropy(),
                     metrics=[CategoricalTruePositives()])
loss_history = LossHistory()
callbacks = [loss_history,
             keras.callbacks.ModelCheckpoint(filepath=os.path.join(folder, "best.keras"),
                                             save_best_only=True, monitor="loss", verbose=0)]
metric_initial = metric_model.evaluate(x_train[:64], y_train[:64], batch_size=64, verbose=0,
                                       return_dict=True)
metric_history = metric_model.fit(x_train[:64], y_train[:64], batch_size=16, epochs=2,
                                  shuffle=False, callbacks=callbacks, verbose=0)
custom_objects = {"CategoricalTruePositives": CategoricalTruePositives}
best = keras.models.load_model(os.path.join(folder, "best.keras"), custom_objects=custom_objects)
halving = custom.fit(x_train, one_hot, batch_size=64, epochs=2, verbose=0, callbacks=[
    keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)])

RESULTS.update({"metric_initial": metric_initial, "metric_history": metric_history.history,
                "n_batch_losses": len(loss_history.per_batch_losses),
                "best_params": best.count_params(),
                "learning_rates": halving.history["learning_rate"],
                "also_compared": ["metric_initial", "n_batch_losses", "best_params",
                                  "learning_rates"]})

# keras.io "Customizing what happens in fit() with PyTorch" ("Going lower-level" and
# "Providing your own evaluation step"): a Model subclass whose train_step computes its own
# loss, calls backward() and optimizer.apply(), and tracks its own metrics (the metrics
# property, so fit resets them every epoch), with a matching test_step; tiny data.
import numpy as np

from tinymm import keras

loss_tracker = keras.metrics.Mean(name="loss")
mae_metric = keras.metrics.MeanAbsoluteError(name="mae")


class CustomModel(keras.Model):
    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = keras.ops.mean(keras.losses.mean_squared_error(y, y_pred))
        loss.backward()
        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.value.grad for v in trainable_weights]
        self.optimizer.apply(gradients, trainable_weights)
        loss_tracker.update_state(loss)
        mae_metric.update_state(y, y_pred)
        return {"loss": loss_tracker.result(), "mae": mae_metric.result()}

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        loss_tracker.update_state(keras.ops.mean(keras.losses.mean_squared_error(y, y_pred)))
        mae_metric.update_state(y, y_pred)
        return {"loss": loss_tracker.result(), "mae": mae_metric.result()}

    @property
    def metrics(self):
        return [loss_tracker, mae_metric]


rng = np.random.default_rng(0)
x = rng.random((64, 4)).astype("float32")
y = (x.sum(axis=1, keepdims=True) * 0.5).astype("float32")
inputs = keras.Input(shape=(4,))
hidden = keras.layers.Dense(8, activation="relu")(inputs)
model = CustomModel(inputs, keras.layers.Dense(1)(hidden))
model = globals().get("share_weights", lambda m: m)(model)
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05))
initial_loss = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
history = model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)
after_step = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)

RESULTS = {"params": model.count_params(), "initial_loss": initial_loss,
           "after_step": after_step, "history": history.history}

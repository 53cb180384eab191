# keras.io "Simple custom layer example: Antirectifier": a Layer subclass with build() +
# add_weight() and call() through keras.ops, trained in a Sequential model; tiny data.
import numpy as np

from tinymm import keras
from tinymm.keras import layers, ops


class Antirectifier(layers.Layer):
    def __init__(self, initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        output_dim = input_shape[-1]
        self.kernel = self.add_weight(shape=(output_dim * 2, output_dim),
                                      initializer=self.initializer, name="kernel",
                                      trainable=True)

    def call(self, inputs):
        inputs -= ops.mean(inputs, axis=-1, keepdims=True)
        pos = ops.relu(inputs)
        neg = ops.relu(-inputs)
        concatenated = ops.concatenate([pos, neg], axis=-1)
        mixed = ops.matmul(concatenated, self.kernel)
        return mixed

    def get_config(self):
        return super().get_config()


rng = np.random.default_rng(0)
x_train = rng.random((160, 20)).astype("float32")
y_train = x_train[:, :10].argmax(axis=1)
model = keras.Sequential([
    keras.Input(shape=(20,)),
    layers.Dense(16),
    Antirectifier(),
    layers.Dense(16),
    Antirectifier(),
    layers.Dense(10),
])
model = globals().get("share_weights", lambda m: m)(model)
model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              optimizer=keras.optimizers.RMSprop(),
              metrics=[keras.metrics.SparseCategoricalAccuracy()])
initial_loss = model.evaluate(x_train, y_train, verbose=0)
first_step = model.train_on_batch(x_train, y_train)
after_step = model.evaluate(x_train, y_train, verbose=0)
history = model.fit(x_train, y_train, batch_size=32, epochs=4, validation_split=0.15,
                    verbose=0)

RESULTS = {"params": model.count_params(), "initial_loss": initial_loss,
           "after_step": after_step, "history": history.history}

# keras.io "Save, serialize, and export models": model.save to a .keras file and
# keras.models.load_model (same predictions, training goes on), custom objects registered
# with keras.saving.register_keras_serializable (a layer and an activation function),
# custom_objects= and custom_object_scope, get_config/from_config of a layer, a Sequential
# and a functional model, to_json/model_from_json, and a registered custom layer whose
# add_weight has a regularizer (its penalty in layer.losses). Files go to a temporary
# directory; data are tiny seeded arrays.
import os
import tempfile

import numpy as np

from tinymm import keras

rng = np.random.default_rng(0)
folder = tempfile.mkdtemp()


def get_model():
    # Create a simple model.
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(), loss="mean_squared_error")
    return model


model = globals().get("share_weights", lambda m: m)(get_model())
test_input = rng.random((128, 32))
test_target = rng.random((128, 1))
initial = model.evaluate(test_input, test_target, verbose=0)
model.fit(test_input, test_target, verbose=0)
model.save(os.path.join(folder, "my_model.keras"))
reconstructed_model = keras.models.load_model(os.path.join(folder, "my_model.keras"))
same_predictions = np.allclose(model.predict(test_input, verbose=0),
                               reconstructed_model.predict(test_input, verbose=0))
reconstructed_model.fit(test_input, test_target, verbose=0)  # The optimizer state came too


@keras.saving.register_keras_serializable(package="MyLayers")
class CustomLayer(keras.layers.Layer):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {"factor": self.factor}


@keras.saving.register_keras_serializable(package="my_package", name="custom_fn")
def custom_fn(x):
    return x**2


def get_custom_model():
    inputs = keras.Input(shape=(4,))
    mid = CustomLayer(0.5)(inputs)
    outputs = keras.layers.Dense(1, activation=custom_fn)(mid)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="mean_squared_error")
    return model


def train_model(model):
    input = rng.random((4, 4))
    target = rng.random((4, 1))
    model.fit(input, target, verbose=0)
    return model


custom_input = rng.random((4, 4))
model = globals().get("share_weights", lambda m: m)(get_custom_model())
custom_initial = model.predict(custom_input, verbose=0)
model = train_model(model)
model.save(os.path.join(folder, "custom_model.keras"))
# Now, we can simply load without worrying about our custom objects.
reconstructed_model = keras.models.load_model(os.path.join(folder, "custom_model.keras"))
custom_same = [np.allclose(model.predict(custom_input, verbose=0),
                           reconstructed_model.predict(custom_input, verbose=0))]
custom_objects = {"CustomLayer": CustomLayer, "custom_fn": custom_fn}
reconstructed_model = keras.models.load_model(os.path.join(folder, "custom_model.keras"),
                                              custom_objects=custom_objects)
custom_same.append(np.allclose(model.predict(custom_input, verbose=0),
                               reconstructed_model.predict(custom_input, verbose=0)))
with keras.saving.custom_object_scope(custom_objects):
    reconstructed_model = keras.models.load_model(os.path.join(folder, "custom_model.keras"))
custom_same.append(np.allclose(model.predict(custom_input, verbose=0),
                               reconstructed_model.predict(custom_input, verbose=0)))

layer = keras.layers.Dense(3, activation="relu")
layer_config = layer.get_config()
new_layer = keras.layers.Dense.from_config(layer_config)
dense_config = (new_layer.units, layer_config["activation"], layer_config["use_bias"])

sequential = keras.Sequential([keras.Input((32,)), keras.layers.Dense(1)])
config = sequential.get_config()
new_sequential = keras.Sequential.from_config(config)
inputs = keras.Input((32,))
outputs = keras.layers.Dense(1)(inputs)
functional = keras.Model(inputs, outputs)
config = functional.get_config()
new_functional = keras.Model.from_config(config)
json_config = functional.to_json()
from_json = keras.models.model_from_json(json_config)
rebuilt_params = [new_sequential.count_params(), new_functional.count_params(),
                  from_json.count_params()]


@keras.saving.register_keras_serializable(package="my_custom_package")
class MyDense(keras.layers.Layer):
    def __init__(self, units=8, kernel_regularizer=None, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = units
        self.kernel_regularizer = kernel_regularizer
        self.kernel_initializer = kernel_initializer

    def get_config(self):
        config = super().get_config()
        # Update the config with the custom layer's parameters
        config.update({"units": self.hidden_units,
                       "kernel_regularizer": self.kernel_regularizer,
                       "kernel_initializer": self.kernel_initializer})
        return config

    def build(self, input_shape):
        input_units = input_shape[-1]
        self.kernel = self.add_weight(name="kernel", shape=(input_units, self.hidden_units),
                                      regularizer=self.kernel_regularizer,
                                      initializer=self.kernel_initializer)

    def call(self, inputs):
        return keras.ops.matmul(inputs, self.kernel)


layer = MyDense(units=16, kernel_regularizer="l1", kernel_initializer="ones")
layer3 = MyDense(units=4, kernel_regularizer="l2", kernel_initializer="ones")
stacked = keras.Sequential([keras.Input((3,)), layer, layer3])
outputs = stacked(np.ones((2, 3), "float32"))
penalties = [float(keras.ops.convert_to_numpy(v)) for v in stacked.losses]
rebuilt = MyDense.from_config(layer.get_config())

RESULTS = {"params": reconstructed_model.count_params(), "initial": initial,
           "same_predictions": same_predictions, "custom_initial": custom_initial,
           "custom_same": custom_same, "dense_config": dense_config,
           "rebuilt_params": rebuilt_params, "penalties": penalties,
           "rebuilt_units": rebuilt.hidden_units,
           "also_compared": ["custom_initial", "same_predictions", "custom_same",
                             "dense_config", "rebuilt_params", "penalties", "rebuilt_units"]}

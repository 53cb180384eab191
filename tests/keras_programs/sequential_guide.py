# The Sequential model guide: add/pop/layers, weights appear on build, summary, a conv
# stack, and feature extraction through layer.output; tiny sizes.
import numpy as np

from tinymm import keras
from tinymm.keras import layers

model = keras.Sequential(name="my_sequential")
model.add(layers.Dense(2, activation="relu", name="layer1"))
model.add(layers.Dense(3, activation="relu", name="layer2"))
model.add(layers.Dense(4, name="layer3"))
n_layers_before = len(model.layers)
model.pop()
n_layers_after = len(model.layers)
model.add(layers.Dense(4, name="layer3b"))
y = model(np.ones((3, 3), dtype="float32"))
n_weights = len(model.weights)

conv = keras.Sequential()
conv.add(keras.Input(shape=(20, 20, 3)))
conv.add(layers.Conv2D(4, 5, strides=2, activation="relu"))
conv.add(layers.Conv2D(4, 3, activation="relu"))
conv.add(layers.MaxPooling2D(3))
conv.add(layers.GlobalMaxPooling2D())
conv.add(layers.Dense(5))
conv = globals().get("share_weights", lambda m: m)(conv)
lines = []
conv.summary(print_fn=lines.append)
extractor = keras.Model(inputs=conv.inputs, outputs=[layer.output for layer in conv.layers])
x = np.random.default_rng(0).random((2, 20, 20, 3)).astype("float32")
features = extractor(x)

RESULTS = {"n_layers": (n_layers_before, n_layers_after), "n_weights": n_weights,
           "output_shape": tuple(y.shape), "params": conv.count_params(),
           "feature_shapes": [tuple(f.shape) for f in features],
           "layer_names": [la.name for la in model.layers],
           "features_last": keras.ops.convert_to_numpy(features[-1])}

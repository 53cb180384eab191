# keras.io "Transfer learning & fine-tuning": weights and trainable_weights of Dense and
# BatchNormalization, freezing a layer (its weights stay put in fit), recursive freezing of
# a nested model, then the typical workflow: a frozen base model called with
# training=False inside a new model (Rescaling, GlobalAveragePooling2D, Dropout, a Dense
# logit), trained; then fine-tuning: base_model.trainable = True, recompile with a low
# learning rate, train again (BatchNormalization stays in inference mode). The base is a
# small conv net trained on another synthetic task instead of ImageNet's Xception.
import numpy as np

from tinymm import keras

layer = keras.layers.Dense(3)
layer.build((None, 4))  # Create the weights
dense_counts = (len(layer.weights), len(layer.trainable_weights),
                len(layer.non_trainable_weights))
layer = keras.layers.BatchNormalization()
layer.build((None, 4))  # Create the weights
bn_counts = (len(layer.weights), len(layer.trainable_weights),
             len(layer.non_trainable_weights))
layer = keras.layers.Dense(3)
layer.build((None, 4))  # Create the weights
layer.trainable = False  # Freeze the layer
frozen_counts = (len(layer.weights), len(layer.trainable_weights),
                 len(layer.non_trainable_weights))

# Make a model with 2 layers
layer1 = keras.layers.Dense(3, activation="relu")
layer2 = keras.layers.Dense(3, activation="sigmoid")
model = keras.Sequential([keras.Input(shape=(3,)), layer1, layer2])
# Freeze the first layer
layer1.trainable = False
# Keep a copy of the weights of layer1 for later reference
initial_layer1_weights_values = layer1.get_weights()
# Train the model
model.compile(optimizer="adam", loss="mse")
rng = np.random.default_rng(0)
model.fit(rng.random((2, 3)), rng.random((2, 3)), verbose=0)
# Check that the weights of layer1 have not changed during training
final_layer1_weights_values = layer1.get_weights()
layer1_unchanged = all(np.array_equal(a, b) for a, b in zip(initial_layer1_weights_values,
                                                             final_layer1_weights_values))

inner_model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(3, activation="relu"),
                                keras.layers.Dense(3, activation="relu")])
model = keras.Sequential([keras.Input(shape=(3,)), inner_model,
                          keras.layers.Dense(3, activation="sigmoid")])
model.trainable = False  # Freeze the outer model
recursive = (inner_model.trainable, inner_model.layers[0].trainable)

# A "pre-trained" base: a conv net trained on another task (brightness of the left half)
images = rng.random((48, 8, 8, 3)).astype("float32") * 255.0
other_task = (images[:, :, :4].mean(axis=(1, 2, 3)) > 127.5).astype("float32")
base_model = keras.Sequential([keras.Input(shape=(8, 8, 3)), keras.layers.Rescaling(1 / 255.0),
                               keras.layers.Conv2D(4, 3, activation="relu"),
                               keras.layers.BatchNormalization()], name="base")
pretraining = keras.Sequential([base_model, keras.layers.GlobalAveragePooling2D(),
                                keras.layers.Dense(1)])
pretraining.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
pretraining.fit(images, other_task, epochs=1, batch_size=16, verbose=0)

base_model.trainable = False  # Freeze the base_model
# Create new model on top
inputs = keras.Input(shape=(8, 8, 3))
scale_layer = keras.layers.Rescaling(scale=1 / 127.5, offset=-1)
x = scale_layer(inputs)
# The base model contains batchnorm layers. We want to keep them in inference mode
# when we unfreeze the base model for fine-tuning, so we make sure that the
# base_model is running in inference mode here.
x = base_model(x, training=False)
x = keras.layers.GlobalAveragePooling2D()(x)
x = keras.layers.Dropout(0.2)(x)  # Regularize with dropout
outputs = keras.layers.Dense(1)(x)
model = keras.Model(inputs, outputs)
model = globals().get("share_weights", lambda m: m)(model)
model.summary(show_trainable=True)

labels = (images[:, :, 4:].mean(axis=(1, 2, 3)) > 127.5).astype("float32")[:, None]
model.compile(optimizer=keras.optimizers.Adam(),
              loss=keras.losses.BinaryCrossentropy(from_logits=True),
              metrics=[keras.metrics.BinaryAccuracy()])
initial = model.evaluate(images, labels, verbose=0, return_dict=True)
base_before = base_model.get_weights()
history = model.fit(images, labels, epochs=4, batch_size=16, validation_data=(images, labels),
                    verbose=0)
base_frozen = all(np.array_equal(a, b) for a, b in zip(base_before, base_model.get_weights()))
head_counts = (len(model.trainable_weights), len(model.non_trainable_weights))

# Unfreeze the base_model. Note that it keeps running in inference mode
# since we passed `training=False` when calling it. This means that
# the batchnorm layers will not update their batch statistics.
base_model.trainable = True
model.summary(show_trainable=True)
model.compile(optimizer=keras.optimizers.Adam(1e-5),  # Low learning rate
              loss=keras.losses.BinaryCrossentropy(from_logits=True),
              metrics=[keras.metrics.BinaryAccuracy()])
fine_tuning = model.fit(images, labels, epochs=2, batch_size=16, verbose=0)
after = base_model.get_weights()
kernel_moved = not np.allclose(base_before[0], after[0])
moving_stats_kept = all(np.array_equal(a, b) for a, b in zip(base_before[-2:], after[-2:]))
tuned_counts = (len(model.trainable_weights), len(model.non_trainable_weights))

RESULTS = {"params": model.count_params(), "initial": initial, "history": history.history,
           "fine_tuning": fine_tuning.history, "dense_counts": dense_counts,
           "bn_counts": bn_counts, "frozen_counts": frozen_counts,
           "layer1_unchanged": layer1_unchanged, "recursive": recursive,
           "base_frozen": base_frozen, "head_counts": head_counts,
           "kernel_moved": kernel_moved, "moving_stats_kept": moving_stats_kept,
           "tuned_counts": tuned_counts,
           "also_compared": ["dense_counts", "bn_counts", "frozen_counts", "layer1_unchanged",
                             "recursive", "base_frozen", "head_counts", "kernel_moved",
                             "moving_stats_kept", "tuned_counts"]}

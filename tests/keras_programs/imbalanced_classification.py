# keras.io "Imbalanced classification: credit card fraud detection": normalise with training
# statistics, a Sequential of Dense + Dropout (input_shape= on the first layer), the
# confusion-count metrics with Precision and Recall, class_weight from the class counts, and
# a ModelCheckpoint per epoch; synthetic transactions with 6% positives instead of Kaggle's.
import os
import tempfile

import numpy as np

from tinymm import keras

rng = np.random.default_rng(0)
features = rng.standard_normal((500, 12)).astype("float32") * 3 + 1
targets = ((features[:, 0] + features[:, 1] > 6.5) | (rng.random(500) < 0.01)).astype(
    "uint8")[:, None]

num_val_samples = int(len(features) * 0.2)
train_features = features[:-num_val_samples]
train_targets = targets[:-num_val_samples]
val_features = features[-num_val_samples:]
val_targets = targets[-num_val_samples:]

counts = np.bincount(train_targets[:, 0])
weight_for_0 = 1.0 / counts[0]
weight_for_1 = 1.0 / counts[1]

mean = np.mean(train_features, axis=0)
train_features -= mean
val_features -= mean
std = np.std(train_features, axis=0)
train_features /= std
val_features /= std

model = keras.Sequential(
    [
        keras.layers.Dense(
            32, activation="relu", input_shape=(train_features.shape[-1],)
        ),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
)
model = globals().get("share_weights", lambda m: m)(model)

metrics = [
    keras.metrics.FalseNegatives(name="fn"),
    keras.metrics.FalsePositives(name="fp"),
    keras.metrics.TrueNegatives(name="tn"),
    keras.metrics.TruePositives(name="tp"),
    keras.metrics.Precision(name="precision"),
    keras.metrics.Recall(name="recall"),
]

model.compile(
    optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy", metrics=metrics
)
initial = model.evaluate(val_features, val_targets, verbose=0, return_dict=True)
initial_loss = initial["loss"]

folder = tempfile.mkdtemp()
callbacks = [keras.callbacks.ModelCheckpoint(
    os.path.join(folder, "fraud_model_at_epoch_{epoch}.keras"))]
class_weight = {0: weight_for_0, 1: weight_for_1}

history = model.fit(
    train_features,
    train_targets,
    batch_size=128,
    epochs=6,
    verbose=0,
    callbacks=callbacks,
    validation_data=(val_features, val_targets),
    class_weight=class_weight,
)
checkpoints = sorted(os.listdir(folder))

RESULTS = {"params": model.count_params(), "initial_loss": initial_loss, "initial": initial,
           "history": history.history, "checkpoints": checkpoints,
           "val_counts": int(val_targets.sum()), "n_val": len(val_targets)}

# keras.io "Writing a training loop from scratch in PyTorch": a functional model, a Keras
# optimizer, loss and metrics driven by a plain loop (model(x, training=True), loss_fn,
# zero_grad, loss.backward(), optimizer.apply), metrics updated, read and reset by hand, a
# validation loop, then "Low-level handling of losses tracked by the model" (a layer's
# add_loss, summed from model.losses into the loss). Batches are slices of tiny arrays
# instead of a torch DataLoader; the guide's `with torch.no_grad():` around
# optimizer.apply is left out (the program does not import torch).
import numpy as np

from tinymm import keras
from tinymm.keras import ops


def get_model():
    inputs = keras.Input(shape=(16,), name="digits")
    x1 = keras.layers.Dense(16, activation="relu")(inputs)
    x2 = keras.layers.Dense(16, activation="relu")(x1)
    outputs = keras.layers.Dense(10, name="predictions")(x2)
    return keras.Model(inputs=inputs, outputs=outputs)


rng = np.random.default_rng(0)
x_train = rng.random((96, 16)).astype("float32")
y_train = keras.utils.to_categorical(x_train[:, :10].argmax(axis=1), 10)
x_val, y_val = x_train[-32:], y_train[-32:]
batch_size = 32


def batches(x, y):
    for step in range(len(x) // batch_size):
        yield x[step * batch_size:(step + 1) * batch_size], \
            y[step * batch_size:(step + 1) * batch_size]


model = globals().get("share_weights", lambda m: m)(get_model())
optimizer = keras.optimizers.Adam(learning_rate=1e-3)
loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True)
train_acc_metric = keras.metrics.CategoricalAccuracy()
val_acc_metric = keras.metrics.CategoricalAccuracy()

losses, train_accs, val_accs = [], [], []
for epoch in range(3):
    print(f"Start of epoch {epoch}")
    for step, (inputs, targets) in enumerate(batches(x_train, y_train)):
        logits = model(inputs, training=True)
        loss = loss_fn(targets, logits)
        model.zero_grad()
        loss.backward()
        trainable_weights = [v for v in model.trainable_weights]
        gradients = [v.value.grad for v in trainable_weights]
        optimizer.apply(gradients, trainable_weights)
        train_acc_metric.update_state(targets, logits)
        losses.append(float(loss.detach().cpu().numpy()))
        if step % 2 == 0:
            print(f"Training loss (for 1 batch) at step {step}: {losses[-1]:.4f}")
    train_accs.append(float(train_acc_metric.result()))
    train_acc_metric.reset_state()
    for x, y in batches(x_val, y_val):
        val_logits = model(x, training=False)
        val_acc_metric.update_state(y, val_logits)
    val_accs.append(float(val_acc_metric.result()))
    val_acc_metric.reset_state()


class ActivityRegularizationLayer(keras.layers.Layer):
    def call(self, inputs):
        self.add_loss(1e-2 * ops.sum(inputs))
        return inputs


inputs = keras.Input(shape=(16,), name="digits")
x = keras.layers.Dense(16, activation="relu")(inputs)
x = ActivityRegularizationLayer()(x)  # the activity regularization as a layer
x = keras.layers.Dense(16, activation="relu")(x)
outputs = keras.layers.Dense(10, name="predictions")(x)
regularized = globals().get("share_weights", lambda m: m)(keras.Model(inputs, outputs))
reg_optimizer = keras.optimizers.SGD(learning_rate=0.05)
reg_losses, added = [], []
for inputs, targets in batches(x_train, y_train):
    logits = regularized(inputs, training=True)
    loss_value = loss_fn(targets, logits)
    added.append(float(sum(regularized.losses).detach().cpu().numpy()))
    loss_value = loss_value + sum(regularized.losses)  # the layer's add_loss terms
    regularized.zero_grad()
    loss_value.backward()
    weights = regularized.trainable_weights
    reg_optimizer.apply([v.value.grad for v in weights], weights)
    reg_losses.append(float(loss_value.detach().cpu().numpy()))

RESULTS = {"params": model.count_params(), "initial_loss": losses[0], "after_step": losses,
           "history": {"loss": losses}, "train_accs": train_accs, "val_accs": val_accs,
           "iterations": int(optimizer.iterations), "reg_losses": reg_losses, "added": added,
           "n_model_losses": len(regularized.losses),
           "also_compared": ["reg_losses", "added", "train_accs", "val_accs", "iterations"]}

# The Functional API guide's ticket model: three inputs (title, body, tags), two outputs
# (priority, department), per-output losses and loss_weights; tiny sizes.
import numpy as np

from tinymm import keras

num_tags, num_words, num_departments = 6, 100, 4
title_input = keras.Input(shape=(None,), name="title", dtype="int64")
body_input = keras.Input(shape=(None,), name="body", dtype="int64")
tags_input = keras.Input(shape=(num_tags,), name="tags")
title_features = keras.layers.Embedding(num_words, 8)(title_input)
body_features = keras.layers.Embedding(num_words, 8)(body_input)
title_features = keras.layers.LSTM(8)(title_features)
body_features = keras.layers.LSTM(4)(body_features)
x = keras.layers.concatenate([title_features, body_features, tags_input])
priority_pred = keras.layers.Dense(1, name="priority")(x)
department_pred = keras.layers.Dense(num_departments, name="department")(x)
model = keras.Model(inputs=[title_input, body_input, tags_input],
                    outputs={"priority": priority_pred, "department": department_pred})
model = globals().get("share_weights", lambda m: m)(model)
model.compile(
    optimizer=keras.optimizers.RMSprop(1e-3),
    loss={"priority": keras.losses.BinaryCrossentropy(from_logits=True),
          "department": keras.losses.CategoricalCrossentropy(from_logits=True)},
    loss_weights={"priority": 1.0, "department": 0.2},
)
rng = np.random.default_rng(0)
title_data = rng.integers(0, num_words, size=(64, 10))
body_data = rng.integers(0, num_words, size=(64, 20))
tags_data = rng.integers(0, 2, size=(64, num_tags)).astype("float32")
priority_targets = rng.random(size=(64, 1)).astype("float32")
dept_targets = rng.integers(0, 2, size=(64, num_departments)).astype("float32")
inputs = {"title": title_data, "body": body_data, "tags": tags_data}
targets = {"priority": priority_targets, "department": dept_targets}
initial_loss = model.evaluate(inputs, targets, verbose=0, return_dict=True)
first_step = model.train_on_batch(inputs, targets)
after_step = model.evaluate(inputs, targets, verbose=0, return_dict=True)
history = model.fit(inputs, targets, epochs=2, batch_size=32, verbose=0)

RESULTS = {"params": model.count_params(), "initial_loss": initial_loss,
           "after_step": after_step, "history": history.history,
           "shapes": {k: v.shape for k, v in model.predict(inputs, verbose=0).items()}}

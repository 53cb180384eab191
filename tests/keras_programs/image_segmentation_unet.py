# keras.io "Image segmentation with a U-Net-like architecture" (Oxford Pets): the data as a
# keras.utils.PyDataset subclass of (image, mask) batches, the Xception-style U-Net
# (Conv2D/SeparableConv2D/BatchNormalization/Activation, MaxPooling2D with padding="same",
# residuals through layers.add, Conv2DTranspose and UpSampling2D back up, a per-pixel
# softmax), rmsprop with sparse_categorical_crossentropy, ModelCheckpoint(save_best_only),
# predictions argmax'd into masks. Synthetic 32x32 images of squares (3 classes) and
# smaller filter counts instead of 160x160 pets.
import os
import tempfile

import numpy as np

from tinymm import keras
from tinymm.keras import layers

img_size = (32, 32)
num_classes = 3
batch_size = 4


def make_pair(seed):
    rng = np.random.default_rng(seed)
    mask = np.zeros(img_size, "uint8")
    for label in (1, 2):
        r, c = rng.integers(0, 24, 2)
        mask[r:r + 8, c:c + 8] = label
    img = np.stack([mask == 1, mask == 2, rng.random(img_size) < 0.1], -1).astype("float32")
    return img * 255.0, mask + 1  # labels 1, 2, 3 as in the trimaps


class OxfordPets(keras.utils.PyDataset):
    """Helper to iterate over the data (as Numpy arrays)."""

    def __init__(self, batch_size, img_size, seeds, **kwargs):
        super().__init__(**kwargs)
        self.batch_size = batch_size
        self.img_size = img_size
        self.seeds = seeds

    def __len__(self):
        return len(self.seeds) // self.batch_size

    def __getitem__(self, idx):
        """Returns tuple (input, target) correspond to batch #idx."""
        i = idx * self.batch_size
        batch_seeds = self.seeds[i: i + self.batch_size]
        x = np.zeros((self.batch_size,) + self.img_size + (3,), dtype="float32")
        y = np.zeros((self.batch_size,) + self.img_size + (1,), dtype="uint8")
        for j, seed in enumerate(batch_seeds):
            img, mask = make_pair(seed)
            x[j] = img / 255.0
            y[j] = np.expand_dims(mask, 2)
            # Ground truth labels are 1, 2, 3. Subtract one to make them 0, 1, 2:
            y[j] -= 1
        return x, y


def get_model(img_size, num_classes):
    inputs = keras.Input(shape=img_size + (3,))

    ### [First half of the network: downsampling inputs] ###

    # Entry block
    x = layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)

    previous_block_activation = x  # Set aside residual

    # Blocks 1, 2 are identical apart from the feature depth.
    for filters in [8, 16]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)

        # Project residual
        residual = layers.Conv2D(filters, 1, strides=2, padding="same")(
            previous_block_activation
        )
        x = layers.add([x, residual])  # Add back residual
        previous_block_activation = x  # Set aside next residual

    ### [Second half of the network: upsampling inputs] ###

    for filters in [16, 8, 8]:
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.UpSampling2D(2)(x)

        # Project residual
        residual = layers.UpSampling2D(2)(previous_block_activation)
        residual = layers.Conv2D(filters, 1, padding="same")(residual)
        x = layers.add([x, residual])  # Add back residual
        previous_block_activation = x  # Set aside next residual

    # Add a per-pixel classification layer
    outputs = layers.Conv2D(num_classes, 3, activation="softmax", padding="same")(x)

    # Define the model
    model = keras.Model(inputs, outputs)
    return model


keras.backend.clear_session()
model = get_model(img_size, num_classes)
model = globals().get("share_weights", lambda m: m)(model)

train_gen = OxfordPets(batch_size, img_size, list(range(16)))
val_gen = OxfordPets(batch_size, img_size, list(range(100, 108)))

model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
x0, y0 = train_gen[0]
initial_loss = model.evaluate(x0, y0, verbose=0)
first_step = model.train_on_batch(x0, y0)
after_step = model.evaluate(x0, y0, verbose=0)

folder = tempfile.mkdtemp()
callbacks = [
    keras.callbacks.ModelCheckpoint(os.path.join(folder, "oxford_segmentation.keras"),
                                    save_best_only=True)
]
history = model.fit(train_gen, epochs=3, validation_data=val_gen, callbacks=callbacks,
                    verbose=0)

val_preds = model.predict(val_gen, verbose=0)
mask = np.expand_dims(np.argmax(val_preds[1], axis=-1), axis=-1)
best = keras.models.load_model(os.path.join(folder, "oxford_segmentation.keras"))

RESULTS = {"params": model.count_params(), "initial_loss": initial_loss,
           "after_step": after_step, "history": history.history,
           "pred_shape": val_preds.shape, "mask_shape": mask.shape,
           "best_layers": len(best.layers)}

# keras.io "Variational AutoEncoder" (fchollet): a Sampling layer with a SeedGenerator, a
# conv encoder and a Conv2DTranspose decoder, a Model subclass with tracked Mean metrics and
# its own train_step. On the torch backend the step is the "Customizing what happens in
# fit() with PyTorch" guide's (zero_grad, backward, optimizer.apply) in place of
# tf.GradientTape, and the VAE has a call() (Keras 3 builds the model from it before fit);
# 12x12 synthetic "digits" (a bar at one of four heights) instead of MNIST's 28x28.
import numpy as np

from tinymm import keras
from tinymm.keras import layers, ops


class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = ops.shape(z_mean)[0]
        dim = ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


latent_dim = 2

encoder_inputs = keras.Input(shape=(12, 12, 1))
x = layers.Conv2D(8, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
x = layers.Conv2D(16, 3, activation="relu", strides=2, padding="same")(x)
x = layers.Flatten()(x)
x = layers.Dense(16, activation="relu")(x)
z_mean = layers.Dense(latent_dim, name="z_mean")(x)
z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
z = Sampling()([z_mean, z_log_var])
encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")
encoder = globals().get("share_weights", lambda m: m)(encoder)
encoder.summary()

latent_inputs = keras.Input(shape=(latent_dim,))
x = layers.Dense(3 * 3 * 16, activation="relu")(latent_inputs)
x = layers.Reshape((3, 3, 16))(x)
x = layers.Conv2DTranspose(16, 3, activation="relu", strides=2, padding="same")(x)
x = layers.Conv2DTranspose(8, 3, activation="relu", strides=2, padding="same")(x)
decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")
decoder = globals().get("share_weights", lambda m: m)(decoder)
decoder.summary()


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker,
                self.kl_loss_tracker]

    def call(self, inputs):
        z_mean, z_log_var, z = self.encoder(inputs)
        return self.decoder(z)

    def train_step(self, data):
        self.zero_grad()
        z_mean, z_log_var, z = self.encoder(data)
        reconstruction = self.decoder(z)
        reconstruction_loss = ops.mean(
            ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)))
        kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
        total_loss = reconstruction_loss + kl_loss
        total_loss.backward()
        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.value.grad for v in trainable_weights]
        self.optimizer.apply(gradients, trainable_weights)
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {"loss": self.total_loss_tracker.result(),
                "reconstruction_loss": self.reconstruction_loss_tracker.result(),
                "kl_loss": self.kl_loss_tracker.result()}


rng = np.random.default_rng(0)
digits = np.zeros((64, 12, 12, 1), "float32")
for i, k in enumerate(rng.integers(0, 4, 64)):
    digits[i, 2 + 2 * k: 5 + 2 * k, 2:10, 0] = 1.0  # a bar at one of four heights
mnist_digits = np.clip(digits + 0.1 * rng.random(digits.shape), 0, 1).astype("float32")

z_mean_0, z_log_var_0, _ = encoder.predict(mnist_digits, verbose=0)
decoded_0 = decoder.predict(z_mean_0, verbose=0)  # deterministic: the codes' means

vae = VAE(encoder, decoder)
vae.compile(optimizer=keras.optimizers.Adam())
history = vae.fit(mnist_digits, epochs=3, batch_size=16, verbose=0)
z_mean, _, _ = vae.encoder.predict(mnist_digits, verbose=0)

RESULTS = {"params": encoder.count_params() + decoder.count_params(),
           "history": history.history, "z_mean": z_mean, "z_mean_0": z_mean_0,
           "z_log_var_0": z_log_var_0, "decoded_0": decoded_0,
           "vae_params": vae.count_params(), "n_metrics": len(vae.metrics),
           "also_compared": ["z_mean_0", "z_log_var_0", "decoded_0", "vae_params",
                             "n_metrics"]}

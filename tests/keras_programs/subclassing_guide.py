# keras.io "Making new layers and models via subclassing": weights made in __init__ and in
# build() with add_weight, a non-trainable weight updated with assign_add, layers nested as
# attributes (their weights become the outer layer's), add_loss() from a nested layer,
# get_config/from_config, a training argument with keras.random.dropout and a
# SeedGenerator, an Embedding's mask, and the end-to-end VariationalAutoEncoder (a Model
# subclass whose call adds its KL loss) trained with fit; tiny sizes.
import numpy as np

from tinymm import keras
from tinymm.keras import layers, ops


class Linear(keras.layers.Layer):
    def __init__(self, units=32, input_dim=32):
        super().__init__()
        self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal",
                                 trainable=True)
        self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


class ComputeSum(keras.layers.Layer):
    def __init__(self, input_dim):
        super().__init__()
        self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

    def call(self, inputs):
        self.total.assign_add(ops.sum(inputs, axis=0))
        return self.total


class LazyLinear(keras.layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal",
                                 trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


class MLPBlock(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.linear_1 = LazyLinear(32)
        self.linear_2 = LazyLinear(32)
        self.linear_3 = LazyLinear(1)

    def call(self, inputs):
        x = self.linear_1(inputs)
        x = keras.activations.relu(x)
        x = self.linear_2(x)
        x = keras.activations.relu(x)
        return self.linear_3(x)


class ActivityRegularizationLayer(keras.layers.Layer):
    def __init__(self, rate=1e-2):
        super().__init__()
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * ops.mean(inputs))
        return inputs


class OuterLayer(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.activity_reg = ActivityRegularizationLayer(1e-2)

    def call(self, inputs):
        return self.activity_reg(inputs)


class CustomDropout(keras.layers.Layer):
    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs, training=None):
        if training:
            return keras.random.dropout(inputs, rate=self.rate, seed=self.seed_generator)
        return inputs


x = ops.ones((2, 2))
linear_layer = Linear(4, 2)
y = linear_layer(x)
weights_match = linear_layer.weights == [linear_layer.w, linear_layer.b]

my_sum = ComputeSum(2)
first_sum = np.array(my_sum(x))
second_sum = np.array(my_sum(x))
sum_weights = (len(my_sum.weights), len(my_sum.non_trainable_weights),
               len(my_sum.trainable_weights))

mlp = MLPBlock()
y = mlp(ops.ones(shape=(3, 64)))  # The first call to the `mlp` will create the weights
mlp_weights = (len(mlp.weights), len(mlp.trainable_weights))

layer = OuterLayer()
losses_before = len(layer.losses)  # No losses yet since the layer has never been called
_ = layer(ops.zeros((1, 1)))
losses_zeros = [float(np.array(v)) for v in layer.losses]  # one loss, of 0
_ = layer(ops.ones((1, 1)))  # `layer.losses` gets reset at the start of each __call__
losses_ones = [float(np.array(v)) for v in layer.losses]

config_layer = LazyLinear(64)
config = config_layer.get_config()
new_layer = LazyLinear.from_config(config)

dropout = CustomDropout(0.5)
inference = np.array(dropout(np.ones((4, 4), "float32"), training=False))
trained = np.array(dropout(np.ones((4, 4), "float32"), training=True))

embedding = layers.Embedding(input_dim=10, output_dim=3, mask_zero=True)
masked_output = embedding(np.array([[1, 2, 0, 0]]))
mask = np.array(embedding.compute_mask(np.array([[1, 2, 0, 0]])))


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


class Encoder(layers.Layer):
    """Maps MNIST digits to a triplet (z_mean, z_log_var, z)."""

    def __init__(self, latent_dim=32, intermediate_dim=64, name="encoder", **kwargs):
        super().__init__(name=name, **kwargs)
        self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
        self.dense_mean = layers.Dense(latent_dim)
        self.dense_log_var = layers.Dense(latent_dim)
        self.sampling = Sampling()

    def call(self, inputs):
        x = self.dense_proj(inputs)
        z_mean = self.dense_mean(x)
        z_log_var = self.dense_log_var(x)
        z = self.sampling((z_mean, z_log_var))
        return z_mean, z_log_var, z


class Decoder(layers.Layer):
    """Converts z, the encoded digit vector, back into a readable digit."""

    def __init__(self, original_dim, intermediate_dim=64, name="decoder", **kwargs):
        super().__init__(name=name, **kwargs)
        self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
        self.dense_output = layers.Dense(original_dim, activation="sigmoid")

    def call(self, inputs):
        x = self.dense_proj(inputs)
        return self.dense_output(x)


class VariationalAutoEncoder(keras.Model):
    """Combines the encoder and decoder into an end-to-end model for training."""

    def __init__(self, original_dim, intermediate_dim=64, latent_dim=32, name="autoencoder",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.original_dim = original_dim
        self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim)
        self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim)

    def call(self, inputs):
        z_mean, z_log_var, z = self.encoder(inputs)
        reconstructed = self.decoder(z)
        # Add KL divergence regularization loss.
        kl_loss = -0.5 * ops.mean(z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1)
        self.add_loss(kl_loss)
        return reconstructed


rng = np.random.default_rng(0)
x_train = np.zeros((64, 16), "float32")
for i, k in enumerate(rng.integers(0, 4, 64)):
    x_train[i, 4 * k: 4 * k + 4] = 1.0  # four kinds of "digit"
original_dim = 16
vae = VariationalAutoEncoder(original_dim, 8, 2)
optimizer = keras.optimizers.Adam(learning_rate=1e-2)
vae.compile(optimizer, loss=keras.losses.MeanSquaredError())
history = vae.fit(x_train, x_train, epochs=4, batch_size=16, verbose=0)
reconstructed = vae(x_train[:8])
kl_losses = [float(ops.convert_to_numpy(v)) for v in vae.losses]  # the call's KL term

RESULTS = {"params": vae.count_params(), "history": history.history,
           "weights_match": weights_match, "first_sum": first_sum, "second_sum": second_sum,
           "sum_weights": sum_weights, "mlp_weights": mlp_weights,
           "losses_before": losses_before, "losses_zeros": losses_zeros,
           "losses_ones": losses_ones, "config_units": config["units"],
           "new_units": new_layer.units, "inference": inference, "trained": trained,
           "mask": mask, "vae_weights": len(vae.trainable_weights), "kl_losses": kl_losses,
           "also_compared": ["first_sum", "second_sum", "sum_weights", "mlp_weights",
                             "losses_before", "losses_zeros", "losses_ones", "config_units",
                             "new_units", "inference", "mask", "vae_weights"]}

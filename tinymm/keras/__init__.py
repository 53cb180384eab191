"""A Keras-style front end over ``tinymm.nn``: the seed article's program runs on it with
only the import changed (``import tinymm as tf``; ``tf.keras.layers.Dense``...).

``Input``, ``layers.*``, the functional ``Model`` and ``Sequential``, ``compile``/``fit``/
``evaluate``/``predict`` (training.py, on tinymm/loop.py), ``summary()``, callbacks,
``losses``, ``metrics``, ``optimizers`` (+ ``schedules``), ``initializers``, ``regularizers``,
``constraints`` (applied after each optimizer update),
``ops``, ``random``, ``utils``, ``Variable``, and ``save``/``models.load_model`` (``saving``:
also the custom-object registry and (de)serialization; a ``.keras`` path is Keras 3's zip,
read and written by keras_file.py, other paths tinymm/io.py checkpoints). A
subclassed Model's own ``train_step``/``test_step``/``predict_step``, ``compute_loss``,
``metrics`` and ``add_loss`` are in steps.py. See engine.py for how the graph is recorded
and layers.py for how each layer adapts an nn module (more layers: more_layers.py,
simple_layers.py, recurrent.py, cells.py, conv_layers.py, text.py). TensorFlow-style
functions (``tf.nn.softmax``, ``tf.reduce_mean``...) are in tinymm/tf.py:
``from tinymm import tf``.
"""

from tinymm.keras import (
    activations,
    callbacks,
    constraints,
    initializers,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    random,
    regularizers,
    saving,
    utils,
)
from tinymm.keras.engine import Input, KerasTensor, Layer, Variable, clear_session
from tinymm.keras.models import Model, NonFiniteLossError, Sequential, load_model


class _Namespace:
    def __init__(self, **names):
        self.__dict__.update(names)


backend = _Namespace(clear_session=clear_session)

__all__ = [
    "Input", "KerasTensor", "Layer", "Model", "NonFiniteLossError", "Sequential", "Variable",
    "activations",
    "backend", "callbacks", "clear_session", "constraints", "initializers", "layers",
    "load_model", "losses",
    "metrics", "models", "ops", "optimizers", "random", "regularizers", "saving", "utils",
]

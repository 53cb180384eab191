"""A Keras-style front end over ``tinymm.nn``: the seed article's program runs on it with
only the import changed (``import tinymm as tf``; ``tf.keras.layers.Dense``...).

``Input``, ``layers.*``, the functional ``Model`` and ``Sequential``, ``compile``/``fit``/
``evaluate``/``predict``, ``summary()``, callbacks, and ``save``/``models.load_model``
(tinymm/io.py checkpoints). See engine.py for how the graph is recorded and layers.py for
how each layer adapts an nn module.
"""

from tinymm.keras import activations, callbacks, layers, losses, models, optimizers, utils
from tinymm.keras.engine import Input, KerasTensor, Layer, clear_session
from tinymm.keras.models import Model, NonFiniteLossError, Sequential, load_model


class _Namespace:
    def __init__(self, **names):
        self.__dict__.update(names)


backend = _Namespace(clear_session=clear_session)

__all__ = [
    "Input", "KerasTensor", "Layer", "Model", "NonFiniteLossError", "Sequential", "activations",
    "backend", "callbacks", "clear_session", "layers", "load_model", "losses", "models",
    "optimizers", "utils",
]

"""Keras-style optimizers: ``Adam(learning_rate=1e-3)`` before the model's weights exist.

A Keras optimizer is created without parameters (``compile(optimizer=Adam(1e-3))``), so these
classes are specifications: ``build(params)`` returns the ``tinymm.optim`` optimizer that does
the work, with Keras's default hyper-parameters (Adam's epsilon is 1e-7 in Keras, 1e-8 in
PyTorch). A ``tinymm.optim`` optimizer passed to ``compile`` is used as it is.
"""

from __future__ import annotations

from tinymm import optim


class Optimizer:
    def __init__(self, learning_rate: float = 1e-3):
        self.learning_rate = learning_rate

    def build(self, params) -> optim.Optimizer:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


class Adam(Optimizer):
    def __init__(self, learning_rate: float = 1e-3, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False):
        super().__init__(learning_rate)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def build(self, params) -> optim.Optimizer:
        return optim.Adam(params, lr=self.learning_rate, betas=(self.beta_1, self.beta_2),
                          eps=self.epsilon, amsgrad=self.amsgrad)


class AdamW(Adam):
    def __init__(self, learning_rate: float = 1e-3, weight_decay: float = 0.004,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 amsgrad: bool = False):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad)
        self.weight_decay = weight_decay

    def build(self, params) -> optim.Optimizer:
        return optim.AdamW(params, lr=self.learning_rate, betas=(self.beta_1, self.beta_2),
                           eps=self.epsilon, weight_decay=self.weight_decay,
                           amsgrad=self.amsgrad)


class SGD(Optimizer):
    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0,
                 nesterov: bool = False):
        super().__init__(learning_rate)
        self.momentum, self.nesterov = momentum, nesterov

    def build(self, params) -> optim.Optimizer:
        return optim.SGD(params, lr=self.learning_rate, momentum=self.momentum,
                         nesterov=self.nesterov)


_BY_NAME = {"adam": Adam, "adamw": AdamW, "sgd": SGD}


def get(identifier):
    """A name ("adam"), a Keras-style spec or a ``tinymm.optim`` optimizer."""
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _BY_NAME:
            raise ValueError(f"unknown optimizer {identifier!r}; known: {sorted(_BY_NAME)}, or "
                             "pass tinymm.keras.optimizers.Adam(learning_rate=...)")
        return _BY_NAME[key]()
    if isinstance(identifier, (Optimizer, optim.Optimizer)):
        return identifier
    raise TypeError(f"optimizer must be a name, a tinymm.keras.optimizers spec or a "
                    f"tinymm.optim optimizer, got {type(identifier).__name__}")

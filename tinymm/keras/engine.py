"""The Keras-style graph: ``KerasTensor``, ``Layer``, ``Input`` and the functional ``Model``.

Dimension letters: N batch (``None`` in symbolic shapes), the rest as each layer states.

How a functional model comes to exist::

    x = Input(shape=(32, 32, 3))          # a KerasTensor: shape (None, 32, 32, 3), no data
    h = Conv2D(32, 3)(x)                  # the layer builds its weights from x's shape (lazy
                                          # shape inference), records a Node, and returns a
                                          # new KerasTensor with the inferred output shape
    model = Model(inputs=x, outputs=h)    # walks the Nodes back from the outputs

Calling a layer on real data (arrays or Tensors) runs it eagerly instead; ``Model`` runs its
Nodes in topological order that way. Every Keras layer is a small adapter over a
``tinymm.nn`` module (``layer.module``) in PyTorch's layout: channels-last Keras images are
permuted to NCHW for ``nn.Conv2d`` and back. ``Model`` is itself an ``nn.Module`` whose
children are its layers' modules, named by layer name, so ``model.state_dict()`` has keys
like ``dense.weight`` and ``tinymm.optim`` optimizers work on ``model.parameters()``.

Masks (``Embedding(mask_zero=True)``) travel as ``tensor._keras_mask`` (a bool array (N, T),
True = real token), as in TensorFlow; ``LSTM`` reads it.
"""

from __future__ import annotations

import inspect
import re

import numpy as np

from tinymm.autograd import no_grad
from tinymm.nn.module import Module, Parameter
from tinymm.tensor import Tensor, from_numpy

_NAME_COUNTS: dict[str, int] = {}



def by_name(kind: str, table: dict, identifier: str, hint: str = ""):
    """A new instance of ``table[identifier.lower()]``, the registry of a Keras ``get``; an
    unknown name is a ValueError listing the known ones (then ``hint``)."""
    key = identifier.lower()
    if key not in table:
        raise ValueError(f"unknown {kind} {identifier!r}; known: {sorted(table)}{hint}")
    return table[key]()

def snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)  # Keras's to_snake_case
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base: str) -> str:
    """Keras's naming: dense, dense_1, dense_2, ... (per process)."""
    count = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def clear_session() -> None:
    """Reset layer-name counters (``tf.keras.backend.clear_session()``)."""
    _NAME_COUNTS.clear()


def fmt_shape(shape) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(fmt_shape(s) for s in shape) + "]"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


class EagerTensor(Tensor):
    """What a Keras layer or model returns when called on data: a Tensor (gradients still
    flow to the weights) with TensorFlow's value semantics: ``numpy()`` is a copy of its
    values (as ``model(x).numpy()``; PyTorch's refuses a tensor that requires grad), and
    ``x -= y``, ``+=``, ``*=``, ``/=`` make a new tensor instead of writing in place (TF
    tensors are immutable, so Keras code such as ``inputs -= ops.mean(inputs)`` in a custom
    layer means ``inputs = inputs - ...``)."""

    def numpy(self) -> np.ndarray:
        return np.array(self.array, copy=True)

    def __iadd__(self, other):
        return as_eager(self + other)

    def __isub__(self, other):
        return as_eager(self - other)

    def __imul__(self, other):
        return as_eager(self * other)

    def __itruediv__(self, other):
        return as_eager(self / other)


def as_eager(value):
    """Mark model outputs (a Tensor or a list of them) as EagerTensors."""
    if isinstance(value, list):
        return [as_eager(v) for v in value]
    if isinstance(value, dict):
        return {k: as_eager(v) for k, v in value.items()}
    if type(value) is Tensor:
        value.__class__ = EagerTensor
    return value


def keras_dtype(dtype) -> np.dtype:
    """A Keras dtype name as a NumPy dtype; "string" (Keras's text inputs) is NumPy's object
    dtype, which holds the Python strings a lookup or text layer reads."""
    return np.dtype(object) if dtype in ("string", "str", str) else np.dtype(dtype)


def is_text(array) -> bool:
    """True for a NumPy array of strings (object, str or bytes dtype): data for a text layer,
    never a Tensor."""
    return isinstance(array, np.ndarray) and array.dtype.kind in "OUS"


# ---------------------------------------------------------------- symbolic tensors
class KerasTensor:
    """A placeholder in a functional graph: a shape (batch dim None), a dtype, and the layer
    output it stands for. It holds no data; calling a layer on it records the graph."""

    def __init__(self, shape, dtype="float32", layer=None, node=None, index: int = 0,
                 has_mask: bool = False, name: str | None = None):
        self.shape = tuple(shape)
        self.dtype = keras_dtype(dtype)
        self.layer = layer  # the Layer that produced it
        self.node = node  # the Node (a call of that layer) that produced it
        self.index = index  # which output of that node
        self.has_mask = has_mask
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        who = f", produced by '{self.layer.name}'" if self.layer is not None else ""
        return f"<KerasTensor shape={fmt_shape(self.shape)}, dtype={self.dtype}{who}>"

    def _error(self, what):
        raise TypeError(f"{what} on a symbolic KerasTensor {self!r}: it holds no data yet "
                        "(call the model on arrays for values)")

    # arithmetic records an OpLayer in the graph, as Keras 3 does for operators
    def __add__(self, other):
        return OpLayer.apply(_add, self, other)

    def __radd__(self, other):
        return OpLayer.apply(_add, other, self)

    def __sub__(self, other):
        return OpLayer.apply(_sub, self, other)

    def __rsub__(self, other):
        return OpLayer.apply(_sub, other, self)

    def __mul__(self, other):
        return OpLayer.apply(_mul, self, other)

    def __rmul__(self, other):
        return OpLayer.apply(_mul, other, self)

    def __truediv__(self, other):
        return OpLayer.apply(_truediv, self, other)

    def __matmul__(self, other):
        return OpLayer.apply(_matmul, self, other)

    def __neg__(self):
        return OpLayer.apply(_neg, self)

    def __getitem__(self, key):  # x[:, 0]: Keras 3's GetItem operation
        return OpLayer.apply(_getitem, self, key)

    def numpy(self):
        self._error("numpy()")


def _add(a, b):
    return a + b


def _sub(a, b):
    return a - b


def _mul(a, b):
    return a * b


def _truediv(a, b):
    return a / b


def _matmul(a, b):
    return a @ b


def _neg(a):
    return -a


def _getitem(a, key):
    return a[key]


class Node:
    """One call of a layer in a graph: the arguments (KerasTensors inside) and outputs."""

    def __init__(self, layer, args: tuple, kwargs: dict, outputs: list[KerasTensor]):
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.outputs = outputs

    @property
    def inputs(self) -> list[KerasTensor]:
        return [t for t in flatten_structure((self.args, self.kwargs))
                if isinstance(t, KerasTensor)]


def flatten_structure(structure) -> list:
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten_structure(item)]
    if isinstance(structure, dict):
        return [leaf for item in structure.values() for leaf in flatten_structure(item)]
    return [structure]


def map_structure(fn, structure):
    if isinstance(structure, list):
        return [map_structure(fn, s) for s in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, s) for s in structure)
    if isinstance(structure, dict):
        return {k: map_structure(fn, v) for k, v in structure.items()}
    return fn(structure)


def weight_view(p, to_keras=None, from_keras=None) -> tuple:
    """A ``(get, set)`` pair for ``Layer.keras_layout``: parameter (or buffer) ``p`` seen
    through ``to_keras`` (PyTorch layout -> Keras) and written back through ``from_keras``."""
    def get():
        return p.array if to_keras is None else to_keras(p.array)

    def put(a):
        p.array[...] = a if from_keras is None else from_keras(a)

    get.params = (p,)  # the parameters behind the view (a constraint projects them)
    return get, put


def shape_list(shape):
    """A shape (or a list of shapes) as JSON lists, None for unknown dimensions."""
    if shape is None:
        return None
    if isinstance(shape, list):
        return [shape_list(s) for s in shape]
    return [None if d is None else int(d) for d in shape]


def _shape_of(x):
    if isinstance(x, KerasTensor):
        return x.shape
    if isinstance(x, Tensor):
        return (None,) + tuple(x.shape[1:])
    if isinstance(x, np.ndarray):
        return (None,) + tuple(x.shape[1:])
    return x


# ---------------------------------------------------------------- layers
def new_weight(owner: str, shape, initializer, trainable: bool, dtype, unsupported: dict):
    """A Parameter of ``shape`` initialised by a ``keras.initializers`` name or object (the
    body of ``add_weight``); ``unsupported`` options other than None are refused."""
    from tinymm.keras import initializers

    for key, value in unsupported.items():
        if value is not None:
            raise ValueError(f"{owner}: add_weight({key}=...) is not supported by tinymm.keras")
    shape, dtype = tuple(int(s) for s in shape), np.dtype(dtype)
    return Variable(np.asarray(initializers.get(initializer)(shape, dtype), dtype)
                    .reshape(shape), trainable=trainable)


class Variable(Parameter):
    """``keras.Variable``, and the weights ``add_weight`` makes: a Parameter whose values
    Keras code rewrites in place, outside the graph (``assign``, ``assign_add``,
    ``assign_sub``); ``declared_trainable`` is its ``trainable``. ``initializer`` is the
    initial value (an array, a Tensor, a number) or a ``keras.initializers`` name or object,
    which needs ``shape``. A custom layer that holds one as an attribute owns it."""

    declared_trainable = True

    @property
    def dtype(self) -> np.dtype:
        """NumPy's dtype, which prints as Keras's dtype name (``"float32"``), not PyTorch's."""
        return self.array.dtype

    def __init__(self, initializer, shape=None, dtype=None, trainable: bool = True,
                 autocast: bool = True, name: str | None = None):
        if isinstance(initializer, str) or (callable(initializer) and not isinstance(
                initializer, Tensor)):
            from tinymm.keras import initializers

            if shape is None:
                raise ValueError("Variable: an initializer needs shape=(...)")
            shape = tuple(int(s) for s in shape)
            value = initializers.get(initializer)(shape, np.dtype(dtype or "float32"))
        else:
            value = initializer.detach().cpu().array if isinstance(initializer, Tensor) \
                else initializer
        # Keras: an array keeps its dtype, a number or a list becomes floatx (float32)
        value = np.asarray(value, dtype=dtype if dtype or isinstance(value, np.ndarray)
                           else np.float32)
        super().__init__(value if shape is None else value.reshape(shape))
        self.requires_grad = self.declared_trainable = bool(trainable)
        self.name = name

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array, trainable or not (Keras's ``variable.numpy()``)."""
        return self.detach().cpu().numpy()

    def assign(self, value):
        with no_grad():
            self.copy_(value)
        return self

    def assign_add(self, delta):
        with no_grad():
            self.add_(delta)
        return self

    def assign_sub(self, delta):
        with no_grad():
            self.sub_(delta)
        return self


class WeightViews:
    """Keras's views of ``weights`` (a Layer's or a Model's): trainable or not, and Keras 3's
    ``*variables`` names for them."""

    @property
    def trainable_weights(self) -> list:
        return [p for p in self.weights if p.requires_grad]

    @property
    def non_trainable_weights(self) -> list:
        return [p for p in self.weights if not p.requires_grad]

    @property
    def variables(self) -> list:
        """Keras 3's name for ``weights``."""
        return self.weights

    @property
    def trainable_variables(self) -> list:
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list:
        return self.non_trainable_weights


class Layer(WeightViews):
    """Base of Keras layers: an adapter over a ``tinymm.nn`` module built on first use.

    A subclass defines ``build_module(input_shape)`` (returns the nn module, or None for a
    layer without weights), ``compute_output_shape(input_shape)`` and ``call(...)``, and
    ``get_config()`` for saving. ``input_shape`` in those methods has None for the batch
    dimension; a layer called on several tensors gets a list of shapes.
    """

    supports_masking = False  # True: the input mask passes through unchanged
    checked_axes: tuple[int, ...] = (-1,)  # input axes the weights depend on
    # the ``*_constraint`` arguments the layer takes, in its keras_layout order
    constraint_args: tuple[str, ...] = ()

    def __new__(cls, *args, **kwargs):
        instance = super().__new__(cls)
        if not cls.__module__.startswith("tinymm.keras"):  # a custom layer: Keras's
            from tinymm.keras import subclassed  # auto-generated config

            instance.__dict__["_auto_config"] = subclassed.auto_config(cls, args, kwargs)
        return instance

    def __init__(self, name: str | None = None, trainable: bool = True, dtype=None,
                 input_shape=None, input_dim=None, autocast: bool = True,
                 activity_regularizer=None, **unknown):
        from tinymm.keras import constraints

        self.constraints = {key: constraints.get(unknown.pop(key, None))
                            for key in type(self).constraint_args}
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) "
                            f"{sorted(unknown)}")
        if activity_regularizer is not None:  # Keras 3: each call adds reg(output) / N
            from tinymm.keras import regularizers

            self.activity_regularizer = regularizers.get(activity_regularizer)
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.module: Module | None = self.__dict__.get("module")  # (sublayers set before)
        self.trainable = trainable
        self.dtype = keras_dtype(dtype or "float32")
        # Keras casts floating-point inputs (arrays and tensors) to the layer's dtype when it
        # is called, so float64 NumPy data meets float32 weights; integer inputs are kept.
        self.autocast = bool(autocast)
        if input_shape is None and input_dim is not None:
            input_shape = (input_dim,)
        self.input_shape_hint = None if input_shape is None else tuple(input_shape)
        self.built = False
        self.inbound_nodes: list[Node] = []
        self.built_input_shape = None
        self._call_params = set(inspect.signature(self.call).parameters)

    # ------------------------------------------------------------ trainable, sublayers
    @property
    def trainable(self) -> bool:
        return self.__dict__.get("_trainable", True)

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Keras: freezing a layer freezes its weights and its sublayers' at once (they move
        to ``non_trainable_weights`` and the optimizer leaves them alone); unfreezing brings
        back those ``add_weight`` declared trainable."""
        self.__dict__["_trainable"] = bool(value)
        if self.__dict__.get("module") is not None:  # (None also before __init__ ran)
            for p in self.module.parameters():
                p.requires_grad = bool(value) and getattr(p, "declared_trainable", True)
        for layer in self.sublayers():
            layer.trainable = value

    def __setattr__(self, name: str, value) -> None:
        object.__setattr__(self, name, value)
        if isinstance(value, Variable) and not type(self).__module__.startswith("tinymm.keras"):
            self._own_variable(name, value)
            return
        if isinstance(value, Module) and hasattr(value, "as_layer") and name != "module" and \
                not type(self).__module__.startswith("tinymm.keras"):
            self._track_model(name, value)  # a keras Model held by a custom layer
            return
        layers = [value] if isinstance(value, Layer) else [
            v for v in value if isinstance(v, Layer)] if isinstance(value, (list, tuple)) else []
        if layers and name != "_sublayers" and not type(self).__module__.startswith(
                "tinymm.keras"):
            used: dict[str, int] = {}
            for i, layer in enumerate(layers):
                key = name if isinstance(value, Layer) else f"{name}_{i}"
                self._track(key, layer)
                if not isinstance(value, Layer):  # Keras's h5 group: <list>/<class>[_k]
                    base = snake_case(type(layer).__name__)
                    used[base] = used.get(base, -1) + 1
                    self.__dict__.setdefault("_sublayer_paths", {})[key] = \
                        f"{name}/{base}" + (f"_{used[base]}" if used[base] else "")

    def _track(self, key: str, layer: Layer) -> None:
        """A layer held by a custom layer (Keras's sublayer tracking): its weights become
        this layer's (a child of this layer's module, once it has one)."""
        self.__dict__.setdefault("_sublayers", {})[key] = layer
        layer.__dict__.setdefault("_parents", []).append((self, key))
        if self.__dict__.get("module") is None:
            self.module = Module()
        self._adopt(key, layer)

    def _track_model(self, key: str, model) -> None:
        """A Model held by a custom layer (a feed-forward ``Sequential``): it is a Module, so
        it joins this layer's module as it is and its weights, built on its first call,
        train with the layer's."""
        self.__dict__.setdefault("_sublayers", {})[key] = model
        if self.__dict__.get("module") is None:
            self.module = Module()
        self.module.add_module(key, model)

    def _own_variable(self, name: str, variable: Variable) -> None:
        """A ``keras.Variable`` set as an attribute joins this layer's weights (once: one
        from ``add_weight`` is registered already)."""
        if self.__dict__.get("module") is None:
            self.module = Module()
        if all(p is not variable for p in self.module.parameters()):
            self.module.register_parameter(name, variable)

    def _adopt(self, key: str, layer: Layer) -> None:
        if self.module is None:
            self.module = Module()
        if layer.module is not None and key not in dict(self.module.named_children()):
            self.module.add_module(key, layer.module)

    def sublayers(self) -> list:
        """The layers this (custom) layer holds as attributes, in assignment order."""
        return list(self.__dict__.get("_sublayers", {}).values())

    def sublayer_paths(self) -> dict:
        """Sublayer key -> its group in Keras's weights file, where that differs from the
        key (a layer in a list attribute ``blocks`` is ``blocks/dense``, ``blocks/dense_1``)."""
        return dict(self.__dict__.get("_sublayer_paths", {}))

    def keras_build_config(self) -> dict:
        """The ``build_config`` Keras writes for this layer in a ``.keras`` config (the input
        shape ``build`` saw; None dims for the batch)."""
        return {"input_shape": shape_list(self.built_input_shape)}

    def keras_node_arguments(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """A recorded call's arguments as Keras's graph records them for this layer (the
        ``inbound_nodes`` of a ``.keras`` config); the same ones by default."""
        return args, kwargs

    # ------------------------------------------------------------ for subclasses
    def build_module(self, input_shape) -> Module | None:
        return None

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_mask(self, inputs, mask=None):
        return mask if self.supports_masking else None

    def call(self, inputs):
        raise NotImplementedError

    def get_config(self) -> dict:
        """name, trainable, the constraints and activity regularizer given; for a custom
        layer that does not define get_config, also its constructor's arguments when they
        are plain values (Keras's auto-generated config)."""
        from tinymm.keras import constraints

        config = {"name": self.name, "trainable": self.trainable}
        auto = self.__dict__.get("_auto_config")
        if auto is not None and type(self).get_config is Layer.get_config:
            config.update(auto)
        config.update({key: constraints.serialize(c) for key, c in
                       self.__dict__.get("constraints", {}).items()})
        if self.__dict__.get("activity_regularizer") is not None:
            from tinymm.keras import regularizers

            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config: dict):
        """A new layer from ``get_config()``'s dict (Keras's default: ``cls(**config)``)."""
        return cls(**config)

    # ------------------------------------------------------------ building
    def build(self, input_shape) -> None:
        """Keras's hook: create the weights for ``input_shape``. tinymm's layers implement
        ``build_module``; a custom layer overrides this and calls ``add_weight``."""
        if self.module is None:
            self.module = self.build_module(input_shape)

    def _maybe_build(self, input_shape) -> None:
        if self.built:
            return
        self.built_input_shape = input_shape
        self.build(input_shape)
        if self.module is not None:
            # Keras: a call outside fit is inference (Dropout passes through, BatchNormalization
            # uses its moving statistics); fit's model.train() switches the modules over
            self.module.eval()
            if self.dtype != np.float32:
                self.module.to(self.dtype)
            if not self.trainable:
                self.module.requires_grad_(False)
        self.built = True
        self._attach_constraints()
        for parent, key in self.__dict__.get("_parents", []):
            parent._adopt(key, self)

    def _attach_constraints(self) -> None:
        """Each ``*_constraint`` given projects its weight after every optimizer update."""
        from tinymm.keras import constraints

        given = self.__dict__.get("constraints", {})
        if any(c is not None for c in given.values()):
            for view, key in zip(self.keras_layout(), type(self).constraint_args):
                constraints.attach(view, given[key])

    def add_weight(self, name: str | None = None, shape=(), initializer="glorot_uniform",
                   trainable: bool = True, dtype=None, **unsupported) -> Tensor:
        """A new weight of this layer (Keras's ``add_weight``), in the layout ``shape``
        names, initialised by a ``keras.initializers`` name or object; it joins the layer's
        module, so the model's optimizer and state_dict see it. ``regularizer`` adds its
        penalty to the losses; ``constraint`` projects the weight after every update."""
        from tinymm.keras import constraints

        if self.module is None:
            self.module = Module()
        name = name or f"weight_{len(list(self.module.parameters()))}"
        regularizer = unsupported.pop("regularizer", None)
        constraint = constraints.get(unsupported.pop("constraint", None))
        weight = new_weight(f"layer '{self.name}'", shape, initializer, trainable,
                            dtype or self.dtype, unsupported)
        self.module.register_parameter(name, weight)
        self.regularize(weight, regularizer)
        constraints.attach(weight_view(weight), constraint)
        return weight

    def regularize(self, weight, regularizer) -> None:
        """Add ``regularizer(weight)`` (a ``keras.regularizers`` name, object or callable)
        to this layer's ``losses``, recomputed from the current weight at every access."""
        from tinymm.keras import regularizers

        found = regularizers.get(regularizer)
        if found is not None:
            self.__dict__.setdefault("_regularized", []).append((weight, found))

    def add_variable(self, shape, initializer="glorot_uniform", dtype=None,
                     trainable: bool = True, name: str | None = None, **unsupported) -> Tensor:
        """Keras 3's ``add_variable``: ``add_weight`` with ``shape`` first."""
        return self.add_weight(name, shape, initializer, trainable, dtype, **unsupported)

    @property
    def compute_dtype(self) -> str:
        """The dtype the layer computes in (its dtype: tinymm has no mixed precision)."""
        return str(self.dtype)

    @property
    def variable_dtype(self) -> str:
        return str(self.dtype)

    @property
    def weights(self) -> list:
        return [] if self.module is None else list(self.module.parameters())

    def add_loss(self, loss) -> None:
        """A loss term from inside ``call`` (an activity penalty): the model's ``losses``
        list it until this layer's next call, and training adds it to the loss."""
        self.__dict__.setdefault("_losses", []).append(loss)

    @property
    def losses(self) -> list:
        """The losses this layer and its sublayers added during their latest calls, then the
        penalties of their regularized weights (from the weights as they are now)."""
        penalties = [reg(w) for w, reg in self.__dict__.get("_regularized", [])]
        return list(self.__dict__.get("_losses", [])) + penalties + [
            loss for layer in self.sublayers() for loss in layer.losses]

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"layer '{self.name}' is not built yet: its weights are created "
                             "the first time it sees an input shape (call it, or give the model "
                             "an Input)")
        return 0 if self.module is None else self.module.num_parameters()

    def keras_layout(self) -> list:
        """One ``(get, set)`` pair per weight, in Keras's order and layout: ``get()`` returns
        the Keras array (a Dense kernel is W^T), ``set(array)`` writes one back into the nn
        module's PyTorch-layout parameters. The default: the module's parameters as they
        are, a custom layer's own weights first and then its sublayers' in their layouts;
        layers whose layout differs override it (see ``weight_view``)."""
        subs = self.sublayers()
        if not subs:
            return [weight_view(p) for p in self.weights]
        inner = {id(p) for layer in subs for p in layer.weights}  # each in its own layout
        own = [weight_view(p) for p in self.weights if id(p) not in inner]
        return own + [view for layer in subs for view in layer.keras_layout()]

    def get_weights(self) -> list[np.ndarray]:
        """The weights as Keras lays them out (Dense kernel (D, U), Conv2D (kH, kW, C, F))."""
        return [np.array(get(), copy=True) for get, _ in self.keras_layout()]

    def set_weights(self, arrays) -> None:
        layout = self.keras_layout()
        if len(arrays) != len(layout):
            raise ValueError(f"layer '{self.name}': set_weights got {len(arrays)} arrays, the "
                             f"layer has {len(layout)} weights")
        for (get, put), a in zip(layout, arrays):
            a = np.asarray(a)
            want = get().shape
            if a.shape != want:
                raise ValueError(f"layer '{self.name}': weight of shape {want} cannot take "
                                 f"an array of shape {a.shape}")
            put(a)

    @property
    def input(self):
        """The KerasTensor(s) of this layer's graph call (Keras's ``layer.input``; the latest
        call, so a Sequential rebuilt by ``add``/``pop`` reports its current graph)."""
        node = self._first_node("input")
        ins = node.inputs
        return ins[0] if len(ins) == 1 else ins

    @property
    def output(self):
        """The KerasTensor(s) of this layer's (latest) graph call (Keras's ``layer.output``)."""
        node = self._first_node("output")
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    def _first_node(self, what: str):
        if not self.inbound_nodes:
            raise AttributeError(f"layer '{self.name}' has never been called on a symbolic "
                                 f"input, so it has no {what}")
        return self.inbound_nodes[-1]

    # ------------------------------------------------------------ calling
    def __call__(self, *args, **kwargs):
        try:
            return self._call(args, kwargs)
        except (ValueError, TypeError) as err:
            named = self._named(err)
            if named is err:
                raise
            raise named from err

    def _named(self, err: Exception) -> Exception:
        """``err`` with this layer's class and name in front when its message (from an op or
        a module below) names neither, as Keras names the layer a call failed in."""
        message = str(err)
        if self.name in message or type(self).__name__ in message:
            return err
        try:
            return type(err)(f"{type(self).__name__} '{self.name}': {message}")
        except Exception:  # noqa: BLE001 - an exception type with another signature
            return err

    def _call(self, args, kwargs):
        leaves = flatten_structure((args, kwargs))
        tensors = [t for t in leaves if isinstance(t, (KerasTensor, Tensor, np.ndarray))]
        if not tensors:
            raise TypeError(f"layer '{self.name}' ({type(self).__name__}) was called without a "
                            "tensor")
        first = args[0] if args else next(iter(kwargs.values()))
        input_shape = map_structure(_shape_of, first)
        if isinstance(input_shape, tuple) and input_shape and isinstance(input_shape[0], tuple):
            input_shape = list(input_shape)
        if any(isinstance(t, KerasTensor) for t in tensors):
            if not all(isinstance(t, KerasTensor) for t in tensors):
                raise TypeError(f"layer '{self.name}': mix of symbolic KerasTensors and real "
                                "data in one call; wrap constants in an Input")
            return self._call_symbolic(args, kwargs, input_shape)
        return self._call_eager(args, kwargs, input_shape)

    def _call_symbolic(self, args, kwargs, input_shape):
        self._check_input_shape(input_shape)
        if self._shape_from_call():
            self._maybe_build(input_shape)
            output_shape = self._run_for_shape(args, kwargs)
        else:
            output_shape = self.compute_output_shape(input_shape)  # the clear shape errors
            self._maybe_build(input_shape)
        has_mask = self._symbolic_mask(args)
        node = Node(self, args, kwargs, [])
        if isinstance(output_shape, list):
            outs = [KerasTensor(s, self._out_dtype(), self, node, i) for i, s in
                    enumerate(output_shape)]
        else:
            outs = [KerasTensor(output_shape, self._out_dtype(), self, node, 0, has_mask)]
        node.outputs = outs
        self.inbound_nodes.append(node)
        return outs if isinstance(output_shape, list) else outs[0]

    shape_from_call: bool | None = None  # None: True for custom layers without
    # compute_output_shape (their output shape comes from running call on a dummy batch)

    def _shape_from_call(self) -> bool:
        if self.shape_from_call is not None:
            return self.shape_from_call
        cls = type(self)
        return (cls.compute_output_shape is Layer.compute_output_shape
                and not cls.__module__.startswith("tinymm.keras"))

    def _run_for_shape(self, args, kwargs):
        """The output shape(s) of ``call`` on a zero batch of one sample (unknown non-batch
        dimensions taken as 1), batch dimension None."""
        from tinymm.autograd import no_grad

        def dummy(t):
            if not isinstance(t, KerasTensor):
                return t
            shape = tuple(1 if d is None else d for d in t.shape)
            return from_numpy(np.zeros(shape, dtype=t.dtype))

        with no_grad():
            out = self.call(*map_structure(dummy, args), **map_structure(dummy, kwargs))
        if isinstance(out, (list, tuple)):
            return [(None,) + tuple(o.shape[1:]) for o in out]
        return (None,) + tuple(out.shape[1:])

    def _out_dtype(self):
        return self.dtype

    def _symbolic_mask(self, args) -> bool:
        first = args[0] if args else None
        return bool(self.supports_masking and isinstance(first, KerasTensor) and first.has_mask)

    def _check_input_shape(self, input_shape) -> None:
        """The axes the weights were sized from (``checked_axes``) must not change."""
        built = self.built_input_shape
        if built is None or self.module is None or not self.checked_axes:
            return
        if isinstance(built, list) != isinstance(input_shape, list):
            return
        pairs = zip(built, input_shape) if isinstance(built, list) else [(built, input_shape)]
        for want, got in pairs:
            if len(want) != len(got) or any(want[a] is not None and got[a] is not None
                                            and want[a] != got[a] for a in self.checked_axes):
                raise ValueError(f"layer '{self.name}' ({type(self).__name__}) was built for "
                                 f"input shape {fmt_shape(want)} but got {fmt_shape(got)}")

    def _call_eager(self, args, kwargs, input_shape):
        if not self.built:
            if not self._shape_from_call():
                self.compute_output_shape(input_shape)  # validates before any weight exists
            self._maybe_build(input_shape)
        else:
            self._check_input_shape(input_shape)
        args = map_structure(self._convert_input, args)
        kwargs = map_structure(self._convert_input, kwargs)
        first = args[0] if args else None
        mask = getattr(first, "_keras_mask", None) if isinstance(first, Tensor) else None
        if "mask" in self._call_params and "mask" not in kwargs:
            kwargs = {**kwargs, "mask": mask}
        self.__dict__["_losses"] = []  # losses are per call, as in Keras
        out = self.call(*args, **kwargs)
        regularizer = self.__dict__.get("activity_regularizer")
        for o in flatten_structure(out) if regularizer is not None else []:
            if isinstance(o, Tensor):
                penalty = regularizer(o)
                self.add_loss(penalty / o.shape[0] if o.ndim and o.shape[0] else
                              penalty * 0 if o.ndim else penalty)
        if isinstance(out, Tensor):
            out_mask = self.compute_mask(first, mask)
            if out_mask is not None:
                out._keras_mask = out_mask
        return as_eager(out)

    def _convert_input(self, value):
        """A NumPy array as a Tensor; a floating-point array or Tensor cast to this layer's
        dtype when ``autocast`` is on and the layer's dtype is floating (Keras's rule)."""
        if isinstance(value, np.ndarray):
            value = from_numpy(value)
        if (isinstance(value, Tensor) and self.autocast and self.dtype.kind == "f"
                and value.dtype.kind == "f" and value.dtype != self.dtype):
            value = value.astype(self.dtype)
        return value

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


class InputLayer(Layer):
    def __init__(self, shape, dtype="float32", name=None, sparse=None):
        super().__init__(name=name or unique_name("input_layer"), dtype=dtype)
        self.shape = (None,) + tuple(shape)
        self.built = True
        self.built_input_shape = self.shape
        self._own_output = KerasTensor(self.shape, dtype, self, None, 0, name=self.name)

    @property
    def output(self):
        return self._own_output

    @property
    def input(self):
        return self._own_output

    def get_config(self) -> dict:
        return {"name": self.name, "shape": list(self.shape[1:]), "dtype": str(self.dtype)}


class OpLayer(Layer):
    """A function of tensors recorded in a functional graph: what a ``keras.ops`` function or
    an operator (``x * 2``, ``a + b``) makes when it meets a KerasTensor, as in Keras 3. It
    holds no weights; its output shape comes from running the function on a dummy batch.
    ``apply(fn, *args, **kwargs)`` returns the result directly when no argument is symbolic.
    """

    shape_from_call = True

    def __init__(self, fn, args: tuple, kwargs: dict):
        super().__init__(name=unique_name(getattr(fn, "__name__", "op").strip("_")))
        self.fn, self.template = fn, (args, kwargs)

    @classmethod
    def apply(cls, fn, *args, **kwargs):
        tensors = [t for t in flatten_structure((args, kwargs)) if isinstance(t, KerasTensor)]
        if not tensors:
            return fn(*args, **kwargs)
        return cls(fn, args, kwargs)(tensors)

    def call(self, tensors):
        values = iter(tensors)
        args, kwargs = map_structure(
            lambda t: next(values) if isinstance(t, KerasTensor) else t, self.template)
        return self.fn(*args, **kwargs)

    def get_config(self) -> dict:
        raise NotImplementedError(f"layer '{self.name}': a model with keras.ops or operators "
                                  "on symbolic tensors cannot be saved by tinymm.keras; "
                                  "use save_weights, or Lambda/merge layers")


def Input(shape=None, batch_size=None, name=None, dtype="float32", **kwargs):  # noqa: N802
    """A symbolic model input; ``shape`` excludes the batch dimension (images are
    channels-last, (H, W, C), as in Keras)."""
    if kwargs:
        raise TypeError(f"Input: unexpected keyword argument(s) {sorted(kwargs)}")
    if shape is None:
        raise ValueError("Input: give shape=(...) without the batch dimension, e.g. "
                         "Input(shape=(32, 32, 3)) for 32x32 RGB images")
    if isinstance(shape, int):
        shape = (shape,)
    shape = tuple(shape)
    if any(s is not None and (not isinstance(s, (int, np.integer)) or s <= 0) for s in shape):
        raise ValueError(f"Input: every dimension must be a positive int or None, got {shape}")
    return InputLayer(shape, dtype=dtype, name=name).output


# ---------------------------------------------------------------- graph walk
def topological_nodes(outputs: list[KerasTensor]) -> list[Node]:
    """Nodes reachable from ``outputs``, each after the nodes producing its inputs."""
    order: list[Node] = []
    seen: set[int] = set()
    stack = [(t, False) for t in reversed(outputs)]
    while stack:  # iterative depth-first search, no recursion limit
        tensor, expanded = stack.pop()
        node = tensor.node
        if node is None or id(node) in seen and not expanded:
            continue
        if expanded:
            if id(node) not in seen:
                seen.add(id(node))
                order.append(node)
            continue
        stack.append((tensor, True))
        for t in reversed(node.inputs):
            if t.node is not None and id(t.node) not in seen:
                stack.append((t, False))
    return order


def keras_layer_order(outputs: list[KerasTensor], nodes: list[Node]) -> list:
    """The layers of a graph in the order Keras lists them (``model.layers``, summary,
    ``get_weights``): by depth, farthest from the outputs first (a node's depth is one more
    than its deepest consumer's; outputs have depth 0), ties in the order a depth-first walk
    from the outputs first meets them. ``nodes`` are in topological order."""
    index: dict[int, int] = {}
    stack = list(reversed(outputs))
    while stack:  # pre-order walk, first input first
        t = stack.pop()
        if id(t.layer) not in index:
            index[id(t.layer)] = len(index)
        if t.node is not None:
            stack.extend(reversed(t.node.inputs))
    depth: dict[int, int] = {}  # node or input layer id -> depth
    layer_depth: dict[int, int] = {}
    for node in reversed(nodes):  # outputs first
        d = max(depth.get(id(node), 0), layer_depth.get(id(node.layer), 0))
        depth[id(node)] = layer_depth[id(node.layer)] = d
        for t in node.inputs:
            key = id(t.node) if t.node is not None else id(t.layer)
            depth[key] = max(depth.get(key, 0), d + 1)
            if t.node is None:
                layer_depth[id(t.layer)] = depth[key]
    layers = {id(n.layer): n.layer for n in nodes}
    layers.update({id(t.layer): t.layer for n in nodes for t in n.inputs if t.node is None})
    layers.update({id(t.layer): t.layer for t in outputs})
    return sorted(layers.values(), key=lambda la: (-layer_depth.get(id(la), 0),
                                                   index.get(id(la), 0)))


def as_list(x) -> list:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


__all__ = ["Input", "InputLayer", "KerasTensor", "Layer", "Node", "Variable", "clear_session",
           "fmt_shape", "unique_name"]

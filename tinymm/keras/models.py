"""``Model`` (functional) and ``Sequential``: the graph, calling, introspection and
``summary()``. Training (``compile``/``fit``/``evaluate``/``predict``) is in training.py,
saving (``save``/``load_model``) in saving.py; both are mixed into ``Model`` here.

Dimension letters: N samples.
"""

from __future__ import annotations

import textwrap

import numpy as np

from tinymm.keras import subclassed
from tinymm.keras.engine import (
    InputLayer,
    KerasTensor,
    Layer,
    WeightViews,
    as_eager,
    as_list,
    flatten_structure,
    fmt_shape,
    is_text,
    keras_layer_order,
    map_structure,
    new_weight,
    snake_case,
    topological_nodes,
    unique_name,
)
from tinymm.keras.saving import SavingMixin
from tinymm.keras.steps import StepsMixin
from tinymm.keras.training import NonFiniteLossError, TrainingMixin
from tinymm.nn.module import Module
from tinymm.tensor import Tensor, as_tensor, to_arguments


def _to_numpy(x):
    return x.array if isinstance(x, Tensor) else np.asarray(x)


class Model(WeightViews, TrainingMixin, StepsMixin, SavingMixin, Module):
    """The functional model: ``Model(inputs=[a, b], outputs=y)``, an ``nn.Module`` whose
    children are its layers' modules (keys ``<layer name>.<parameter>``)."""

    def __new__(cls, *args, **kwargs):
        instance = super().__new__(cls)
        if not cls.__module__.startswith("tinymm.keras"):  # a user's subclass: Keras's
            instance.__dict__["_auto_config"] = subclassed.auto_config(cls, args, kwargs)
        return instance

    def __init__(self, inputs=None, outputs=None, name: str | None = None,
                 trainable: bool = True, dtype=None, **unknown):
        super().__init__()
        if unknown:
            raise TypeError(f"Model: unexpected keyword argument(s) {sorted(unknown)}")
        # a subclass without a graph: built from its call() on the first data, or one with
        # only its own train_step (a GAN over two models held as attributes)
        subclassed = inputs is None and outputs is None and type(self) is not Model
        self.name = name or unique_name(snake_case(type(self).__name__) if subclassed
                                        else "functional")
        self.compiled = False
        self.stop_training = False
        self.history = None
        self.optimizer = None
        self.built = False
        self._subclassed = subclassed
        if dtype is not None and np.dtype(dtype) != np.float32:
            raise ValueError(f"Model '{self.name}': dtype={dtype!r} is not supported by "
                             "tinymm.keras's Model (its weights are float32; call "
                             "model.to(dtype) once it is built)")
        if not trainable:
            self.__dict__["_trainable"] = False
        if subclassed:
            return  # built on the first data it sees (see _trace_call)
        if inputs is None or outputs is None:
            raise TypeError("Model: give inputs=... and outputs=... (KerasTensors from Input "
                            "and from calling layers), subclass it with a call() method, or "
                            "use Sequential for a stack of layers")
        self._init_graph(inputs, outputs)

    def _trace_call(self, x) -> None:
        """A subclassed model (``class M(keras.Model)`` with layers as attributes and a
        ``call``): record its graph by running ``call`` once on symbolic Inputs shaped like
        ``x``; from then on it is a functional model of those layers."""
        from tinymm.keras.engine import Input

        if not hasattr(type(self), "call"):
            raise TypeError(f"Model '{self.name}' has no call() method, so it cannot be "
                            "called on data (it has no graph to run)")
        arrays = list(x) if isinstance(x, (list, tuple)) else [x]
        shapes = [list(_to_numpy(a).shape) for a in arrays]
        self.__dict__["_build_input_shape"] = shapes if isinstance(x, (list, tuple)) else \
            shapes[0]
        inputs = [Input(shape=_to_numpy(a).shape[1:], dtype="int64" if _to_numpy(a).dtype.kind
                        in "iu" else "float32") for a in arrays]
        try:
            outputs = self.call(inputs if isinstance(x, (list, tuple)) else inputs[0])
        except TypeError as exc:
            raise TypeError(f"Model '{self.name}': tinymm.keras builds a subclassed model by "
                            "calling call() on symbolic inputs, so call() must combine "
                            "tensors with Keras layers, keras.ops and operators (no NumPy or "
                            f".numpy() on them): {exc}") from exc
        self._init_graph(inputs if isinstance(x, (list, tuple)) else inputs[0], outputs)
        if not self.trainable:
            self.trainable = False

    def __setattr__(self, name: str, value) -> None:
        super().__setattr__(name, value)
        if self.__dict__.get("_subclassed", True):  # (also before __init__ has set it)
            subclassed.record_attribute(self, name, value)

    # ------------------------------------------------------------ graph
    def _init_graph(self, inputs, outputs) -> None:
        self._output_keys = sorted(outputs) if isinstance(outputs, dict) else None
        if self._output_keys is not None:  # Keras 3: outputs={"name": tensor}, keys sorted
            outputs = [outputs[k] for k in self._output_keys]  # as Keras flattens a dict
        self._single_input = not isinstance(inputs, (list, tuple))
        self._single_output = not isinstance(outputs, (list, tuple))
        self.inputs, self.outputs = as_list(inputs), as_list(outputs)
        for i, t in enumerate(self.inputs):
            if not (isinstance(t, KerasTensor) and isinstance(t.layer, InputLayer)):
                raise TypeError(f"Model '{self.name}': inputs[{i}] must come from "
                                f"keras.Input(shape=...), got {t!r}")
        for i, t in enumerate(self.outputs):
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model '{self.name}': outputs[{i}] must be a KerasTensor "
                                f"(the result of calling a layer), got {type(t).__name__}")
        self._nodes = topological_nodes(self.outputs + self.__dict__.get("_symbolic_losses", []))
        given = {id(t) for t in self.inputs}
        for node in self._nodes:
            for t in node.inputs:
                if t.node is None and id(t) not in given:
                    raise ValueError(f"Model '{self.name}': layer '{node.layer.name}' needs the "
                                     f"input '{t.layer.name}' {fmt_shape(t.shape)}, which is not "
                                     "in inputs=[...]; add it (the graph is disconnected)")
        layers = keras_layer_order(self.outputs, self._nodes)
        layers += [t.layer for t in self.inputs if t.layer not in layers]  # unused inputs
        names = [layer.name for layer in layers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Model '{self.name}': layer names must be unique, repeated: "
                             f"{duplicates}")
        self._graph_layers = layers
        for layer in layers:
            if layer.module is not None and layer.name not in self._modules:
                self.add_module(layer.name, layer.module)
        self.built = True

    @property
    def trainable(self) -> bool:
        return self.__dict__.get("_trainable", True)

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Keras: freezing a model freezes every layer (nested models too) and its own
        weights; recompile after changing it, as Keras asks."""
        object.__setattr__(self, "_trainable", bool(value))
        for layer in self.layers:
            layer.trainable = value
        own = self.parameters() if not self.layers else self._parameters.values()
        for p in own:
            if p is not None:
                p.requires_grad = bool(value) and getattr(p, "declared_trainable", True)

    @property
    def layers(self) -> list[Layer]:
        """The graph's layers in order (a functional model lists its InputLayers); a traced
        subclassed model's are, as in Keras, the layers its attributes hold, in assignment
        order (a held model as the layer its graph calls)."""
        graph = list(getattr(self, "_graph_layers", []))
        if not (getattr(self, "_subclassed", False) and graph):
            return graph
        wrapped = {id(getattr(layer, "model", layer)): layer for layer in graph}
        tracked = [wrapped.get(id(layer), layer) for layer in subclassed.tracked_layers(self)]
        return tracked or [layer for layer in graph if not isinstance(layer, InputLayer)]

    def to(self, *args, dtype=None, device=None, non_blocking: bool = False) -> Model:
        """``Module.to``; a floating dtype also becomes the floating Inputs' and every layer's
        dtype (nested models' too), so inputs are cast to the weights' new dtype."""
        super().to(*args, dtype=dtype, device=device, non_blocking=non_blocking)
        dtype = to_arguments(args, dtype, None)[0]
        if dtype is not None and np.dtype(dtype).kind == "f":
            for t in getattr(self, "inputs", []):
                if t.dtype.kind == "f":
                    t.dtype = np.dtype(dtype)
            for layer in self.layers:
                if layer.dtype.kind == "f":
                    layer.dtype = np.dtype(dtype)
                if isinstance(layer, ModelLayer):
                    layer.model.to(dtype)
        return self

    def add_weight(self, name: str | None = None, shape=(), initializer="glorot_uniform",
                   trainable: bool = True, dtype=None, **unsupported) -> Tensor:
        """A weight of the model itself (Keras's ``Model.add_weight``, e.g. in a subclass's
        ``build``): registered on the model, so ``weights`` and the optimizer see it."""
        weight = new_weight(f"model '{self.name}'", shape, initializer, trainable,
                            dtype or self.dtype, unsupported)
        self.register_parameter(name or f"weight_{len(self._parameters)}", weight)
        return weight

    def add_variable(self, shape, initializer="glorot_uniform", dtype=None,
                     trainable: bool = True, name: str | None = None, **unsupported) -> Tensor:
        return self.add_weight(name, shape, initializer, trainable, dtype, **unsupported)

    @property
    def dtype(self) -> str:
        """The floating dtype of the model's weights (float32 before it has any)."""
        floats = [p.dtype for p in self.parameters() if np.dtype(p.dtype).kind == "f"]
        return str(np.dtype(floats[0])) if floats else "float32"

    compute_dtype = dtype

    @property
    def weights(self) -> list:
        """The model's own ``add_weight`` weights, then every weight of every layer (Tensors
        in tinymm's layout), in layer order, as Keras; for a model without a graph, the
        parameters of the models and modules it holds."""
        if not self.layers:
            return list(self.parameters())
        own = [p for p in self._parameters.values() if p is not None]
        return own + [w for layer in self.layers for w in layer.weights]

    @property
    def input(self):
        """The model's input KerasTensor (a list for several inputs)."""
        self._require_graph("input")
        return self.inputs[0] if self._single_input else list(self.inputs)

    @property
    def output(self):
        """The model's output KerasTensor (a list for several outputs)."""
        self._require_graph("output")
        return self.outputs[0] if self._single_output else list(self.outputs)

    def _require_graph(self, what: str) -> None:
        if not self.built or not hasattr(self, "_nodes"):
            raise AttributeError(f"Model '{self.name}' has no {what} yet: it is built on the "
                                 "first data it sees (or call model.build(input_shape))")

    def build(self, input_shape) -> None:
        """Build a subclassed model for ``input_shape`` (batch dimension first, as Keras
        takes it; a list of shapes for several inputs): its ``call`` is traced on Inputs."""
        if self.built:
            return
        if not getattr(self, "_subclassed", False) or not hasattr(type(self), "call"):
            raise ValueError(f"Model '{self.name}': build(input_shape) is for subclassed "
                             "models with a call() method")
        several = isinstance(input_shape, list) and input_shape and \
            isinstance(input_shape[0], (list, tuple))
        shapes = input_shape if several else [input_shape]
        dummies = [np.zeros([1 if d is None else d for d in shape], np.float32)
                   for shape in shapes]
        self._trace_call(dummies if several else dummies[0])
        self.__dict__["_build_input_shape"] = [list(shape) for shape in shapes] if several \
            else list(input_shape)

    def keras_layout(self) -> list:
        """The ``(get, set)`` weight views (``Layer.keras_layout``) of the model's own weights
        (trainable first), then of every layer's, in order."""
        return subclassed.own_views(self) + [view for layer in self.layers
                                              for view in layer.keras_layout()]

    def get_weights(self) -> list[np.ndarray]:
        """The model's own weights, then every layer's ``get_weights()`` (Keras's layouts)."""
        return [np.array(get(), copy=True) for get, _ in subclassed.own_views(self)] + [
            a for layer in self.layers for a in layer.get_weights()]

    def set_weights(self, arrays) -> None:
        arrays = list(arrays)
        own = subclassed.own_views(self)
        if len(arrays) < len(own):
            raise ValueError(f"Model '{self.name}': set_weights got {len(arrays)} arrays, the "
                             f"model has {len(own)} weights of its own before its layers'")
        for (get, put), array in zip(own, arrays):
            if np.shape(array) != get().shape:
                raise ValueError(f"Model '{self.name}': its weight of shape {get().shape} "
                                 f"cannot take an array of shape {np.shape(array)}")
            put(np.asarray(array))
        arrays = arrays[len(own):]
        for layer in self.layers:
            k = len(layer.keras_layout())
            layer.set_weights(arrays[:k])
            arrays = arrays[k:]
        if arrays:
            raise ValueError(f"Model '{self.name}': set_weights got {len(arrays)} arrays more "
                             "than the model has weights")

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"Model '{self.name}': no layer named {name!r}; layers: "
                         f"{[layer.name for layer in self.layers]}")

    # ------------------------------------------------------------ calling
    def _prepare_inputs(self, x, who: str, keep_tensors: bool = False) -> list:
        """Check count, shapes and sample counts; cast floats to the Inputs' dtype. Tensors
        stay Tensors (so gradients reach them) when ``keep_tensors``."""
        if getattr(self, "_subclassed", False) and not self.built:
            self._trace_call(x)
        if isinstance(x, dict):
            missing = [t.layer.name for t in self.inputs if t.layer.name not in x]
            if missing:
                raise ValueError(f"{who}: the input dict lacks {missing}; keys must be the "
                                 f"Input names {[t.layer.name for t in self.inputs]}")
            xs = [x[t.layer.name] for t in self.inputs]
        else:
            xs = list(x) if isinstance(x, (list, tuple)) else [x]
        if len(xs) != len(self.inputs):
            expected = ", ".join(f"'{t.layer.name}' {fmt_shape(t.shape)}" for t in self.inputs)
            raise ValueError(f"{who}: model '{self.name}' expects {len(self.inputs)} input(s) "
                             f"({expected}), got {len(xs)}. Pass a list in that order.")
        arrays = []
        for t, value in zip(self.inputs, xs):
            a = value if isinstance(value, Tensor) and keep_tensors else _to_numpy(value)
            want = t.shape
            if a.ndim != len(want) or any(w is not None and w != g for w, g in
                                          zip(want[1:], a.shape[1:])):
                raise ValueError(f"{who}: input '{t.layer.name}' of model '{self.name}' expects "
                                 f"shape {fmt_shape(want)}, got an array of shape {a.shape}"
                                 + (" (images are channels-last: (N, H, W, C))"
                                    if len(want) == 4 else ""))
            if t.dtype.kind == "f" and a.dtype != t.dtype:
                a = a.astype(t.dtype)
            arrays.append(a)
        sizes = {a.shape[0] for a in arrays}
        if len(sizes) > 1:
            raise ValueError(f"{who}: the inputs hold different numbers of samples "
                             f"{[a.shape[0] for a in arrays]}")
        return arrays

    def _run_graph(self, xs: list, logits: list[bool] | None = None) -> tuple[list, list]:
        """Run the nodes in order on ``xs``; -> (outputs, logits), where ``logits[i]`` is
        output i's pre-activation when ``logits[i]`` was asked for (else None)."""
        values = {id(t): v if is_text(v) else as_tensor(v) for t, v in zip(self.inputs, xs)}
        want = {id(t.node) for t, w in zip(self.outputs, logits or []) if w}
        pre = {}
        for node in self._nodes:
            args = map_structure(lambda t: values[id(t)] if isinstance(t, KerasTensor) else t,
                                 node.args)
            kwargs = map_structure(lambda t: values[id(t)] if isinstance(t, KerasTensor) else t,
                                   node.kwargs)
            if id(node) in want:  # the output's layer in two halves: logits, activation
                pre[id(node)] = node.layer.call_logits(*args, **kwargs)
                out = node.layer.activation(pre[id(node)])
            else:
                out = Layer.__call__(node.layer, *args, **kwargs)  # as recorded
            for t, v in zip(node.outputs, as_list(out) if len(node.outputs) > 1 else [out]):
                values[id(t)] = v
        self.__dict__["_graph_losses"] = [values[id(t)] for t in
                                          self.__dict__.get("_symbolic_losses", [])]
        return ([values[id(t)] for t in self.outputs],
                [pre.get(id(t.node)) if w else None
                 for t, w in zip(self.outputs, logits or [False] * len(self.outputs))])

    def forward(self, x, training: bool | None = None):
        if any(isinstance(t, KerasTensor) for t in flatten_structure(x)):
            # a model used as a layer of another model. training= there is not recorded:
            # Keras 3 passes fit's training=True to every layer over it (keras-team/keras
            # #20285), and outside fit tinymm's layers run in inference mode anyway
            return self.as_layer()(x)
        xs = self._prepare_inputs(x, "Model call", keep_tensors=True)
        previous = self.training
        if training is not None:
            self.train(training)
        try:
            outs, _ = self._run_graph(list(xs))
        finally:
            if training is not None:
                self.train(previous)
        return as_eager(self._structure_outputs(outs))

    def _structure_outputs(self, outs: list):
        """The outputs as the model was built: one, a list, or a dict by name."""
        if getattr(self, "_output_keys", None) is not None:
            return dict(zip(self._output_keys, outs))
        return outs[0] if self._single_output else outs

    def __call__(self, x, training: bool | None = None):
        return self.forward(x, training=training)

    def as_layer(self) -> ModelLayer:
        """This model as one layer of another model (Keras's nesting: ``outer = Model(inp,
        inner(inp))`` or ``Sequential([inner, Dense(1)])``); the same layer every time, so
        the weights are shared."""
        if not self.built:
            raise ValueError(f"Model '{self.name}': build it (give it an Input) before using "
                             "it as a layer of another model")
        if getattr(self, "_as_layer", None) is None:
            object.__setattr__(self, "_as_layer", ModelLayer(self))
        return self._as_layer

    # ------------------------------------------------------------ description
    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, line_length: int | None = None, print_fn=None,
                show_trainable: bool = False, **unsupported) -> None:
        """Keras's summary table; ``show_trainable`` adds the Trainable column (Y, N, or -
        for a layer without weights)."""
        for key, value in unsupported.items():
            if value not in (None, False):
                raise ValueError(f"summary: {key}={value!r} is not supported by tinymm.keras")
        if not self.built:
            raise ValueError(f"Model '{self.name}': the model is not built yet, so its shapes "
                             "and parameter counts are unknown; call it on data first")
        print_fn = print_fn or print
        functional = not isinstance(self, Sequential)
        widths = [33, 26, 11, 28] if functional else [33, 26, 11]
        headers = ["Layer (type)", "Output Shape", "Param #", "Connected to"][:len(widths)]
        if show_trainable:
            widths, headers = widths + [11], headers + ["Trainable"]
        total = sum(widths) if line_length is None else line_length
        print_fn(f'Model: "{self.name}"')
        print_fn("_" * total)
        print_fn(_table_row(headers, widths))
        print_fn("=" * total)
        for layer in self.layers:
            cells, sources = self._summary_cells(layer, functional, show_trainable)
            print_fn(_table_row(cells, widths))
            for extra in sources[1:]:
                print_fn(_table_row(["", "", "", extra], widths))
        print_fn("=" * total)
        trainable = self.num_parameters(trainable_only=True)
        everything = sum(layer.count_params() for layer in self.layers)  # + BN moving stats
        print_fn(f"Total params: {everything:,} ({_bytes(self)})")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {everything - trainable:,}")
        print_fn("_" * total)

    def _summary_cells(self, layer, functional: bool, show_trainable: bool):
        """One summary row's cells, and the layer's inputs (the extra ones get rows)."""
        outs = self._output_tensors(layer)
        shape = fmt_shape(outs[0].shape) if len(outs) == 1 else \
            fmt_shape([t.shape for t in outs])
        kind = type(layer.model if isinstance(layer, ModelLayer) else layer).__name__
        cells = [f"{layer.name} ({kind})", shape, f"{layer.count_params():,}"]
        sources = []
        if functional:
            node = self._node_of(layer)
            sources = [] if node is None else [
                f"{t.layer.name}[0][{t.index}]" for t in node.inputs]
            cells.append(sources[0] if sources else "[]")
        if show_trainable:
            cells.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        return cells, sources

    def _node_of(self, layer):
        for node in self._nodes:
            if node.layer is layer:
                return node
        return None

    def _output_tensors(self, layer) -> list[KerasTensor]:
        if isinstance(layer, InputLayer):
            return [layer.output]
        node = self._node_of(layer)
        return node.outputs

def _table_row(cells, widths) -> str:
    """Cells padded to their column widths; a cell wider than its column wraps at spaces
    onto continuation lines, as Keras's table wraps "conv2d_transpose (Conv2DTranspose)"."""
    wrapped = [textwrap.wrap(str(cell), max(w - 1, 1)) or [""] for cell, w in zip(cells, widths)]
    lines = []
    for i in range(max(len(parts) for parts in wrapped)):
        lines.append("".join((" " + (parts[i] if i < len(parts) else "")).ljust(w)
                             for parts, w in zip(wrapped, widths)).rstrip())
    return "\n".join(lines)


def _bytes(model) -> str:
    size = sum(p.array.nbytes for p in model.parameters())
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}" if unit != "B" else f"{size} B"
        size /= 1024
    return ""


class ModelLayer(Layer):
    """A built Model inside another model: its output shapes are the model's, its module is
    the model itself (so the outer state_dict has keys ``<model>.<layer>.<weight>``), and
    calling it runs the inner graph."""

    checked_axes = ()  # the inner model checks its own inputs

    def __init__(self, model: Model):
        single = len(model.inputs) == 1
        super().__init__(name=model.name, input_shape=model.inputs[0].shape[1:] if single
                         else None)
        self.model = model

    def compute_output_shape(self, input_shape):
        shapes = [t.shape for t in self.model.outputs]
        return shapes[0] if self.model._single_output else shapes

    def build_module(self, input_shape):
        return self.model

    @property
    def trainable(self) -> bool:
        return self.model.trainable if "model" in self.__dict__ else True

    @trainable.setter
    def trainable(self, value: bool) -> None:
        if "model" in self.__dict__:
            self.model.trainable = value

    @property
    def weights(self) -> list:
        return self.model.weights

    def count_params(self) -> int:
        return self.model.count_params()

    def call(self, x):
        return self.model.forward(x)

    def keras_layout(self) -> list:
        return self.model.keras_layout()


class Sequential(Model):
    """A stack of layers; builds its graph as soon as the input shape is known (an
    ``Input``/``input_shape=`` on the first layer, or the first data it sees)."""

    def __init__(self, layers=None, name: str | None = None):
        Module.__init__(self)
        self.name = name or unique_name("sequential")
        self.compiled = False
        self.stop_training = False
        self.history = None
        self.optimizer = None
        self.built = False
        self._stack: list[Layer] = []
        self._input = None
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list[Layer]:
        """The added layers, as Keras lists them (never the InputLayer)."""
        return list(self._stack)

    def pop(self) -> Layer:
        """Remove the last layer (Keras's ``Sequential.pop``); the model is rebuilt."""
        if not self._stack:
            raise TypeError(f"Sequential '{self.name}': there are no layers to pop")
        layer = self._stack.pop()
        self._modules.pop(layer.name, None)
        if self._stack and self._input is not None:
            self._build_graph(self._input)
        else:
            self.built, self._graph_layers = False, []
        return layer

    def add(self, layer) -> None:
        if isinstance(layer, KerasTensor) and isinstance(layer.layer, InputLayer):
            self._input = layer
        elif isinstance(layer, InputLayer):
            self._input = layer.output
        elif isinstance(layer, (Layer, Model)):
            layer = layer.as_layer() if isinstance(layer, Model) else layer
            if self._input is None and not self._stack and layer.input_shape_hint is not None:
                from tinymm.keras.engine import Input
                self._input = Input(shape=layer.input_shape_hint)
            self._stack.append(layer)
        else:
            raise TypeError(f"Sequential.add: expected a Keras layer or Input, got "
                            f"{type(layer).__name__}")
        if self._input is not None and self._stack:
            self._build_graph(self._input)

    def _build_graph(self, inputs) -> None:
        x = inputs
        for layer in self._stack:
            x = layer(x)
        self._init_graph(inputs, x)

    def build(self, input_shape) -> None:
        from tinymm.keras.engine import Input
        self._input = Input(shape=tuple(input_shape)[1:])
        self._build_graph(self._input)

    def _lazy_build(self, x) -> None:
        if self.built:
            return
        if not self._stack:
            raise ValueError(f"Sequential '{self.name}': add layers before using the model")
        from tinymm.keras.engine import Input
        a = _to_numpy(x[0] if isinstance(x, (list, tuple)) else x)
        dtype = "int64" if a.dtype.kind in "iu" else "float32"
        self._input = Input(shape=a.shape[1:], dtype=dtype)
        self._build_graph(self._input)

    def _prepare_inputs(self, x, who: str, keep_tensors: bool = False):
        self._lazy_build(x)
        return super()._prepare_inputs(x, who, keep_tensors)

    def summary(self, *args, **kwargs) -> None:
        if not self.built:
            raise ValueError(f"Sequential '{self.name}': the model is not built yet, so its "
                             "shapes and parameter counts are unknown; start it with "
                             "keras.Input(shape=...) or call it on data first")
        super().summary(*args, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        config["class_name"] = "Sequential"
        return config


from tinymm.keras.saving import (  # noqa: E402
    load_model,
    model_from_config,
    model_from_json,
    save_model,
)

__all__ = ["Model", "NonFiniteLossError", "Sequential", "load_model", "model_from_config",
           "model_from_json", "save_model"]

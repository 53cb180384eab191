"""The Keras 3 ``.keras`` file and ``.weights.h5`` weights, as Keras writes and reads them.

A ``.keras`` file is a zip of three members:

- ``config.json``: the model as ``serialize_keras_object`` writes it: ``{"module",
  "class_name": "Functional" | "Sequential", "config": {"name", "layers": [...],
  "input_layers", "output_layers"}, "registered_name", "build_config", "compile_config"}``;
  each functional layer entry carries its ``inbound_nodes``, whose arguments are
  ``{"class_name": "__keras_tensor__", "config": {"keras_history": [layer, node, index]}}``.
- ``metadata.json``: the format's Keras version and the date saved.
- ``model.weights.h5``: one HDF5 group per layer, ``layers/<snake_case(class)>[_k]/vars/<i>``
  (the k-th layer of that class in ``model.layers`` order, not the layer's name), holding
  the layer's own variables in Keras's order and layout; a layer made of sublayers keeps them
  in groups named as Keras's attributes (``lstm/cell/vars``, ``multi_head_attention/
  query_dense/vars``, a custom layer's ``<attribute>/vars``), a nested model its own
  ``layers/...``.

Loading runs no code from the file: every class name resolves to a tinymm.keras layer or to a
class registered with ``keras.saving.register_keras_serializable`` or given in
``custom_objects``; anything else is refused. tinymm also keeps its optimizer's state in
the weights file (a ``tinymm_optimizer`` group, which Keras ignores), so a model it saved
resumes training exactly; the state of Keras's Adam, AdamW, Nadam, Adamax, RMSprop, Adagrad
and SGD is also written and read as Keras's ``optimizer/vars`` (optimizer_state.py), so
either library resumes the other's training (another optimizer starts fresh when the file
comes from Keras, with a warning).
"""

from __future__ import annotations

import datetime
import inspect
import io as _bytes_io
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np

from tinymm.keras import optimizer_state as slots
from tinymm.keras import subclassed
from tinymm.keras.engine import (
    Input,
    InputLayer,
    KerasTensor,
    Layer,
    OpLayer,
    map_structure,
    shape_list,
    snake_case,
)

# the operators a KerasTensor records (engine.py) -> the Keras operation classes
KERAS_OPERATIONS = {"_add": "Add", "_sub": "Subtract", "_mul": "Multiply",
                    "_truediv": "TrueDivide", "_matmul": "Matmul", "_neg": "Negative",
                    "add": "Add", "subtract": "Subtract", "multiply": "Multiply",
                    "matmul": "Matmul", "not_equal": "NotEqual", "equal": "Equal"}
OPTIMIZER_GROUP = "tinymm_optimizer"  # tinymm's optimizer state; Keras reads only its groups
FORMAT_VERSION = "3.0.0"  # the Keras saving format this module writes (keras_version)
# Keras config keys tinymm's layers do not take, dropped on load when they hold the value that
# changes nothing (Keras writes every constructor argument, defaults included)
INERT = {"quantization_config": None, "lora_rank": None, "lora_alpha": None, "sparse": False,
         "ragged": False, "optional": False, "synchronized": False, "renorm": False,
         "renorm_clipping": None, "renorm_momentum": 0.99, "seed": None, "stateful": False,
         "unroll": False, "zero_output_for_mask": False, "data_format": "channels_last",
         "groups": 1, "use_gate": False, "sliding_window": None, "output_shape": None,
         "attention_axes": [1], "dropout": 0.0, "recurrent_dropout": 0.0, "keepdims": False,
         "flash_attention": None, "activity_regularizer": None, "kernel_regularizer": None,
         "bias_regularizer": None, "recurrent_regularizer": None,
         "embeddings_regularizer": None, "beta_regularizer": None, "gamma_regularizer": None,
         "kernel_constraint": None, "bias_constraint": None, "recurrent_constraint": None,
         "embeddings_constraint": None, "beta_constraint": None, "gamma_constraint": None,
         "go_backwards": False, "return_state": False, "unit_forget_bias": True,
         "reset_after": True, "axis": -1, "center": True, "scale": True, "rms_scaling": False,
         "mask_zero": False, "dilation_rate": [1], "reversed": False, "noise_shape": None,
         "score_mode": "dot",
         # the recurrent layers' fixed activations and bias (tinymm's LSTM/GRU take no option)
         "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True}


def _h5py():
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - h5py is a dependency
        raise ImportError("the .keras format and .weights.h5 files need h5py (pip install "
                          "h5py)") from err
    return h5py


# ---------------------------------------------------------------- weights: Keras's h5 groups
def layer_groups(layer, prefix: str) -> list[tuple[str, object, list]]:
    """``(group path, layer, views)`` for ``layer`` saved under ``prefix``: Keras's groups,
    each with the ``(get, set)`` views (``Layer.keras_layout``) of the variables it holds."""
    from tinymm.keras.models import ModelLayer

    if isinstance(layer, ModelLayer):
        return model_groups(layer.model, prefix)
    if not isinstance(layer, Layer):  # a Model a custom layer holds
        return model_groups(layer, prefix)
    views = layer.keras_layout() if layer.built else []
    kind = type(layer).__name__
    if kind in ("LSTM", "GRU", "SimpleRNN", "RNN"):
        return [(f"{prefix}/vars", layer, []), (f"{prefix}/cell/vars", layer, views)]
    if kind == "Bidirectional":
        half = len(views) // 2
        return [(f"{prefix}/vars", layer, []),
                (f"{prefix}/forward_layer/cell/vars", layer, views[:half]),
                (f"{prefix}/backward_layer/cell/vars", layer, views[half:])]
    if kind == "MultiHeadAttention":
        step = len(views) // 4
        return [(f"{prefix}/vars", layer, [])] + [
            (f"{prefix}/{name}/vars", layer, views[i * step:(i + 1) * step])
            for i, name in enumerate(("query_dense", "key_dense", "value_dense", "output_dense"))]
    if kind == "TimeDistributed":
        return [(f"{prefix}/vars", layer, [])] + layer_groups(layer.layer, f"{prefix}/layer")
    subs = layer.__dict__.get("_sublayers", {})
    if not subs:
        return [(f"{prefix}/vars", layer, views)]
    inner = {id(p) for sub in subs.values() for p in sub.weights}
    own = [view for view, p in zip(views, layer.weights) if id(p) not in inner]
    groups = [(f"{prefix}/vars", layer, own)]
    for key, sub in subs.items():
        groups += layer_groups(sub, f"{prefix}/{layer.sublayer_paths().get(key, key)}")
    return groups


def model_groups(model, prefix: str = "") -> list[tuple[str, object, list]]:
    """Keras's groups for every layer of ``model`` (``model.layers`` order; a functional
    model lists its InputLayers, a Sequential does not), under ``prefix``; a subclassed
    model's groups follow its attributes (subclassed.py)."""
    if getattr(model, "_subclassed", False):
        return subclassed.subclassed_groups(model, prefix)
    used: dict[str, int] = {}
    groups = [(f"{prefix}/vars".lstrip("/"), model, [])]
    for layer in model.layers:
        if isinstance(layer, OpLayer):  # Keras's model.layers leaves operations out
            continue
        kind = type(getattr(layer, "model", layer))
        base = snake_case("Functional" if kind.__name__ == "Model" else kind.__name__)
        used[base] = used.get(base, -1) + 1
        name = base if used[base] == 0 else f"{base}_{used[base]}"
        groups += layer_groups(layer, f"{prefix}/layers/{name}".lstrip("/"))
    return groups


def write_weights(model, target, optimizer_state: bool = False) -> None:
    """Write ``model``'s weights as Keras's ``model.weights.h5`` into ``target`` (a path or a
    binary file object); ``optimizer_state``: also the tinymm optimizer's state, in a
    ``tinymm_optimizer`` group that Keras does not read."""
    h5py = _h5py()
    with h5py.File(target, "w") as f:
        for path, owner, views in model_groups(model):
            group = f.require_group(path)
            group.attrs["name"] = owner.name
            for i, (get, _) in enumerate(views):
                group.create_dataset(str(i), data=np.asarray(get()))
        if optimizer_state and getattr(model, "optimizer", None) is not None:
            from tinymm import io

            slots.write_state(model, f, optimizer_views(model))

            tensors, manifest = io.optimizer_state_to_checkpoint(model.optimizer)
            group = f.require_group(OPTIMIZER_GROUP)
            group.attrs["manifest"] = json.dumps(manifest)
            group.attrs["keys"] = json.dumps(sorted(tensors))
            for key, array in tensors.items():
                group.create_dataset(key, data=array)


def optimizer_views(model) -> list:
    """The trainable weights' views in Keras's optimizer order (``trainable_variables``)."""
    views = subclassed.optimizer_views(model) if getattr(model, "_subclassed", False) else \
        [view for _, _, group in model_groups(model) for view in group]
    return [view for view in views if all(p.requires_grad for p in getattr(
        view[0], "params", ()))]


def read_keras_optimizer_state(model, source, where: str) -> bool:
    """Keras's own optimizer state (``optimizer/vars``, optimizer_state.py) into the tinymm
    optimizer ``compile`` built, so training resumes where Keras stopped. False when the file
    has none or it does not fit (a warning says why)."""
    h5py = _h5py()
    with h5py.File(source, "r") as f:
        if "optimizer/vars" not in f:
            return False
        saved = {int(k): np.asarray(v) for k, v in f["optimizer/vars"].items()}
    return slots.read_state(model, saved, optimizer_views(model), where)


def read_optimizer_state(model, source) -> bool:
    """Restore the tinymm optimizer state ``write_weights`` kept (False when there is none,
    as in Keras's files)."""
    from tinymm import io

    h5py = _h5py()
    with h5py.File(source, "r") as f:
        if OPTIMIZER_GROUP not in f:
            return False
        group = f[OPTIMIZER_GROUP]
        tensors = {key: np.asarray(group[key]) for key in json.loads(group.attrs["keys"])}
        manifest = json.loads(group.attrs["manifest"])
    io.optimizer_state_from_checkpoint(model._ensure_optimizer(), tensors, manifest)
    return True


def read_weights(model, source, where: str) -> None:
    """Load Keras's ``model.weights.h5`` (a path or a binary file object) into ``model``;
    every group the model needs must be there with the right count and shapes."""
    h5py = _h5py()
    with h5py.File(source, "r") as f:
        for path, owner, views in model_groups(model):
            if not views:
                continue
            if path not in f:
                raise ValueError(f"{where}: no weights for layer '{owner.name}' (group "
                                 f"{path!r} is missing; the file holds a different model)")
            group = f[path]
            if len(group) != len(views):
                raise ValueError(f"{where}: layer '{owner.name}' has {len(views)} weights, "
                                 f"the file's {path!r} holds {len(group)}")
            for i, (get, put) in enumerate(views):
                array = np.asarray(group[str(i)])
                if array.shape != get().shape:
                    raise ValueError(f"{where}: weight {i} of layer '{owner.name}' has shape "
                                     f"{get().shape}, the file's has {array.shape}")
                put(array.astype(get().dtype))


# ---------------------------------------------------------------- config: writing
def _is_builtin(cls) -> bool:
    return cls.__module__.startswith("tinymm.keras")


def _class_entry(obj, config: dict) -> dict:
    """Keras's ``{"module", "class_name", "config", "registered_name"}`` for ``obj``."""
    from tinymm.keras.saving import get_registered_name

    cls = type(obj)
    builtin = _is_builtin(cls)
    return {"module": "keras.layers" if builtin else cls.__module__,
            "class_name": cls.__name__, "config": config,
            "registered_name": None if builtin else get_registered_name(cls)}


def _nested_entries(value):
    """Nested layer configs (a Bidirectional's ``layer``, an RNN's ``cell``) given the
    ``module``/``registered_name`` Keras's deserializer reads; initializer, regularizer and
    constraint dicts get their Keras modules too."""
    from tinymm.keras.layers import LAYERS

    if isinstance(value, list):
        return [_nested_entries(v) for v in value]
    if not isinstance(value, dict):
        return value
    value = {k: _nested_entries(v) for k, v in value.items()}
    if "class_name" in value and "config" in value and "module" not in value:
        name = value["class_name"]
        kind = "layers" if name in LAYERS else _object_kind(name)
        value = {"module": f"keras.{kind}", **value, "registered_name": None}
    return value


def _object_kind(class_name: str) -> str:
    from tinymm.keras import constraints, initializers, regularizers

    for kind, module in (("initializers", initializers), ("regularizers", regularizers),
                         ("constraints", constraints)):
        if isinstance(getattr(module, class_name, None), type):
            return kind
    return "layers"


def _layer_config(layer) -> dict:
    from tinymm.keras.models import ModelLayer

    if isinstance(layer, ModelLayer):
        return model_config(layer.model)
    config = _nested_entries(layer.get_config())
    if _is_builtin(type(layer)):  # a custom get_config says itself what it keeps
        config.setdefault("dtype", str(layer.dtype))
    return config


def _tensor_ref(t: KerasTensor, node_numbers: dict) -> dict:
    layer = t.layer
    node = 0 if t.node is None else node_numbers[id(t.node)]
    return {"class_name": "__keras_tensor__",
            "config": {"shape": list(t.shape), "dtype": str(t.dtype),
                       "keras_history": [layer.name, node, t.index]}}


def _node_numbers(model) -> dict:
    """Each graph node's index among its layer's nodes, in the order this graph calls them
    (Keras's ``keras_history`` node index)."""
    numbers, counts = {}, {}
    for node in model._nodes:
        numbers[id(node)] = counts.get(id(node.layer), 0)
        counts[id(node.layer)] = numbers[id(node)] + 1
    return numbers


def _functional_layers(model, node_numbers: dict) -> list[dict]:
    from tinymm.keras.models import ModelLayer

    def ref(value):
        return _tensor_ref(value, node_numbers) if isinstance(value, KerasTensor) else value

    entries = []
    for layer in model.layers:
        if isinstance(layer, OpLayer):
            entries.append(_op_entry(layer, ref))
            continue
        if isinstance(layer, InputLayer):
            entries.append({**_input_entry(layer), "name": layer.name, "inbound_nodes": []})
            continue
        nodes = [n for n in model._nodes if n.layer is layer]
        entry = _class_entry(getattr(layer, "model", layer), _layer_config(layer))
        if isinstance(layer, ModelLayer):
            entry["module"] = "keras"
        entry["build_config"] = layer.keras_build_config()
        entry["name"] = layer.name
        entry["inbound_nodes"] = []
        for node in nodes:
            args, kwargs = layer.keras_node_arguments(node.args, node.kwargs)
            entry["inbound_nodes"].append({"args": map_structure(ref, list(args)),
                                           "kwargs": map_structure(ref, dict(kwargs))})
        entries.append(entry)
    return entries


def _op_entry(layer, ref) -> dict:
    """A recorded operator (``a + b`` on KerasTensors) as the Keras operation it is."""
    name = KERAS_OPERATIONS.get(getattr(layer.fn, "__name__", ""))
    if name is None:
        layer.get_config()  # raises: tinymm cannot name this function as a Keras operation
    args, kwargs = layer.template
    return {"module": "keras.src.ops.numpy", "class_name": name, "config": {"name": layer.name},
            "registered_name": name, "name": layer.name,
            "inbound_nodes": [{"args": map_structure(ref, list(args)),
                               "kwargs": map_structure(ref, dict(kwargs))}]}


def _input_entry(layer) -> dict:
    t = layer.output
    return {"module": "keras.layers", "class_name": "InputLayer",
            "config": {"batch_shape": shape_list(t.shape), "dtype": str(t.dtype),
                       "sparse": False, "ragged": False, "name": layer.name},
            "registered_name": None}


def model_config(model) -> dict:
    """``model``'s ``config`` as Keras writes it (the dict inside ``config.json``)."""
    from tinymm.keras.models import Sequential

    dtype = str(getattr(model, "dtype", "float32"))
    if isinstance(model, Sequential):
        layers = [_input_entry(model.inputs[0].layer)] + [
            {**_class_entry(getattr(la, "model", la), _layer_config(la)),
             "build_config": la.keras_build_config()}
            for la in model.layers]
        return {"name": model.name, "trainable": model.trainable, "dtype": dtype,
                "layers": layers, "build_input_shape": shape_list(model.inputs[0].shape)}
    numbers = _node_numbers(model)
    ins = [[t.layer.name, 0, 0] for t in model.inputs]
    outs = [_tensor_ref(t, numbers)["config"]["keras_history"] for t in model.outputs]
    if getattr(model, "_output_keys", None):
        outs = dict(zip(model._output_keys, outs))
    return {"name": model.name, "trainable": model.trainable,
            "layers": _functional_layers(model, numbers),
            "input_layers": ins[0] if model._single_input else ins,
            "output_layers": outs[0] if model._single_output else outs}


# ---------------------------------------------------------------- config: reading
def _accepted(cls) -> set[str]:
    """The keyword arguments ``cls(...)`` takes, through the ``**kwargs`` it passes up."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(vars(klass)["__init__"]).parameters.values()
        names |= {p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        if not any(p.kind is p.VAR_KEYWORD for p in params) or klass is Layer:
            break
    return (names | set(getattr(cls, "constraint_args", ()))) - {"self"}


def _registry(custom_objects: dict | None) -> dict:
    from tinymm.keras.utils import custom_objects_by_name

    return {**custom_objects_by_name(), **(custom_objects or {})}


def resolve_class(entry: dict, custom_objects: dict | None, what: str = "layer"):
    """The class a config entry names: a tinymm.keras layer for Keras's own classes, else a
    registered or given custom object (by registered name, then class name); never an
    import of the entry's module."""
    from tinymm.keras.layers import LAYERS

    name, registered = entry.get("class_name"), entry.get("registered_name")
    module = entry.get("module") or ""
    custom = _registry(custom_objects)
    builtin = registered is None and module.startswith(("keras", "tinymm.keras"))
    found = LAYERS.get(name) if builtin else None  # Keras's own class: never a custom one
    if found is None:
        found = custom.get(registered) or custom.get(name)
    if found is None and not registered:
        found = LAYERS.get(name)
    if found is None:
        raise ValueError(f"load_model: unknown {what} class {name!r} (registered name "
                         f"{registered!r}); tinymm.keras has no such built-in layer: register "
                         "the class with keras.saving.register_keras_serializable or pass "
                         "custom_objects={name: class}")
    return found


def _plain_value(key: str, value, custom_objects):
    """A Keras config value as tinymm's constructors take it: a dtype policy as its name, a
    registered function by its name, a nested layer config built."""
    if key == "axis" and isinstance(value, list) and len(value) == 1:
        return value[0]  # LayerNormalization writes axis=[-1]
    if not isinstance(value, dict):
        return value
    if value.get("class_name") == "DTypePolicy":
        return value["config"]["name"]
    if value.get("class_name") == "function":
        found = _registry(custom_objects).get(value.get("registered_name")) or \
            _registry(custom_objects).get(value.get("config"))
        if found is None:
            raise ValueError(f"load_model: {key} names the function {value.get('config')!r}, "
                             "which is not registered; pass custom_objects={name: function}")
        return found
    if "class_name" in value and "config" in value and \
            (value.get("module") or "keras.layers").startswith(("keras.layers", "keras")) \
            and key in ("layer", "cell", "backward_layer"):
        return build_layer(value, custom_objects)
    return value


def _initializer(value):
    """A Keras initializer entry as a tinymm.keras initializer (None for one tinymm lacks:
    a loaded layer's weights come from the file anyway)."""
    from tinymm.keras import initializers

    if not isinstance(value, dict):
        return value
    cls = getattr(initializers, value.get("class_name", ""), None)
    if not isinstance(cls, type):
        return None
    accepted = _accepted(cls)
    return cls(**{k: v for k, v in (value.get("config") or {}).items() if k in accepted})


def _check_mirror(config: dict, backward: dict) -> None:
    """Keras writes a Bidirectional's backward layer, which tinymm builds itself as the
    mirror of ``layer``: refuse one that is not that mirror."""
    forward = config["layer"]
    same = backward.get("class_name") == forward.get("class_name") and all(
        backward["config"].get(k) == forward["config"].get(k)
        for k in ("units", "return_sequences", "activation", "use_bias"))
    if not same:
        raise ValueError(f"load_model: Bidirectional {config.get('name')!r} has its own "
                         "backward_layer, which tinymm.keras does not support")


def _inert(key: str, value) -> bool:
    """True for a config entry that changes nothing (a Keras default tinymm lacks)."""
    if value is None and key.endswith(("_regularizer", "_constraint")):
        return True
    return key in INERT and INERT[key] == value


def _builtin_kwargs(cls, config: dict, custom_objects) -> dict:
    """Keras's config for a tinymm.keras layer, as that layer's constructor arguments."""
    accepted = _accepted(cls)
    kwargs = {}
    for key, value in config.items():
        if key == "backward_layer":
            _check_mirror(config, value)
            continue
        if key.endswith("_initializer"):
            value = _initializer(value)
            if key not in accepted or value is None:
                continue  # the weights come from the file
        value = _plain_value(key, value, custom_objects)
        if key in accepted:
            kwargs[key] = value
        elif not _inert(key, value):
            raise ValueError(f"load_model: layer {config.get('name')!r} ({cls.__name__}) has "
                             f"{key}={value!r}, which tinymm.keras's {cls.__name__} does not "
                             "support")
    return kwargs


def _operation(entry: dict):
    """A Keras operation entry (``keras.src.ops.*``: ``NotEqual``, ``Add``...) as the
    tinymm.keras.ops function of that name, with the entry's options bound."""
    from tinymm.keras import ops

    fn = getattr(ops, snake_case(entry["class_name"]), None)
    if fn is None:
        raise ValueError(f"load_model: the graph uses the Keras operation "
                         f"{entry['class_name']!r}, which tinymm.keras.ops does not have")
    options = {k: v for k, v in (entry.get("config") or {}).items() if k != "name"}
    return lambda *args, **kwargs: fn(*args, **options, **kwargs)


def build_layer(entry: dict, custom_objects: dict | None):
    """A layer (or nested model) from its config entry; nothing in the file runs as code."""
    name = entry.get("class_name")
    if (entry.get("module") or "").startswith("keras.src.ops"):
        return _operation(entry)
    if name in ("Functional", "Sequential", "Model"):
        return model_from_keras_config(entry, custom_objects).as_layer()
    cls = resolve_class(entry, custom_objects)
    config = dict(entry.get("config") or {})
    if isinstance(config.get("dtype"), dict):
        config["dtype"] = _plain_value("dtype", config["dtype"], custom_objects)
    if _is_builtin(cls):
        if name == "Lambda":
            raise ValueError(f"load_model: layer {config.get('name')!r} is a Lambda, whose "
                             "function is code in the file; tinymm does not run it. Rebuild "
                             "the model in Python and use load_weights")
        return cls(**_builtin_kwargs(cls, config, custom_objects))
    from tinymm.keras.utils import custom_object_scope

    with custom_object_scope(custom_objects or {}):
        return cls.from_config(config)


def _resolve_refs(value, produced: dict):
    """Replace ``__keras_tensor__`` references by the KerasTensors they name; raise KeyError
    when one is not produced yet."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        layer, node, index = value["config"]["keras_history"]
        return produced[(layer, node)][index]
    if isinstance(value, list):
        return [_resolve_refs(v, produced) for v in value]
    if isinstance(value, dict):
        return {k: _resolve_refs(v, produced) for k, v in value.items()}
    return value


def _outputs_list(out) -> list:
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _call_nodes(entries: list, layers: dict, produced: dict) -> None:
    """Call every layer on its inbound nodes' inputs, in an order where each node's inputs
    exist already (a shared layer's later call may use layers listed after it)."""
    pending = [(entry["name"] if "name" in entry else entry["config"]["name"], i, node)
               for entry in entries for i, node in enumerate(entry.get("inbound_nodes", []))]
    while pending:
        left = []
        for name, i, node in pending:
            try:
                args = _resolve_refs(node.get("args", []), produced)
                kwargs = _resolve_refs(node.get("kwargs", {}), produced)
            except KeyError:
                left.append((name, i, node))
                continue
            kwargs = {k: v for k, v in kwargs.items() if k != "training" and
                      not (k == "mask" and v is None)}
            produced[(name, i)] = _outputs_list(layers[name](*args, **kwargs))
        if len(left) == len(pending):
            raise ValueError("load_model: the graph's nodes refer to layers that are never "
                             f"called: {sorted({name for name, _, _ in left})}")
        pending = left


def _history_tensors(spec, produced: dict):
    if isinstance(spec, dict):
        return {k: _history_tensors(v, produced) for k, v in spec.items()}
    if spec and isinstance(spec[0], list):
        return [_history_tensors(s, produced) for s in spec]
    layer, node, index = spec
    return produced[(layer, node)][index]


def _input_from(entry: dict):
    config = entry["config"]
    shape = config.get("batch_shape") or [None] + list(config.get("shape", []))
    return Input(shape=tuple(shape[1:]), dtype=config.get("dtype", "float32"),
                 name=config["name"])


def _functional(config: dict, custom_objects) -> object:
    from tinymm.keras.models import Model

    layers, produced = {}, {}
    for entry in config["layers"]:
        name = entry.get("name", entry["config"].get("name"))
        if entry["class_name"] == "InputLayer":
            t = _input_from(entry)
            produced[(name, 0)] = [t]
            layers[name] = t.layer
        else:
            layers[name] = build_layer(entry, custom_objects)
    _call_nodes(config["layers"], layers, produced)
    inputs = _history_tensors(config["input_layers"], produced)
    outputs = _history_tensors(config["output_layers"], produced)
    return Model(inputs=inputs, outputs=outputs, name=config.get("name"))


def _sequential(config: dict, custom_objects) -> object:
    from tinymm.keras.models import Sequential

    model = Sequential(name=config.get("name"))
    entries = list(config["layers"])
    if entries and entries[0]["class_name"] == "InputLayer":
        model.add(_input_from(entries.pop(0)))
    elif config.get("build_input_shape"):
        model.add(Input(shape=tuple(config["build_input_shape"][1:])))
    for entry in entries:
        model.add(build_layer(entry, custom_objects))
    return model


def model_from_keras_config(entry: dict, custom_objects: dict | None = None):
    """A model (fresh weights) from Keras's serialized model: ``config.json``'s dict."""
    name = entry.get("class_name")
    if name == "Sequential":
        return _sequential(entry["config"], custom_objects)
    if name in ("Functional", "Model") or "input_layers" in entry.get("config", {}):
        return _functional(entry["config"], custom_objects)
    return subclassed.from_entry(entry, custom_objects)


# ---------------------------------------------------------------- compile settings
def compile_config(model) -> dict:
    """The compile settings as Keras writes them: the optimizer as a class entry, the loss
    and metrics as names (anything else is left out)."""
    from tinymm.keras import optimizers
    from tinymm.keras.saving import strings_only

    if not getattr(model, "compiled", False):
        return {}
    spec = model._optimizer_spec
    optimizer = spec if isinstance(spec, str) else None
    if isinstance(spec, optimizers.Optimizer):
        optimizer = {"module": "keras.optimizers", "class_name": type(spec).__name__,
                     "config": _nested_entries(spec.get_config()), "registered_name": None}
    return {"optimizer": optimizer, "loss": strings_only(model.loss_spec),
            "loss_weights": strings_only(model.loss_weights_given),
            "metrics": strings_only(model.metrics_names_given), "weighted_metrics": None,
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def _optimizer_from(spec):
    from tinymm.keras import optimizers

    if not isinstance(spec, dict):
        return spec or "rmsprop"
    cls = getattr(optimizers, spec["class_name"], None)
    if not (isinstance(cls, type) and issubclass(cls, optimizers.Optimizer)):
        raise ValueError(f"tinymm.keras has no optimizer {spec['class_name']!r}")
    accepted = _accepted(cls)
    config = {k: v for k, v in spec.get("config", {}).items() if k in accepted}
    return cls(**config)


def _named(spec):
    """A loss or metric config: names stay; ``{"class_name", "config"}`` dicts become
    tinymm.keras objects of that class (Keras's own losses and metrics only)."""
    from tinymm.keras import losses, metrics

    if isinstance(spec, list):
        return [_named(s) for s in spec]
    if isinstance(spec, dict) and "class_name" in spec:
        module = losses if "losses" in (spec.get("module") or "losses") else metrics
        cls = getattr(module, spec["class_name"], None)
        if not isinstance(cls, type):
            raise ValueError(f"tinymm.keras has no {module.__name__.rsplit('.', 1)[-1]} class "
                             f"{spec['class_name']!r}")
        config = {k: v for k, v in spec.get("config", {}).items() if k in _accepted(cls)}
        return cls(**config)
    if isinstance(spec, dict):
        return {k: _named(v) for k, v in spec.items()}
    return spec


def recompile(model, config: dict, where: str) -> None:
    """Compile ``model`` as ``config`` (``compile_config``) says; a setting tinymm cannot
    rebuild leaves the model uncompiled with a warning, as Keras does."""
    if not config or config.get("loss") is None:
        return
    try:
        model.compile(optimizer=_optimizer_from(config.get("optimizer")),
                      loss=_named(config["loss"]), metrics=_named(config.get("metrics")),
                      loss_weights=config.get("loss_weights"))
    except (TypeError, ValueError) as err:
        warnings.warn(f"{where}: the model is loaded uncompiled; its compile settings could "
                      f"not be rebuilt: {err}", stacklevel=3)


# ---------------------------------------------------------------- the zip
def save_keras_file(model, filepath, overwrite: bool = True) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` zip (config.json, metadata.json,
    model.weights.h5), atomically."""
    path = Path(filepath)
    if path.exists() and not overwrite:
        raise FileExistsError(f"save: {path} exists and overwrite=False")
    if not getattr(model, "built", False) or not hasattr(model, "_nodes"):
        raise ValueError(f"save: model '{model.name}' is not built yet (call it on data or "
                         "give it an Input first)")
    if getattr(model, "_subclassed", False):
        config = subclassed.class_entry(model, compile_config(model))
    else:
        config = _graph_entry(model)
    metadata = {"keras_version": FORMAT_VERSION, "tinymm_version": _tinymm_version(),
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    weights = _bytes_io.BytesIO()
    write_weights(model, weights, optimizer_state=True)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        archive.writestr("metadata.json", json.dumps(metadata))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights.getvalue())
    tmp.replace(path)


def _graph_entry(model) -> dict:
    """A functional model's or Sequential's ``config.json``."""
    from tinymm.keras.models import Sequential

    sequential = isinstance(model, Sequential)
    return {"module": "keras" if sequential else "keras.src.models.functional",
            "class_name": "Sequential" if sequential else "Functional",
            "config": model_config(model),
            "registered_name": None if sequential else "Functional",
            "build_config": {"input_shape": None}, "compile_config": compile_config(model)}


def _tinymm_version() -> str:
    from tinymm._version import __version__

    return __version__


def is_keras_file(filepath) -> bool:
    return Path(filepath).suffix == ".keras" and Path(filepath).is_file() and \
        zipfile.is_zipfile(filepath)


def load_keras_file(filepath, custom_objects: dict | None = None, compile: bool = True):  # noqa: A002
    """The model in a Keras 3 ``.keras`` zip, written by Keras or by tinymm: architecture,
    weights and (``compile=True``) its compile settings."""
    with zipfile.ZipFile(filepath) as archive:
        names = set(archive.namelist())
        if "config.json" not in names or "model.weights.h5" not in names:
            raise ValueError(f"load_model: {filepath} is a zip but not a .keras file (it lacks "
                             "config.json or model.weights.h5)")
        config = json.loads(archive.read("config.json"))
        weights = _bytes_io.BytesIO(archive.read("model.weights.h5"))
    model = model_from_keras_config(config, custom_objects)
    read_weights(model, weights, str(filepath))
    if compile:
        recompile(model, config.get("compile_config") or {}, f"load_model({filepath})")
        if getattr(model, "compiled", False) and not read_optimizer_state(model, weights):
            read_keras_optimizer_state(model, weights, f"load_model({filepath})")
    return model


def read_keras_file_weights(model, filepath) -> None:
    """``load_weights`` from a ``.keras`` zip: its model.weights.h5 into ``model``."""
    with zipfile.ZipFile(filepath) as archive:
        weights = _bytes_io.BytesIO(archive.read("model.weights.h5"))
    read_weights(model, weights, str(filepath))

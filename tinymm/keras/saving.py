"""Saving and loading keras models as tinymm checkpoints (tinymm/io.py): ``model.save``,
``save_weights``/``load_weights``, ``get_config``, ``model_from_config`` and ``load_model``;
as ``keras.saving`` it also holds the registration and (de)serialization functions custom
layers use (``register_keras_serializable``, ``serialize_keras_object``...).

``model.save("m.keras")`` writes the Keras 3 zip (config.json, metadata.json,
model.weights.h5: keras_file.py), which Keras loads too, and ``load_model`` reads the zips
Keras writes; ``save_weights``/``load_weights`` on a ``.weights.h5`` path use Keras's HDF5
layout. Any other path is a tinymm checkpoint: ``<stem>.safetensors`` (weights, optimizer
state) + ``<stem>.json`` (the architecture as layer configs and graph nodes, compile settings
given as names, history); those keep loading, ``.keras`` names included.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from tinymm import io
from tinymm.keras import keras_file, subclassed
from tinymm.keras import optimizers as _optimizers
from tinymm.keras.engine import Input, KerasTensor, Layer, as_list, map_structure
from tinymm.keras.utils import (
    custom_object_scope,
    custom_objects_by_name,
    get_custom_objects,
    register_keras_serializable,
)

if TYPE_CHECKING:
    from tinymm.keras.models import Model


def strings_only(spec):
    """The JSON-able part of a compile argument: names, lists/dicts of names, numbers."""
    if isinstance(spec, (str, int, float)) or spec is None:
        return spec
    if isinstance(spec, (list, tuple)):
        return [strings_only(s) for s in spec]
    if isinstance(spec, dict):
        return {k: strings_only(v) for k, v in spec.items()}
    return None


class SavingMixin:
    """``get_config``/``save``/``save_weights``/``load_weights`` for keras ``Model``."""

    def get_config(self) -> dict:
        """A functional model or Sequential: its graph (layer configs and nodes). A
        subclassed model: Keras's ``{name, trainable, dtype}`` plus, for a subclass without
        its own get_config, its constructor arguments (subclassed.py)."""
        if getattr(self, "_subclassed", False):
            return subclassed.base_config(self)
        return self.graph_config()

    def graph_config(self) -> dict:
        """The traced graph as tinymm's checkpoints keep it: layer configs, nodes, inputs and
        outputs (``model_from_config`` rebuilds it as a functional model)."""
        node_index = {id(node): i for i, node in enumerate(self._nodes)}
        input_index = {id(t): i for i, t in enumerate(self.inputs)}

        def ref(t):
            if not isinstance(t, KerasTensor):
                return t
            if id(t) in input_index:
                return {"__input__": input_index[id(t)]}
            return {"__node__": node_index[id(t.node)], "index": t.index}

        return {
            "class_name": type(self).__name__, "name": self.name,
            "layers": [{"class_name": type(la).__name__, "name": la.name,
                        "config": la.get_config()} for la in self._graph_layers],
            "inputs": [t.layer.name for t in self.inputs],
            "nodes": [{"layer": node.layer.name, "args": map_structure(ref, list(node.args)),
                       "kwargs": map_structure(ref, node.kwargs)} for node in self._nodes],
            "outputs": [ref(t) for t in self.outputs],
            "single_input": self._single_input, "single_output": self._single_output,
            "output_keys": getattr(self, "_output_keys", None),
        }

    def to_json(self, **kwargs) -> str:
        """The architecture as JSON (``graph_config``: a subclassed model as its traced
        graph); ``keras.models.model_from_json`` rebuilds it with fresh weights. ``kwargs``
        go to ``json.dumps``."""
        return json.dumps(self.graph_config(), **kwargs)

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Model:
        """A new model from ``get_config()``'s dict (fresh weights): a graph config rebuilds
        the functional model; a subclass's own config is ``cls(**config)``, as Keras."""
        if "layers" not in config and not cls.__module__.startswith("tinymm.keras"):
            with custom_object_scope(custom_objects or {}):
                return subclassed.construct(cls, config)
        return model_from_config(config, custom_objects)

    def _compile_config(self) -> dict | None:
        if not getattr(self, "compiled", False):
            return None
        spec = self._optimizer_spec
        if isinstance(spec, _optimizers.Optimizer):
            opt = {"class_name": type(spec).__name__, "config": spec.get_config()}
        else:
            opt = {"class_name": "tinymm.optim." + type(spec).__name__}
        return {"optimizer": opt, "loss": strings_only(self.loss_spec),
                "metrics": strings_only(self.metrics_names_given),
                "loss_weights": strings_only(self.loss_weights_given)}

    def save(self, filepath, overwrite: bool = True, metadata: dict | None = None) -> None:
        """A ``.keras`` path: the Keras 3 zip (architecture, weights, compile settings, the
        optimizer state in a group Keras ignores, and an Adam's state as Keras reads it).
        Any other path: the architecture, weights, compile settings and optimizer state as a
        tinymm checkpoint (``<stem>.safetensors`` + ``<stem>.json``), atomically, as is a
        ``.keras`` path given ``metadata``: any JSON data to keep beside them (a vocabulary,
        a data-set name...), returned by ``tinymm.io.load_checkpoint`` and kept as
        ``model.metadata`` on load."""
        if str(filepath).endswith(".keras") and metadata is None:
            keras_file.save_keras_file(self, filepath, overwrite)
            return
        if not overwrite and io.checkpoint_paths(filepath)[1].exists():
            raise FileExistsError(f"save: {io.checkpoint_paths(filepath)[1]} exists and "
                                  "overwrite=False")
        tensors = dict(self.state_dict())
        manifest = {"model": self.graph_config(), "compile": self._compile_config(),
                    "metadata": metadata or {}}
        if self.optimizer is not None:
            opt_tensors, opt_manifest = io.optimizer_state_to_checkpoint(self.optimizer)
            tensors.update(opt_tensors)
            manifest["optimizer"] = opt_manifest
        if self.history is not None:
            manifest["history"] = self.history.history
        io.save_checkpoint(filepath, tensors, manifest)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """A ``.weights.h5`` path: Keras's HDF5 layout (Keras's ``load_weights`` reads it);
        any other: a tinymm checkpoint of the weights."""
        if str(filepath).endswith(".h5"):
            if not overwrite and Path(filepath).exists():
                raise FileExistsError(f"save_weights: {filepath} exists and overwrite=False")
            keras_file.write_weights(self, filepath)
            return
        io.save_checkpoint(filepath, dict(self.state_dict()), {"weights_only": True})

    def load_weights(self, filepath) -> None:
        """Weights from a ``.weights.h5`` file (Keras's or tinymm's), from the weights inside
        a ``.keras`` zip, or from a tinymm checkpoint."""
        if str(filepath).endswith(".h5"):
            keras_file.read_weights(self, filepath, str(filepath))
            return
        if keras_file.is_keras_file(filepath):
            keras_file.read_keras_file_weights(self, filepath)
            return
        tensors, _ = io.load_checkpoint(filepath)
        weights = {k: v for k, v in tensors.items() if not k.startswith("optimizer/")}
        io.check_tensors_fit(weights, {k: v.shape for k, v in self.state_dict().items()},
                             where=f"checkpoint {filepath}")
        self.load_state_dict(weights)



def get_registered_name(obj) -> str:
    """The key ``obj`` (a class or function) is registered under, else its name."""
    for key, value in get_custom_objects().items():
        if value is obj:
            return key
    return getattr(obj, "__name__", type(obj).__name__)


def get_registered_object(name: str, custom_objects: dict | None = None, module_objects=None):
    """The class or function registered (or given) under ``name``; None when unknown."""
    return {**(module_objects or {}), **custom_objects_by_name(),
            **(custom_objects or {})}.get(name)


def serialize_keras_object(obj):
    """A layer (anything with ``get_config``) as Keras's dict: module, class_name, config,
    registered_name; a built-in or registered function as its name; other values as they
    are (numbers, strings, None, lists of them)."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(o) for o in obj]
    if hasattr(obj, "get_config"):
        cls = type(obj)
        return {"module": cls.__module__, "class_name": cls.__name__,
                "config": obj.get_config(), "registered_name": get_registered_name(cls)}
    if callable(obj):
        from tinymm.keras import activations

        return activations.serialize(obj)
    raise TypeError(f"serialize_keras_object: cannot serialize a {type(obj).__name__}")


def deserialize_keras_object(config, custom_objects: dict | None = None, **kwargs):
    """The object ``serialize_keras_object`` described: a class found among tinymm's layers,
    the registered custom objects and ``custom_objects`` by its registered name or class
    name, built with ``from_config``; a string names a registered or built-in function."""
    from tinymm.keras import activations
    from tinymm.keras import layers as _layers

    if config is None or isinstance(config, (int, float, bool)):
        return config
    if isinstance(config, str):
        return activations.get(config) if custom_objects is None else \
            custom_objects.get(config) or activations.get(config)
    if isinstance(config, list):
        return [deserialize_keras_object(c, custom_objects) for c in config]
    if not isinstance(config, dict) or "class_name" not in config:
        raise TypeError(f"deserialize_keras_object: expected a dict with class_name and "
                        f"config, got {type(config).__name__}")
    registry = {**_layers.LAYERS, **custom_objects_by_name(), **(custom_objects or {})}
    cls = registry.get(config.get("registered_name")) or registry.get(config["class_name"])
    if cls is None:
        raise ValueError(f"deserialize_keras_object: unknown class {config['class_name']!r}; "
                         "register it with keras.saving.register_keras_serializable or pass "
                         "custom_objects={name: class}")
    return cls.from_config(dict(config["config"]))


def model_from_config(config: dict, custom_objects: dict | None = None) -> Model:
    """A new model from ``Model.get_config()``'s dict; ``custom_objects`` (classes and
    functions by name) are known while it is built, as in Keras."""
    with custom_object_scope(custom_objects or {}):
        return _model_from_config(config)


def _model_from_config(config: dict) -> Model:
    from tinymm.keras import layers as _layers
    from tinymm.keras.models import Model, Sequential

    registry = {**_layers.LAYERS, **custom_objects_by_name()}
    by_name: dict[str, Layer] = {}
    inputs_by_name = {}
    for entry in config["layers"]:
        cls_name, cfg = entry["class_name"], dict(entry["config"])
        if cls_name == "InputLayer":
            t = Input(shape=tuple(cfg["shape"]), dtype=cfg.get("dtype", "float32"),
                      name=cfg["name"])
            inputs_by_name[cfg["name"]] = t
            by_name[cfg["name"]] = t.layer
            continue
        if cls_name not in registry:
            raise io.CheckpointError(f"load_model: unknown layer class {cls_name!r}; pass it "
                                     "in custom_objects={name: class}")
        # the graph names its layers in the entry, as Keras's does: a custom get_config
        # may leave "name" out of its own dict
        by_name[entry.get("name", cfg.get("name"))] = registry[cls_name].from_config(cfg)
    inputs = [inputs_by_name[name] for name in config["inputs"]]
    produced: list[list[KerasTensor]] = []

    def resolve(item):
        if isinstance(item, dict) and "__input__" in item:
            return inputs[item["__input__"]]
        if isinstance(item, dict) and "__node__" in item:
            return produced[item["__node__"]][item["index"]]
        return item

    def resolve_all(structure):
        if isinstance(structure, dict) and ("__input__" in structure or "__node__" in structure):
            return resolve(structure)
        if isinstance(structure, list):
            return [resolve_all(s) for s in structure]
        if isinstance(structure, dict):
            return {k: resolve_all(v) for k, v in structure.items()}
        return structure

    for node in config["nodes"]:
        layer = by_name[node["layer"]]
        out = Layer.__call__(layer, *resolve_all(node["args"]), **resolve_all(node["kwargs"]))
        produced.append(as_list(out) if isinstance(out, list) else [out])
    outputs = [resolve(o) for o in config["outputs"]]
    ins = inputs[0] if config.get("single_input") else inputs
    outs = outputs[0] if config.get("single_output") else outputs
    if config.get("output_keys"):
        outs = dict(zip(config["output_keys"], outputs))
    if config["class_name"] == "Sequential":
        model = Sequential(name=config["name"])
        model._stack = [la for la in (by_name[n["layer"]] for n in config["nodes"])]
        model._input = inputs[0]
        model._init_graph(ins, outs)
        return model
    return Model(inputs=ins, outputs=outs, name=config["name"])


def model_from_json(json_string: str, custom_objects: dict | None = None) -> Model:
    """A new model from ``model.to_json()`` (fresh weights)."""
    return model_from_config(json.loads(json_string), custom_objects)


def save_model(model, filepath, overwrite: bool = True, zipped: bool | None = None) -> None:
    """Keras 3's ``keras.saving.save_model``: ``model.save(filepath)`` (a ``.keras`` path is
    the zip; ``zipped=False``, an unzipped folder, is not supported)."""
    if zipped is False:
        raise ValueError("save_model: zipped=False (an unzipped .keras folder) is not "
                         "supported by tinymm.keras; save a .keras zip")
    model.save(filepath, overwrite=overwrite)


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True) -> Model:  # noqa: A002
    """Rebuild a model saved with ``model.save``: architecture, weights, and (with
    ``compile=True``) its loss, metrics and, from a tinymm checkpoint, optimizer state, so
    training resumes exactly. A ``.keras`` zip (Keras's or tinymm's) loads through
    keras_file.py."""
    if keras_file.is_keras_file(filepath):
        return keras_file.load_keras_file(filepath, custom_objects, compile)
    tensors, manifest = io.load_checkpoint(filepath)
    if "model" not in manifest:
        raise io.CheckpointError(f"{filepath}: this checkpoint holds weights only (saved with "
                                 "save_weights); build the model and call load_weights")
    model = model_from_config(manifest["model"], custom_objects)
    weights = {k: v for k, v in tensors.items() if not k.startswith("optimizer/")}
    io.check_tensors_fit(weights, {k: v.shape for k, v in model.state_dict().items()},
                         where=f"checkpoint {filepath}")
    model.load_state_dict(weights)
    model.metadata = manifest.get("metadata", {})
    comp = manifest.get("compile")
    if compile and comp and comp.get("loss"):
        opt = comp["optimizer"]
        spec = getattr(_optimizers, opt["class_name"], None)
        optimizer = spec(**opt.get("config", {})) if spec is not None else "adam"
        model.compile(optimizer=optimizer, loss=comp["loss"], metrics=comp["metrics"],
                      loss_weights=comp.get("loss_weights"))
        if "optimizer" in manifest:
            io.optimizer_state_from_checkpoint(model._ensure_optimizer(), tensors,
                                               manifest["optimizer"])
    return model




__all__ = ["SavingMixin", "custom_object_scope", "deserialize_keras_object", "get_custom_objects",
           "get_registered_name", "get_registered_object", "load_model", "model_from_config",
           "register_keras_serializable", "save_model", "serialize_keras_object",
           "strings_only"]

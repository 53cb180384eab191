"""Subclassed keras Models (``class M(keras.Model)`` with layers as attributes and a ``call``)
as Keras 3 saves them: by their registered class, their ``get_config()`` and the input shape
they were built for, with weights in the groups Keras's saver names after the attributes.

- The config: ``get_config`` of a subclass that does not define its own is Keras's
  auto-generated one: the constructor's arguments (defaults included) when all are plain
  values (str, int, float, bool, None, and lists/dicts of them); ``from_config`` is
  ``cls(**config)``, as Keras's ``Model.from_config`` for a non-functional config.
- The weights (Keras's ``saving_lib._save_state``): the model's own variables in ``vars``,
  then every attribute in sorted order (public names before ``_private`` ones) that holds a
  layer or model (group ``<attribute>``) or a list/tuple/dict of them (group
  ``<attribute>/<snake_case(class)>[_k]``), with the pseudo-attribute ``layers`` (every
  tracked layer, in assignment order) in its sorted place; an object already saved under an
  earlier name is skipped. So ``self.out`` is saved as ``layers/dense_3`` when ``layers``
  sorts first, exactly as Keras does.
- The optimizer's variables follow ``model.trainable_variables``: the model's own, then each
  tracked layer's in assignment order.
"""

from __future__ import annotations

import inspect

PLAIN = (str, int, float, bool, type(None))
# tinymm's own Model attributes that hold layers (the traced graph, the nesting wrapper)
INTERNAL = frozenset({"_graph_layers", "_stack", "_input", "_as_layer", "inputs", "outputs",
                      "_nodes", "_modules", "_parameters", "_buffers"})


def _plain(value) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return isinstance(value, PLAIN)


def auto_config(cls, args: tuple, kwargs: dict) -> dict | None:
    """Keras's auto-generated config of ``cls(*args, **kwargs)``: the bound constructor
    arguments with their defaults, ``**kwargs`` spread, ``name`` left out; None when an
    argument is not a plain value or cannot be passed back by keyword."""
    signature = inspect.signature(cls.__init__)
    try:
        bound = signature.bind(None, *args, **kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    config = dict(bound.arguments)
    params = list(signature.parameters.values())
    config.pop(params[0].name, None)
    for p in params[1:]:
        if p.kind is p.POSITIONAL_ONLY or (p.kind is p.VAR_POSITIONAL and config.get(p.name)):
            return None
        if p.kind is p.VAR_POSITIONAL:
            config.pop(p.name, None)
        if p.kind is p.VAR_KEYWORD:
            config.update(config.pop(p.name, {}))
    config.pop("name", None)
    return config if _plain(config) else None


def base_config(obj) -> dict:
    """What ``super().get_config()`` gives a subclassed model: name, trainable, dtype; and,
    for a subclass without its own ``get_config``, the auto-generated constructor arguments
    (``name`` only where ``__init__`` takes it, as Keras)."""
    from tinymm.keras.saving import SavingMixin

    config = {"name": obj.name, "trainable": obj.trainable, "dtype": str(obj.dtype)}
    if type(obj).get_config is not SavingMixin.get_config:
        return config
    auto = obj.__dict__.get("_auto_config")
    if auto is None:
        raise NotImplementedError(
            f"Model {type(obj).__name__}: its constructor takes arguments that are not plain "
            "values (or positional-only ones), so Keras cannot generate its config; define "
            "get_config() (and from_config() if needed) to save it")
    params = inspect.signature(type(obj).__init__).parameters
    takes_name = "name" in params or (
        "kwargs" in params and params["kwargs"].kind is inspect.Parameter.VAR_KEYWORD)
    return {**({"name": obj.name} if takes_name else {}), **auto,
            "trainable": obj.trainable, "dtype": str(obj.dtype)}


def construct(cls, config: dict):
    """Keras's ``Model.from_config`` for a subclass: ``cls(**config)``, its TypeError named."""
    try:
        return cls(**config)
    except TypeError as err:
        raise TypeError(f"{cls.__name__}.from_config: cannot rebuild the model from its config "
                        f"{sorted(config)} ({err}); its get_config() must return every "
                        "constructor argument, or it must define from_config(cls, config)"
                        ) from err


# ---------------------------------------------------------------- the attribute walk
def is_saveable(value) -> bool:
    from tinymm.keras.engine import Layer

    return isinstance(value, Layer) or hasattr(value, "as_layer")


def _flat_layers(value) -> list:
    if is_saveable(value):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [la for v in value for la in _flat_layers(v)]
    return []


def tracked_attributes(model) -> list[tuple[str, object]]:
    """``(name, value)`` of the model's attributes that hold layers or models (or
    containers of them), in assignment order."""
    names = list(model.__dict__.get("_keras_attributes", []))
    found = []
    for name in names:
        value = getattr(model, name, None)
        if _flat_layers(value):
            found.append((name, value))
    return found


def tracked_layers(model) -> list:
    """Every layer or model the attributes hold, once, in assignment order (Keras's
    ``model.layers`` of a subclassed model)."""
    seen, layers = set(), []
    for _, value in tracked_attributes(model):
        for layer in _flat_layers(value):
            if id(layer) not in seen:
                seen.add(id(layer))
                layers.append(layer)
    return layers


def _sort_key(name: str) -> str:
    return f"~{name}" if name.startswith("_") else name


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def own_views(model) -> list:
    """The model's own ``add_weight`` variables as ``(get, set)`` views, trainable first."""
    from tinymm.keras.engine import weight_view

    own = [p for p in model._parameters.values() if p is not None]
    return [weight_view(p) for p in sorted(own, key=lambda p: not p.requires_grad)]


def subclassed_groups(model, prefix: str = "") -> list[tuple[str, object, list]]:
    """Keras's weight groups of a subclassed model (see the module docstring)."""
    from tinymm.keras.keras_file import layer_groups

    groups = [(_join(prefix, "vars"), model, own_views(model))]
    visited: set[int] = set()

    def save(obj, path):
        if id(obj) not in visited:
            visited.add(id(obj))
            groups.extend(layer_groups(obj, path))

    def save_container(items, path):
        used: dict[str, int] = {}
        for item in list(items.values()) if isinstance(items, dict) else items:
            base = "container" if isinstance(item, (list, tuple, dict)) else \
                _class_base(item) if is_saveable(item) else None
            if base is None:
                continue
            used[base] = used.get(base, -1) + 1
            name = base if used[base] == 0 else f"{base}_{used[base]}"
            (save_container if base == "container" else save)(item, _join(path, name))

    attributes = dict(tracked_attributes(model))
    attributes["layers"] = tracked_layers(model)
    for name in sorted(attributes, key=_sort_key):
        value = attributes[name]
        if is_saveable(value):
            save(value, _join(prefix, name))
        else:
            save_container(value, _join(prefix, name))
    return groups


def _class_base(obj) -> str:
    from tinymm.keras.engine import snake_case

    kind = type(obj).__name__
    return snake_case("Functional" if kind == "Model" else kind)


def optimizer_views(model) -> list:
    """Every variable view in ``model.trainable_variables`` order (own, then each tracked
    layer's), before the trainable filter."""
    from tinymm.keras.keras_file import layer_groups

    views = own_views(model)
    for layer in tracked_layers(model):
        views += [view for _, _, group in layer_groups(layer, "") for view in group]
    return views


def record_attribute(model, name: str, value) -> None:
    """Note ``name`` (assignment order) when ``value`` holds layers or models."""
    if name in INTERNAL or name.startswith("__") or not _flat_layers(value):
        return
    names = model.__dict__.setdefault("_keras_attributes", [])
    if name not in names:
        names.append(name)


# ---------------------------------------------------------------- the .keras config
def class_entry(model, compile_config: dict) -> dict:
    """The subclassed model's ``config.json``: its class, registered name, ``get_config()``
    and build shape, as Keras's ``serialize_keras_object`` writes them."""
    from tinymm.keras.saving import get_registered_name

    cls = type(model)
    shape = model.__dict__.get("_build_input_shape")
    return {"module": cls.__module__, "class_name": cls.__name__,
            "config": model.get_config(), "registered_name": get_registered_name(cls),
            "build_config": {"input_shape": shape}, "compile_config": compile_config}


def from_entry(entry: dict, custom_objects: dict | None):
    """A subclassed model from its ``config.json`` entry: the registered (or given) class's
    ``from_config``, built for the saved input shape; no module is imported."""
    from tinymm.keras.keras_file import resolve_class
    from tinymm.keras.models import Model
    from tinymm.keras.utils import custom_object_scope

    cls = resolve_class(entry, custom_objects, what="model")
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise ValueError(f"load_model: {entry.get('class_name')!r} names {cls!r}, which is "
                         "not a keras.Model subclass")
    config = dict(entry.get("config") or {})
    if isinstance(config.get("dtype"), dict):  # Keras's DTypePolicy entry
        config["dtype"] = (config["dtype"].get("config") or {}).get("name")
    with custom_object_scope(custom_objects or {}):
        model = cls.from_config(config)
    build = entry.get("build_config") or {}
    if "shapes_dict" in build:
        raise ValueError(f"load_model: model {entry.get('class_name')!r} was built from "
                         "several call() arguments (build_config shapes_dict); tinymm.keras "
                         "builds a subclassed model from one input or a list of inputs")
    if not model.built and build.get("input_shape") is not None:
        model.build(build["input_shape"])
    if not model.built:
        raise ValueError(f"load_model: model {entry.get('class_name')!r} has no build_config "
                         "input shape, so its weights cannot be created before loading")
    return model

"""``tinymm.save(obj, path)`` / ``tinymm.load(path)``: state_dicts and nested containers in
the safetensors format, never pickle.

What can be saved: Tensors (``nn.Parameter``s come back as Parameters), NumPy arrays and
scalars, Python ``int``/``float``/``bool``/``str``/``None``, and ``dict`` (also
``OrderedDict``, keys of those scalar types or tuples of them), ``list`` and ``tuple`` of
these, nested to any depth. That covers ``model.state_dict()``, ``optimizer.state_dict()``
and checkpoints such as ``{"epoch": 3, "model": ..., "optimizer": ..., "losses": [...]}``.

Layout: every array is one safetensors tensor named ``t0``, ``t1``, ... in the order met;
the container structure is JSON in the header's metadata under ``tinymm.save``, with each
array replaced by its name. Loading parses the JSON and reads the arrays (``tinymm/io.py``'s
checked reader): nothing in the file is executed. A tensor saved from the cuda device is
copied to the host (one counted copy each) and records ``"device": "cuda"``; ``load`` puts
it back there unless ``map_location`` says otherwise, as PyTorch does. Any other object (a
Module, an optimizer, a function, a class instance) is refused with a message that says what
to save instead.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import OrderedDict

import numpy as np

from tinymm.io import CheckpointError, load_safetensors, safetensors_metadata, save_safetensors

KEY = "tinymm.save"
VERSION = 1


def _refusal(obj, where: str) -> TypeError:
    kind = type(obj).__name__
    bases = {c.__name__ for c in type(obj).__mro__}
    if "Module" in bases:
        hint = ("save its weights instead: tinymm.save(model.state_dict(), path), and later "
                "model.load_state_dict(tinymm.load(path)) on a model built the same way")
    elif "Optimizer" in bases or "LRScheduler" in bases:
        hint = f"save its state instead: tinymm.save({kind.lower()}.state_dict(), path)"
    else:
        hint = ("save tensors, NumPy arrays, numbers, strings, None, and lists, tuples and "
                "dicts of them (e.g. a state_dict())")
    return TypeError(f"tinymm.save: cannot store a {kind} at {where} safely (tinymm never "
                     f"pickles); {hint}")


class _Encoder:
    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

    def _array(self, array: np.ndarray) -> str:
        name = f"t{len(self.arrays)}"
        self.arrays[name] = np.ascontiguousarray(array)
        return name

    def encode(self, obj, where: str = "obj"):
        from tinymm.nn.module import Parameter
        from tinymm.tensor import Tensor

        if obj is None or isinstance(obj, (bool, str)):
            return {"t": "value", "v": obj}
        if isinstance(obj, int):
            return {"t": "int", "v": str(obj)}  # exact for any size
        if isinstance(obj, float):
            return {"t": "float", "v": repr(obj)}  # repr round-trips, inf and nan included
        if isinstance(obj, Tensor):
            kind = "parameter" if isinstance(obj, Parameter) else "tensor"
            if obj.device == "cuda":  # one explicit, counted copy to the host
                return {"t": kind, "k": self._array(obj.detach().cpu().array),
                        "grad": obj.requires_grad, "device": "cuda"}
            return {"t": kind, "k": self._array(obj.array), "grad": obj.requires_grad}
        if isinstance(obj, np.ndarray) and obj.dtype.kind in "biuf":
            return {"t": "ndarray", "k": self._array(obj)}
        if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
            return {"t": "npscalar", "k": self._array(np.asarray(obj))}
        if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
            items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
            return {"t": type(obj).__name__, "v": items}
        if isinstance(obj, dict) and type(obj) in (dict, OrderedDict):
            items = [[self.encode(k, f"a key of {where}"), self.encode(v, f"{where}[{k!r}]")]
                     for k, v in obj.items()]
            return {"t": "odict" if isinstance(obj, OrderedDict) else "dict", "v": items}
        raise _refusal(obj, where)


def _placed(tensor, saved: str, map_location):
    """``tensor`` (read onto the host) moved where ``map_location`` sends a tensor saved on
    ``saved``: None keeps the saved device, a string or device names one for all, a dict maps
    saved device names to devices, a callable gets (tensor, saved) and returns the tensor."""
    if callable(map_location):
        return map_location(tensor, saved)
    if isinstance(map_location, dict):
        target = map_location.get(saved, saved)
    else:
        target = saved if map_location is None else map_location
    if str(target) == "cpu":
        return tensor
    from tinymm.devices import as_device

    try:
        device = as_device(target, "tinymm.load")
    except ValueError as exc:  # a cuda-saved file on a machine without the cuda device
        raise ValueError(f"{exc}. The file holds tensors saved on {saved!r}: on a CPU-only "
                         "machine load them with tinymm.load(path, map_location='cpu')") from exc
    moved = tensor.detach().to(device)  # one counted copy to the device
    tensor.array, tensor.device = moved.array, moved.device  # the same leaf (or Parameter)
    return tensor


def _decode(node, arrays: dict[str, np.ndarray], map_location=None):
    from tinymm.nn.module import Parameter
    from tinymm.tensor import from_numpy

    kind = node["t"]
    if kind == "value":
        return node["v"]
    if kind == "int":
        return int(node["v"])
    if kind == "float":
        return float(node["v"])
    if kind in ("tensor", "parameter"):
        array = arrays[node["k"]]
        if kind == "parameter":
            tensor = Parameter(array, requires_grad=node["grad"])
        else:
            tensor = from_numpy(array, requires_grad=node["grad"])
        return _placed(tensor, node.get("device", "cpu"), map_location)
    if kind == "ndarray":
        return arrays[node["k"]]
    if kind == "npscalar":
        return arrays[node["k"]][()]
    if kind in ("list", "tuple"):
        items = [_decode(v, arrays, map_location) for v in node["v"]]
        return items if kind == "list" else tuple(items)
    if kind in ("dict", "odict"):
        pairs = [(_decode(k, arrays), _decode(v, arrays, map_location)) for k, v in node["v"]]
        return OrderedDict(pairs) if kind == "odict" else dict(pairs)
    raise CheckpointError(f"tinymm.load: unknown entry type {kind!r} in the file's structure")


def _is_path(f) -> bool:
    return isinstance(f, (str, bytes)) or hasattr(f, "__fspath__")


def save(obj, f) -> None:
    """Write ``obj`` (see the module docstring for what it may contain) to the path ``f``, or
    to a binary file object (``io.BytesIO``, ``open(..., "wb")``): the same bytes."""
    if not _is_path(f):
        if not hasattr(f, "write"):
            raise TypeError(f"tinymm.save: expected a file path or a binary file object, got "
                            f"{type(f).__name__}")
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "object.safetensors")
            save(obj, path)
            with open(path, "rb") as written:
                f.write(written.read())
        return
    encoder = _Encoder()
    structure = encoder.encode(obj)
    meta = {KEY: json.dumps({"version": VERSION, "root": structure})}
    save_safetensors(f, encoder.arrays, metadata=meta)


def load(f, map_location=None, weights_only: bool = True):
    """Read what ``tinymm.save`` wrote (from a path or a binary file object).
    ``map_location`` as PyTorch's: None puts each tensor on the device it was saved from,
    "cpu" / "cuda" (or a ``tinymm.device``) puts all there, a dict maps saved device names
    to devices (``{"cuda": "cpu"}``), a callable gets
    ``(tensor on the host, saved device name)`` and returns the tensor to use.
    ``weights_only`` is accepted for PyTorch's signature: loading never runs code."""
    from tinymm.devices import as_device

    if not _is_path(f) and hasattr(f, "read"):  # a binary file object: its bytes from here on
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "object.safetensors")
            with open(path, "wb") as copy:
                copy.write(f.read())
            return load(path, map_location, weights_only)
    if isinstance(map_location, (str,)) or type(map_location).__name__ == "device":
        as_device(map_location, "tinymm.load")
    meta = safetensors_metadata(f)
    if KEY not in meta:
        raise CheckpointError(f"tinymm.load: {f} is a safetensors file but was not written by "
                              "tinymm.save; read its tensors with tinymm.io.load_safetensors")
    info = json.loads(meta[KEY])
    if info.get("version") != VERSION:
        raise CheckpointError(f"tinymm.load: {f} has format version {info.get('version')}, "
                              f"this tinymm reads version {VERSION}")
    return _decode(info["root"], load_safetensors(f), map_location)

"""Small Keras utilities: ``to_categorical``, ``pad_sequences``, ``set_random_seed``,
``normalize``, ``split_dataset``, ``timeseries_dataset_from_array``, ``PyDataset`` (alias
``Sequence``: batches by index, which ``fit``/``evaluate``/``predict`` take), the custom-object
registry (``register_keras_serializable``, ``get_custom_objects``, ``custom_object_scope``:
``load_model``/``model_from_config`` look classes up there), ``clear_session`` and
``Progbar`` (the training loop's progress bar), ``pack_x_y_sample_weight``/
``unpack_x_y_sample_weight`` (from steps.py), ``is_keras_tensor``, ``get_source_inputs``,
``serialize_keras_object``/``deserialize_keras_object``; the directory datasets and image helpers
(``image_dataset_from_directory``, ``load_img``...) are in datasets_from_directory.py.

Keras returns ``tf.data`` datasets from ``split_dataset`` and
``timeseries_dataset_from_array``; tinymm has no TensorFlow, so the first returns the two
parts as arrays (tuples of arrays for a tuple input) and the second a ``PyDataset`` of
batches, which ``fit`` takes the same way.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from tinymm.keras.engine import clear_session

_CUSTOM_OBJECTS: dict = {}


def to_categorical(y, num_classes: int | None = None, dtype="float32") -> np.ndarray:
    """Class indices (N,) -> one-hot rows (N, num_classes)."""
    y = np.asarray(y, dtype=np.int64).reshape(-1)
    num_classes = int(y.max()) + 1 if num_classes is None else num_classes
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must be in [0, {num_classes - 1}], got "
                         f"{y.min()}..{y.max()}")
    out = np.zeros((y.size, num_classes), dtype=dtype)
    out[np.arange(y.size), y] = 1
    return out


def pad_sequences(sequences, maxlen: int | None = None, dtype="int32", padding: str = "pre",
                  truncating: str = "pre", value=0.0) -> np.ndarray:
    """Lists of ids -> an (N, maxlen) array, as Keras: sequences longer than ``maxlen`` lose
    their first ("pre") or last ("post") items; shorter ones are filled with ``value``
    before ("pre", the default) or after ("post") their items."""
    for name, choice in (("padding", padding), ("truncating", truncating)):
        if choice not in ("pre", "post"):
            raise ValueError(f"pad_sequences: {name} must be 'pre' or 'post', got {choice!r}")
    sequences = [list(s) for s in sequences]
    if maxlen is None:
        maxlen = max((len(s) for s in sequences), default=0)
    out = np.full((len(sequences), maxlen), value, dtype=dtype)
    for i, seq in enumerate(sequences):
        if not seq or maxlen == 0:
            continue
        kept = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        if padding == "pre":
            out[i, maxlen - len(kept):] = kept
        else:
            out[i, :len(kept)] = kept
    return out


def set_random_seed(seed: int) -> None:
    """Seed the generator every weight initialisation, Dropout and ``fit`` shuffle draws
    from (``tinymm.nn.init.seed``)."""
    from tinymm.nn import init

    init.seed(int(seed))


def normalize(x, axis: int = -1, order: int = 2) -> np.ndarray:
    """``x`` divided by its ``order``-norm along ``axis`` (zero norms left as 1)."""
    x = np.asarray(x.array if hasattr(x, "array") else x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)


def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """A class or function decorator: it joins the custom objects as ``"package>name"`` (name
    defaults to its ``__name__``), so a saved model that uses it loads without
    ``custom_objects``. Registering a key again replaces the earlier object, as in Keras
    (a re-run script's new class); a class needs a ``get_config``."""
    def decorator(cls):
        if isinstance(cls, type) and not hasattr(cls, "get_config"):
            raise ValueError("register_keras_serializable: cannot register a class that does "
                             "not have a get_config() method")
        _CUSTOM_OBJECTS[f"{package}>{name or cls.__name__}"] = cls
        return cls
    return decorator


def get_custom_objects() -> dict:
    """The global custom-object dict (Keras's ``get_custom_objects``): add to it to make a
    class known to ``load_model``."""
    return _CUSTOM_OBJECTS


def custom_objects_by_name() -> dict:
    """The custom objects under their registered keys and their class names."""
    found = dict(_CUSTOM_OBJECTS)
    found.update({getattr(v, "__name__", k): v for k, v in _CUSTOM_OBJECTS.items()})
    return found


@contextlib.contextmanager
def custom_object_scope(*scopes):
    """Within the ``with`` block the given dicts join the custom objects."""
    saved = dict(_CUSTOM_OBJECTS)
    for scope in scopes:
        _CUSTOM_OBJECTS.update(scope or {})
    try:
        yield _CUSTOM_OBJECTS
    finally:
        _CUSTOM_OBJECTS.clear()
        _CUSTOM_OBJECTS.update(saved)


CustomObjectScope = custom_object_scope


class PyDataset:
    """Batches by index (Keras's ``PyDataset``, formerly ``Sequence``): a subclass defines
    ``__len__`` (the number of batches) and ``__getitem__(i)`` (batch i: ``x``, ``(x, y)`` or
    ``(x, y, sample_weight)``); ``fit`` calls ``on_epoch_end()`` after every epoch. The
    batches are taken in order, in this process (``workers`` and friends are accepted)."""

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10):
        self.workers, self.use_multiprocessing = workers, use_multiprocessing
        self.max_queue_size = max_queue_size

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} defines no __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} defines no __getitem__")

    def on_epoch_end(self) -> None:
        pass

    @property
    def num_batches(self) -> int:
        return len(self)


Sequence = PyDataset


def _split_size(size, total: int, which: str):
    if size is None:
        return None
    if isinstance(size, float):
        if not 0 < size < 1:
            raise ValueError(f"split_dataset: a float {which} must be in (0, 1), got {size}")
        return round(size * total)
    if isinstance(size, (int, np.integer)) and 0 < size < total:
        return int(size)
    raise ValueError(f"split_dataset: {which} must be a float in (0, 1) or an int in "
                     f"(0, {total}), got {size!r}")


def split_dataset(dataset, left_size=None, right_size=None, shuffle: bool = False, seed=None):
    """Split arrays (one, or a tuple/list of arrays of equal length) into two parts of
    ``left_size`` and ``right_size`` samples (ints, or fractions of the total, rounded);
    either may be left out. -> (left, right), each shaped like ``dataset``."""
    arrays = list(dataset) if isinstance(dataset, (tuple, list)) else [dataset]
    arrays = [np.asarray(a) for a in arrays]
    total = len(arrays[0])
    if any(len(a) != total for a in arrays):
        raise ValueError(f"split_dataset: the arrays differ in length {[len(a) for a in arrays]}")
    left, right = _split_size(left_size, total, "left_size"), _split_size(
        right_size, total, "right_size")
    if left is None and right is None:
        raise ValueError("split_dataset: give left_size, right_size or both")
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:
        raise ValueError(f"split_dataset: left_size + right_size ({left} + {right}) exceed the "
                         f"{total} samples")
    order = np.arange(total)
    if shuffle:
        np.random.default_rng(seed).shuffle(order)
    parts = [[a[order[:left]] for a in arrays], [a[order[left:left + right]] for a in arrays]]
    if isinstance(dataset, (tuple, list)):
        return tuple(tuple(p) for p in parts)
    return parts[0][0], parts[1][0]


class _Timeseries(PyDataset):
    def __init__(self, windows: np.ndarray, targets, batch_size: int):
        super().__init__()
        self.windows, self.targets, self.batch_size = windows, targets, batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.windows) / self.batch_size)

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        if self.targets is None:
            return self.windows[part]
        return self.windows[part], self.targets[part]


def timeseries_dataset_from_array(data, targets, sequence_length: int, sequence_stride: int = 1,
                                  sampling_rate: int = 1, batch_size: int | None = 128,
                                  shuffle: bool = False, seed=None, start_index=None,
                                  end_index=None) -> PyDataset:
    """Sliding windows over ``data`` (Keras's rule): window i holds
    ``data[start + p_i + j * sampling_rate]`` for j < sequence_length, with p_i = i *
    sequence_stride, and its target is ``targets[start + p_i]``; batches of ``batch_size``."""
    data = np.asarray(data)
    start = 0 if start_index is None else int(start_index)
    end = len(data) if end_index is None else int(end_index)
    num_seqs = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets) - start)
    if num_seqs <= 0:
        raise ValueError(f"timeseries_dataset_from_array: {end - start} steps are too few for "
                         f"one window of {sequence_length} steps at sampling_rate "
                         f"{sampling_rate}")
    positions = np.arange(0, num_seqs, sequence_stride)
    if shuffle:
        np.random.RandomState(seed).shuffle(positions)
    offsets = np.arange(sequence_length) * sampling_rate
    windows = data[start:end][positions[:, None] + offsets]  # (S, sequence_length, ...)
    chosen = None if targets is None else np.asarray(targets)[start:][positions]
    return _Timeseries(windows, chosen, batch_size or len(windows))


_exported = (clear_session,)


def is_keras_tensor(x) -> bool:
    """True for a symbolic tensor of a functional graph (``keras.Input`` and what layers make
    of it)."""
    from tinymm.keras.engine import KerasTensor

    return isinstance(x, KerasTensor)


def get_source_inputs(tensor) -> list:
    """The ``keras.Input`` tensors a symbolic tensor is computed from, in the order a
    depth-first walk of its graph meets them."""
    found, seen, stack = [], set(), [tensor]
    while stack:
        t = stack.pop()
        parents = [] if t.node is None else t.node.inputs
        if not parents and id(t) not in seen:
            found.append(t)
        seen.add(id(t))
        stack.extend(reversed([p for p in parents if id(p) not in seen]))
    return found


_SERIALIZABLE = ("layers", "losses", "metrics", "optimizers", "initializers")


def serialize_keras_object(obj):
    """Keras 3's dict for an object with ``get_config`` (``module``, ``class_name``,
    ``config``, ``registered_name``); a function by its name; plain values as they are."""
    if obj is None or isinstance(obj, (bool, int, float, str, list, tuple, dict)):
        return obj
    if not hasattr(obj, "get_config"):
        name = getattr(obj, "__name__", None)
        if name is None:
            raise TypeError(f"serialize_keras_object: cannot serialize {type(obj).__name__}")
        return name
    registered = next((key for key, cls in _CUSTOM_OBJECTS.items() if cls is type(obj)), None)
    module = type(obj).__module__.replace("tinymm.keras.", "keras.")
    return {"module": module, "class_name": type(obj).__name__, "config": obj.get_config(),
            "registered_name": registered}


def deserialize_keras_object(config, custom_objects: dict | None = None):
    """The object ``serialize_keras_object`` described: its class from ``custom_objects``,
    the registered custom objects or tinymm.keras's layers, losses, metrics, optimizers and
    initializers, built with ``from_config`` (else ``cls(**config)``)."""
    if not isinstance(config, dict) or "class_name" not in config:
        return config
    import tinymm.keras as keras

    name = config.get("registered_name") or config["class_name"]
    table = {**custom_objects_by_name(), **(custom_objects or {})}
    cls = table.get(name) or table.get(config["class_name"])
    for module in _SERIALIZABLE:
        cls = cls or getattr(getattr(keras, module), config["class_name"], None)
    if cls is None:
        raise ValueError(f"deserialize_keras_object: unknown class {config['class_name']!r}; "
                         "pass it in custom_objects={name: class}")
    inner = config.get("config", {})
    return cls.from_config(inner) if hasattr(cls, "from_config") else cls(**inner)


_FROM_DIRECTORY = ("array_to_img", "image_dataset_from_directory", "img_to_array", "load_img",
                   "save_img", "text_dataset_from_directory")


def __getattr__(name):
    if name == "Progbar":
        from tinymm.loop import Progress

        return Progress
    if name in ("pack_x_y_sample_weight", "unpack_x_y_sample_weight"):
        from tinymm.keras import steps

        return getattr(steps, name)
    if name in _FROM_DIRECTORY:
        from tinymm.keras import datasets_from_directory

        return getattr(datasets_from_directory, name)
    raise AttributeError(name)

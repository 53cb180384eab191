"""Keras's lookup and text preprocessing layers (re-exported by ``keras.layers``):
``StringLookup``, ``IntegerLookup`` and ``TextVectorization``. Strings have no Tensor here:
the layers read lists or NumPy arrays (``adapt`` on one, or call the layer on one), and in a
model they take a string Input (``keras.Input(shape=(1,), dtype="string")``, whose data
stays a NumPy array) and give ids as Tensors to the layers after them.

Index layout, Keras's: ``[mask_token]`` (when there is one), then ``num_oov_indices`` OOV
slots (0 or 1 here), then the vocabulary. A token not in the vocabulary maps to the OOV
index; the mask token maps to 0. ``adapt`` orders the vocabulary by count, most frequent
first, ties in descending token order (Keras's ``lexsort((tokens, counts))[::-1]``), and
keeps at most ``max_tokens`` entries including the special ones.

``TextVectorization``: "lower_and_strip_punctuation" lowercases and removes ASCII
punctuation (Keras's character set), "lower" only lowercases; "whitespace" splits on runs
of whitespace, "character" into characters. In "int" mode the mask token is "" (index 0,
also the padding) and the OOV token "[UNK]" (index 1); ``output_sequence_length`` pads with
0 or truncates, and without it a batch is padded to its longest text. "multi_hot" and
"count" have no mask token and give (N, vocabulary size).
"""

from __future__ import annotations

import collections
import re

import numpy as np

from tinymm.keras.engine import KerasTensor, Layer
from tinymm.keras.simple_layers import encode_ids
from tinymm.tensor import Tensor, from_numpy

_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,\-\./:;<=>?@\[\\\]^_`{|}~\']')
_MODES = ("int", "one_hot", "multi_hot", "count")


def _as_array(data) -> np.ndarray:
    if isinstance(data, Tensor):
        return np.asarray(data.array)
    return np.asarray(data.numpy() if hasattr(data, "numpy") else data)


class _IndexLookup(Layer):
    default_oov = None

    def __init__(self, max_tokens=None, num_oov_indices: int = 1, mask_token=None,
                 oov_token=None, vocabulary=None, invert: bool = False,
                 output_mode: str = "int", **kwargs):
        kind = type(self).__name__
        super().__init__(**kwargs)
        if num_oov_indices not in (0, 1):
            raise ValueError(f"{kind}: num_oov_indices must be 0 or 1 in tinymm.keras, got "
                             f"{num_oov_indices}")
        if output_mode not in _MODES or (invert and output_mode != "int"):
            raise ValueError(f"{kind}: output_mode must be one of {_MODES} ('int' with "
                             f"invert=True), got {output_mode!r}")
        self.max_tokens, self.num_oov_indices = max_tokens, int(num_oov_indices)
        self.mask_token = mask_token
        self.oov_token = self.default_oov if oov_token is None else oov_token
        self.invert, self.output_mode = bool(invert), output_mode
        self.vocabulary: list = []
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    def _specials(self) -> list:
        return ([] if self.mask_token is None else [self.mask_token]) + \
            [self.oov_token] * self.num_oov_indices

    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        return (self._specials() if include_special_tokens else []) + list(self.vocabulary)

    def vocabulary_size(self) -> int:
        return len(self._specials()) + len(self.vocabulary)

    def set_vocabulary(self, vocabulary) -> None:
        tokens = [t.item() if hasattr(t, "item") else t for t in _as_array(vocabulary).ravel()]
        specials = set(self._specials())
        tokens = [t for t in tokens if t not in specials]
        if len(set(tokens)) != len(tokens):
            raise ValueError(f"{type(self).__name__} '{self.name}': the vocabulary repeats "
                             "tokens")
        self.vocabulary = tokens
        self._index = {t: i for i, t in enumerate(self.get_vocabulary())}
        if self.mask_token is not None:
            self._index[self.mask_token] = 0

    def _count(self, tokens) -> None:
        counts = collections.Counter(t for t in tokens if t != self.mask_token)
        if not counts:
            raise ValueError(f"{type(self).__name__} '{self.name}': adapt found no tokens")
        values = np.array(list(counts))
        order = np.lexsort((values, np.array(list(counts.values()))))[::-1]
        keep = None if self.max_tokens is None else self.max_tokens - len(self._specials())
        self.set_vocabulary([values[i].item() for i in order][:keep])

    def adapt(self, data, batch_size=None, steps=None) -> None:
        """The vocabulary of ``data`` (Keras's order, see the module docstring)."""
        self._count([t.item() if hasattr(t, "item") else t for t in _as_array(data).ravel()])

    def _lookup(self, tokens: np.ndarray) -> np.ndarray:
        oov = len(self._specials()) - 1 if self.num_oov_indices else None
        flat = []
        for t in tokens.ravel():
            t = t.item() if hasattr(t, "item") else t
            index = self._index.get(t, oov)
            if index is None:
                raise ValueError(f"{type(self).__name__} '{self.name}': {t!r} is not in the "
                                 "vocabulary and num_oov_indices=0")
            flat.append(index)
        return np.array(flat, dtype=np.int64).reshape(tokens.shape)

    def _encode(self, ids: np.ndarray):
        if self.output_mode == "int":
            return from_numpy(ids)
        return from_numpy(encode_ids(ids, self.vocabulary_size(), self.output_mode,
                                     np.float32))

    def __call__(self, inputs, **kwargs):
        if isinstance(inputs, KerasTensor):  # a node of the graph (see the module docstring)
            return Layer.__call__(self, inputs)
        return self.call(inputs)

    def _convert_input(self, value):
        return value  # strings and ids stay NumPy arrays (a Tensor is read as one)

    def _out_dtype(self):
        return np.dtype(np.int64) if self.output_mode == "int" else np.dtype(np.float32)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int" or self.invert:
            return tuple(input_shape)
        return (input_shape[0], self.vocabulary_size())  # multi_hot, count, one_hot

    def call(self, inputs):
        if not hasattr(self, "_index"):
            raise ValueError(f"{type(self).__name__} '{self.name}': no vocabulary; pass "
                             "vocabulary=... or call adapt(data) first")
        data = _as_array(inputs)
        if self.invert:
            vocab = np.array(self.get_vocabulary(), dtype=object)
            ids = data.astype(np.int64)
            if ids.size and (ids.min() < 0 or ids.max() >= len(vocab)):
                raise ValueError(f"{type(self).__name__} '{self.name}': index {int(ids.max())} "
                                 f"is outside the vocabulary of {len(vocab)}")
            return vocab[ids].astype(type(vocab[-1]) if len(vocab) else object)
        return self._encode(self._lookup(data))

    def get_config(self) -> dict:
        return {**super().get_config(), "max_tokens": self.max_tokens,
                "num_oov_indices": self.num_oov_indices, "mask_token": self.mask_token,
                "oov_token": self.oov_token, "invert": self.invert,
                "output_mode": self.output_mode, "vocabulary": list(self.vocabulary) or None}


class StringLookup(_IndexLookup):
    default_oov = "[UNK]"

    def _lookup(self, tokens: np.ndarray) -> np.ndarray:
        return super()._lookup(tokens.astype(str))


class IntegerLookup(_IndexLookup):
    default_oov = -1

    def _lookup(self, tokens: np.ndarray) -> np.ndarray:
        return super()._lookup(tokens.astype(np.int64))


class TextVectorization(_IndexLookup):
    """Texts (N,) -> token ids (N, T) or (N, vocabulary size) (see the module docstring)."""

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation",
                 split="whitespace", ngrams=None, output_mode: str = "int",
                 output_sequence_length=None, vocabulary=None, **kwargs):
        if ngrams is not None or output_mode not in ("int", "multi_hot", "count"):
            raise ValueError(f"TextVectorization: ngrams and output_mode={output_mode!r} are "
                             "not supported by tinymm.keras ('int', 'multi_hot', 'count')")
        if standardize not in (None, "lower", "lower_and_strip_punctuation") and \
                not callable(standardize):
            raise ValueError(f"TextVectorization: unknown standardize={standardize!r}")
        if split not in (None, "whitespace", "character") and not callable(split):
            raise ValueError(f"TextVectorization: unknown split={split!r}")
        self.standardize, self.split = standardize, split
        self.output_sequence_length = output_sequence_length
        super().__init__(max_tokens=max_tokens, mask_token="" if output_mode == "int" else None,
                         oov_token="[UNK]", vocabulary=vocabulary, output_mode=output_mode,
                         **kwargs)

    def _tokens(self, text: str) -> list[str]:
        if callable(self.standardize):
            text = self.standardize(text)
        elif self.standardize is not None:
            text = text.lower()
            if self.standardize == "lower_and_strip_punctuation":
                text = _PUNCTUATION.sub("", text)
        if callable(self.split):
            return list(self.split(text))
        if self.split == "whitespace":
            return text.split()
        return list(text) if self.split == "character" else [text]

    def _texts(self, data) -> list[list[str]]:
        array = _as_array(data)
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim > 1:
            raise ValueError(f"TextVectorization '{self.name}': expects texts (N,) or (N, 1), "
                             f"got shape {array.shape}")
        return [self._tokens(str(t)) for t in np.atleast_1d(array)]

    def adapt(self, data, batch_size=None, steps=None) -> None:
        self._count([t for tokens in self._texts(data) for t in tokens])

    def compute_output_shape(self, input_shape):
        if self.output_mode != "int":
            return (input_shape[0], self.vocabulary_size())  # (N, vocabulary size)
        return (input_shape[0], self.output_sequence_length)  # (N, T); None: the longest

    def call(self, inputs):
        if not hasattr(self, "_index"):
            return super().call(inputs)
        texts = self._texts(inputs)
        if self.output_mode != "int":
            flat = [self._lookup(np.array(tokens, dtype=str)) for tokens in texts]
            size = self.vocabulary_size()
            return from_numpy(np.stack([encode_ids(ids[None], size, self.output_mode,
                                                   np.float32)[0] for ids in flat]))
        T = self.output_sequence_length or max((len(t) for t in texts), default=0)
        out = np.zeros((len(texts), T), dtype=np.int64)  # 0 = "" (padding)
        for i, tokens in enumerate(texts):
            ids = self._lookup(np.array(tokens[:T], dtype=str))
            out[i, :len(ids)] = ids
        return from_numpy(out)

    def get_config(self) -> dict:
        config = super().get_config()
        for key in ("num_oov_indices", "mask_token", "oov_token", "invert"):
            config.pop(key)
        standardize = self.standardize if not callable(self.standardize) else None
        split = self.split if not callable(self.split) else None
        return {**config, "standardize": standardize, "split": split,
                "output_sequence_length": self.output_sequence_length}


TEXT_LAYERS = {cls.__name__: cls for cls in (StringLookup, IntegerLookup, TextVectorization)}
__all__ = sorted(TEXT_LAYERS)
